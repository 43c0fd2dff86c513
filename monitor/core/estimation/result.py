"""What an estimator returns for one metric of one window."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist


@dataclass(frozen=True)
class MetricEstimate:
    """An estimated metric with its band: where the realised metric of the same rows is expected to
    fall (sampling spread of the realised metric under the estimator's assumptions, times `z`)."""

    metric: str
    value: float
    lower: float
    upper: float
    std: float
    n: int

    def contains(self, realised: float) -> bool:
        return self.lower <= realised <= self.upper


def z_for(confidence: float) -> float:
    """The two-sided normal quantile of a band with this coverage (0.95 -> 1.96)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def banded(
    metric: str, value: float, variance: float, n: int, z: float, lo: float, hi: float
) -> MetricEstimate:
    std, value = float(max(variance, 0.0) ** 0.5), float(value)
    return MetricEstimate(metric, value, max(lo, value - z * std), min(hi, value + z * std), std, n)


def fit_inflation(n: float, n_reference: int) -> float:
    """How much wider a band gets for the estimator's own fitting error. The calibration (or loss
    model) was estimated from `n_reference` rows, so its error in a window's metric is roughly the
    sampling error of that metric over n_reference rows: variances add, std grows by this factor."""
    return float((1.0 + n / max(n_reference, 1)) ** 0.5)


LOWER_IS_BETTER = frozenset({"mae", "rmse"})


def shown_drop(estimate: MetricEstimate, reference: float | None) -> float | None:
    """How much worse than `reference` the estimate is (positive = worse, in the metric's units),
    counted only when its whole band is on the worse side of the reference (0.0 otherwise, as for
    the realised metrics: monitor.core.performance.degradation); None without a reference."""
    if reference is None:
        return None
    if estimate.metric in LOWER_IS_BETTER:
        return estimate.value - reference if estimate.lower > reference else 0.0
    return reference - estimate.value if estimate.upper < reference else 0.0
