"""Two-sample chi-square test of homogeneity on the 2 x k contingency table.

Evidently's `chi_stat_test` is a one-sample goodness-of-fit test that treats the reference
counts (rescaled) as the exact expected frequencies. That ignores the reference's own
sampling noise, so two samples of the same distribution are flagged far more often than
the nominal level at small sizes. The contingency form used here accounts for both
samples. For two categories it equals the pooled two-proportion z-test (chi2 = z^2), which
is what Evidently runs on binary columns, so the p-values agree there.

Binned path: counts are exact on categories and on numeric columns with few distinct values
(the summary path runs chi-square only there), so the p-value equals the exact one (measured 0
difference in `tests/benchmarks/bench_summary_accuracy.py`). Unseen categories are tracked key by
key up to 100 per window; past that they share one bucket, and a test on the merged bucket has
fewer degrees of freedom than one on each unseen value.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import chi2

from monitor.core.stats.binning import not_missing, value_counts_aligned
from monitor.core.stats.result import TestResult


def chi_square(reference_counts: ArrayLike, current_counts: ArrayLike) -> TestResult:
    table = np.vstack(
        [np.asarray(reference_counts, dtype=np.float64), np.asarray(current_counts, dtype=np.float64)]
    )
    table = table[:, table.sum(axis=0) > 0]
    row_totals = table.sum(axis=1, keepdims=True)
    if table.shape[1] < 2 or np.any(row_totals == 0):
        return TestResult(0.0, 1.0)
    expected = row_totals * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    dof = table.shape[1] - 1
    return TestResult(statistic, float(chi2.sf(statistic, dof)))


def chi_square_samples(reference: ArrayLike, current: ArrayLike) -> TestResult:
    ref_counts, cur_counts = value_counts_aligned(not_missing(reference), not_missing(current))
    return chi_square(ref_counts, cur_counts)
