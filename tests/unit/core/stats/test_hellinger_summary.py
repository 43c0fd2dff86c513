"""Numeric Hellinger on summaries: Evidently's Sturges rule, not the baseline's ~110 quantile bins,
whose sampling noise flagged every stationary window of a small reference (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.config import DriftThresholds
from monitor.core import stats
from monitor.evaluation.drift import compare_column
from tests.unit.core.stats.families import columns

THRESHOLDS = DriftThresholds()


def test_stationary_windows_of_a_small_reference_are_not_flagged() -> None:
    """2,000 reference rows, 500-row windows: the quantile-bin value sits near 0.2 (all flagged)."""
    rng = np.random.default_rng(13)
    flagged = 0
    for _ in range(40):
        column = columns(rng.normal(0, 1, 2000), rng.normal(0, 1, 500))[0]
        quantile_bins = stats.hellinger(column.reference.counts, column.current.counts)  # type: ignore[union-attr]
        assert quantile_bins >= THRESHOLDS.hellinger  # the old rule's false alarm, still there
        flagged += compare_column(column, "hellinger", None, THRESHOLDS).drift_detected
    assert flagged <= 2


def test_a_half_sd_shift_is_flagged() -> None:
    rng = np.random.default_rng(14)
    for _ in range(20):
        column = columns(rng.normal(0, 1, 2000), rng.normal(0.5, 1, 500))[0]
        assert compare_column(column, "hellinger", None, THRESHOLDS).drift_detected


@pytest.mark.parametrize("n_values", [2, 4, 7, 15])
def test_discrete_summary_equals_the_exact_value(n_values: int) -> None:
    """Value counts are exact, so the Sturges histogram over the distinct values is too (with 4
    values Sturges gives 3 bins, so two values share one: a per-value distance would differ)."""
    rng = np.random.default_rng(n_values)
    keys = np.arange(n_values, dtype=np.float64)
    ref = rng.choice(keys, 3000, p=np.full(n_values, 1 / n_values))
    cur = rng.choice(keys, 800, p=np.linspace(1, 2, n_values) / np.linspace(1, 2, n_values).sum())
    summary = compare_column(columns(ref, cur)[0], "hellinger", None, THRESHOLDS)
    assert summary.value == pytest.approx(stats.hellinger_samples(ref, cur, numeric=True), abs=1e-12)
