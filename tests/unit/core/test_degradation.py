"""A window's performance drop counts only when its sample shows it (monitor.core.performance.degradation)."""

import numpy as np
import pytest

from monitor.core.performance.degradation import shown_drop, wilson_upper

REFERENCE = {"accuracy": 0.76, "mae": 10.0, "f1": 0.7}


def test_wilson_upper_bound_is_above_the_observed_ratio_and_tightens_with_n() -> None:
    bounds = [wilson_upper(0.7, n) for n in (50, 500, 5000, 50_000)]
    assert all(b > 0.7 for b in bounds) and bounds == sorted(bounds, reverse=True)
    assert bounds[-1] - 0.7 < 0.005
    assert wilson_upper(1.0, 10) == 1.0 and 0 < wilson_upper(0.0, 10) < 0.5


def test_stationary_small_windows_rarely_count_as_degraded() -> None:
    # 20,000 windows of 100 pairs from a model exactly as accurate as its reference.
    rng = np.random.default_rng(0)
    accuracies = rng.binomial(100, 0.76, 20_000) / 100
    raw = np.mean(REFERENCE["accuracy"] - accuracies > 0.05)
    shown = np.mean(
        [(shown_drop("accuracy", {"accuracy": a}, REFERENCE, 100) or 0) > 0.05 for a in accuracies]
    )
    assert raw > 0.08  # comparing the raw value flags about one stationary window in eight
    assert shown < 0.02  # about the 1 % a 99 % bound allows (1.6 %: Wilson is a bit optimistic at n=100)


def test_a_real_drop_over_many_pairs_is_seen_nearly_in_full() -> None:
    assert shown_drop("accuracy", {"accuracy": 0.70}, REFERENCE, 2000) == pytest.approx(0.06)
    assert shown_drop("accuracy", {"accuracy": 0.70}, REFERENCE, 50) == 0.0  # too few pairs to tell
    assert shown_drop("accuracy", {"accuracy": 0.80}, REFERENCE, 2000) == 0.0  # better is no drop


def test_mae_uses_the_spread_of_absolute_errors() -> None:
    noisy = {"mae": 11.0, "abs_error_std": 8.0}
    assert shown_drop("mae", noisy, REFERENCE, 100) == 0.0  # 11 +- 1.9 (99 %) does not exclude 10
    assert shown_drop("mae", noisy, REFERENCE, 10_000) == pytest.approx(1.0)


def test_metrics_without_a_bound_are_compared_as_observed_and_missing_ones_give_none() -> None:
    assert shown_drop("f1", {"f1": 0.6}, REFERENCE, 100) == pytest.approx(0.1)
    assert shown_drop("roc_auc", {"roc_auc": 0.6}, REFERENCE, 100) is None
    assert shown_drop("accuracy", {"accuracy": None}, REFERENCE, 100) is None
