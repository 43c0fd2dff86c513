"""The estimate against the realised metric, once enough of a window's outcomes have arrived.

The realised metric is measured on the rows whose outcome has arrived; the service compares it
with the estimate over all the window's rows (monitor.evaluation.estimated), which is fair when
outcomes go missing at random (an outcome's delay or loss does not depend on whether the
prediction was right), and exact in coverage once every outcome is in. DLE could not do otherwise:
the joined pairs do not keep the features its loss models read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from monitor.core.estimation.result import MetricEstimate


@dataclass(frozen=True)
class EstimateVsRealised:
    metric: str
    estimate: float
    realised: float
    error: float  # estimate - realised
    within_band: bool
    n_estimated: int
    n_realised: int


@dataclass(frozen=True)
class EstimationAccuracy:
    """Over many windows: how far estimates were from the realised metrics, how often the band held."""

    metric: str
    windows: int
    mean_absolute_error: float
    bias: float  # mean of estimate - realised
    coverage: float  # share of windows whose realised metric fell in the band


def compare(
    estimate: MetricEstimate, realised: float | None, n_realised: int, min_pairs: int = 100
) -> EstimateVsRealised | None:
    """None until the realised metric exists over at least `min_pairs` joined pairs."""
    if realised is None or n_realised < min_pairs or not np.isfinite(realised):
        return None
    return EstimateVsRealised(
        estimate.metric,
        estimate.value,
        float(realised),
        estimate.value - float(realised),
        estimate.contains(float(realised)),
        estimate.n,
        int(n_realised),
    )


def summarise(comparisons: Sequence[EstimateVsRealised]) -> EstimationAccuracy | None:
    """None without comparisons; all of them must be of one metric."""
    if not comparisons:
        return None
    metrics = {c.metric for c in comparisons}
    if len(metrics) != 1:
        raise ValueError(f"cannot summarise comparisons of several metrics: {sorted(metrics)}")
    errors = np.array([c.error for c in comparisons])
    return EstimationAccuracy(
        comparisons[0].metric,
        len(comparisons),
        float(np.abs(errors).mean()),
        float(errors.mean()),
        float(np.mean([c.within_band for c in comparisons])),
    )
