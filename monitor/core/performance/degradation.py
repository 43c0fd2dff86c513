"""Whether a window's performance is worse than the reference, allowing for its sample size.

A window judged on a few hundred joined pairs has a noisy metric: accuracy measured on 100 pairs
of a 0.76-accurate model has a standard error of 0.043, so "accuracy below the reference minus
0.05" is true by chance in about one window in eight — and a window is evaluated again each
time more of its outcomes arrive, so a stationary stream collects false alarms. A drop therefore
counts only when the data show it: for accuracy, when the one-sided upper confidence bound of the
window's accuracy (Wilson score) is below the reference; for MAE, when its lower bound (normal
approximation, with the spread of the absolute errors) is above it. Simulated at 100 pairs (20,000
stationary windows): raw comparison flags 14 % at accuracy 0.76 and 7 % at 0.9; with the 99 %
bound 1.6 % and 2.1 % (the bound is a little optimistic for so few pairs); from 300 pairs both
are under 1 %. A drop over a few thousand pairs is seen to within a hundredth. Other metrics (precision, F1,
ROC AUC...) have no bound here and are compared as observed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist

HIGHER_IS_BETTER = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc", "r2"})
CONFIDENCE = 0.99
_Z = NormalDist().inv_cdf(CONFIDENCE)


def wilson_upper(successes_ratio: float, n: int, z: float = _Z) -> float:
    """One-sided upper confidence bound of a proportion observed over `n` trials (Wilson score)."""
    centre = successes_ratio + z * z / (2 * n)
    spread = z * math.sqrt(successes_ratio * (1 - successes_ratio) / n + z * z / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z * z / n))


def shown_drop(
    metric: str,
    metrics: Mapping[str, float | None],
    reference: Mapping[str, float | None],
    n: int,
    z: float = _Z,
) -> float | None:
    """How much worse than the reference `metric` is over a window's `n` joined pairs (positive =
    worse, in the metric's units), or 0.0 when the sample does not show it worse at the
    confidence of `z`; None when the window or the reference lacks the metric."""
    value, ref = metrics.get(metric), reference.get(metric)
    if value is None or ref is None or n == 0:
        return None
    drop = ref - value if metric in HIGHER_IS_BETTER else value - ref
    if drop <= 0:
        return 0.0
    if metric == "accuracy":
        return drop if wilson_upper(value, n, z) < ref else 0.0
    spread = metrics.get("abs_error_std")
    if metric == "mae" and spread is not None:
        return drop if value - z * spread / math.sqrt(n) > ref else 0.0
    return drop
