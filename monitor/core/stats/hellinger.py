"""Hellinger distance, sqrt(1 - sum_i sqrt(p_i q_i)), in [0, 1].

Categories: by value, on both paths (exact).

Numbers: Evidently's rule, a histogram on Sturges bins spanning the *distinct* values of both
samples (so about log2(distinct values) + 1 bins, 13 for 2,500 distinct values, 21 for a
million). `hellinger_values` applies it to exact value counts: the exact path (raw samples)
and a discrete column's summaries (every value counted) give the same number. A continuous
column's summaries are rebinned from the baseline's quantile bins onto the Sturges bins of
the pair's range (`monitor.evaluation.drift`, as for PSI and Jensen-Shannon). The number of
distinct values is bounded from the sketches (`binning.distinct_upper_bound`: one per bin
whose values all sit on its left edge, otherwise each value counts): right for continuous
data; for repeated values (integers, rounded numbers) an overcount, so the summary path may
use a bin or two more than Evidently. Measured by `tests/benchmarks/bench_summary_accuracy.py`
(the shapes and sizes `psi` lists): max |summary - exact| 0.036 (near-constant, 1k rows),
0.027 on integers at any size (the overcount), 0.011 or less on the other shapes from 10k
rows; the differential test's decision band is 0.04.

Why not the baseline's ~110 quantile bins directly: with k bins, sampling noise alone gives
E[H^2] ~ (k - 1) / 8 · (1/n_reference + 1/n_current) on two samples of one distribution,
so H ~ 0.19 for a 2,000-row reference and a 500-row window, far above the 0.1 threshold.
Measured by `tests/benchmarks/bench_hellinger.py` (stationary data in four shapes: normal,
lognormal, Student t(2), a normal mixture; references of 2,000 and 20,000 rows, windows of
500, 2,000 and 5,000 rows; 200 windows per cell): on the quantile bins (the summary path
before) 99-100 % of windows were flagged with a 2,000-row reference at 500 and 2,000 rows
and 53-62 % at 5,000; with a 20,000-row reference 100 % at 500 rows and 5-11 % at 2,000. On
Sturges bins at most 1.5 % in any cell (the mixture, 2,000 / 500 rows), as on the exact path.
Power, window shifted by half a standard deviation: normal and mixture flagged in 100 % of
windows. Few bins cost resolution where outliers set the range: a lognormal scaled by e^0.5
is flagged in 71-90 % of windows, and Student t(2) shifted by half a scale unit in only
8.5-26 % (exact path 9-29 %); prefer Wasserstein or KS for heavy-tailed columns.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from monitor.core.stats.binning import as_float, not_missing, shares, value_counts_aligned


def _from_affinity(affinity: float) -> float:
    return float(np.sqrt(1.0 - np.clip(affinity, 0.0, 1.0)))


def hellinger(reference_counts: ArrayLike, current_counts: ArrayLike) -> float:
    """Hellinger distance of two histograms over the same bins."""
    p = shares(reference_counts)
    q = shares(current_counts)
    return _from_affinity(float(np.sum(np.sqrt(p * q))))


def hellinger_values(values: ArrayLike, reference_counts: ArrayLike, current_counts: ArrayLike) -> float:
    """Evidently's numeric Hellinger from exact counts of each distinct value: both histograms on
    the Sturges bins over the distinct values."""
    keys = np.asarray(values, dtype=np.float64)
    seen = (np.asarray(reference_counts) > 0) | (np.asarray(current_counts) > 0)
    edges = np.histogram_bin_edges(keys[seen], bins="sturges")
    ref = np.histogram(keys, bins=edges, weights=reference_counts)[0]
    cur = np.histogram(keys, bins=edges, weights=current_counts)[0]
    return hellinger(ref, cur)


def hellinger_samples(reference: ArrayLike, current: ArrayLike, numeric: bool) -> float:
    if not numeric:
        ref_counts, cur_counts = value_counts_aligned(not_missing(reference), not_missing(current))
        return hellinger(ref_counts, cur_counts)
    ref_values = as_float(reference)
    n_ref = len(ref_values)
    keys, inverse = np.unique(np.concatenate([ref_values, as_float(current)]), return_inverse=True)
    return hellinger_values(
        keys,
        np.bincount(inverse[:n_ref], minlength=len(keys)),
        np.bincount(inverse[n_ref:], minlength=len(keys)),
    )
