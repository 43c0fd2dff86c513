"""Model performance per window, as mergeable accumulators over joined (prediction, outcome) pairs.

Every accumulator is updated from numpy arrays (no Python loop per event), merges with another
accumulator of the same configuration (`merge(a, b)`), and round-trips through a plain JSON-able dict
(`to_state()` / `from_state()`).

Exact merges. Counts are integers, and every floating-point sum (log-loss, absolute and squared errors,
sum of y and y**2, label delays) is kept *exactly* as an integer number of 2**-1127 units: every finite
double is such a multiple, so the sums carry no rounding at all. Merging is therefore associative and
order-independent bit for bit, and splitting a window into batches never changes a metric. A welcome side
effect: R2 and the spread of errors are computed from exact sums, so `sum(y**2) - sum(y)**2 / n` does not
cancel catastrophically when the mean is large next to the spread. In `to_state()` these integers are
decimal strings, because they exceed 64 bits and some JSON stores (orjson, JSONB clients) reject that.

ROC AUC from histograms. Scores are binned on `n_bins` equal-width bins on [0, 1]; pairs within the same
bin count one half, like a tie. Only those within-bin pairs can differ from the exact AUC (where they count
0, 1/2 or 1), so `|auc - roc_auc_score| <= 0.5 * sum_i pos_i * neg_i / (P * N)`. The metrics report that
bound as `roc_auc_error_bound`; with 1000 bins and continuous scores it is about 5e-4 (tests check it).

Log-loss clips probabilities to [1e-15, 1 - 1e-15] (scikit-learn before 1.5; newer versions clip at the
float64 machine epsilon, so the two differ only for scores within 1e-15 of 0 or 1).
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from monitor.core.performance.classification import OTHER_LABEL, PROBABILITY_CLIP, ClassificationPerformance
from monitor.core.performance.label_delay import DEFAULT_DELAY_BOUNDS_SECONDS, LabelDelayHistogram
from monitor.core.performance.regression import RegressionPerformance
from monitor.errors import DataError

__all__ = [
    "DEFAULT_DELAY_BOUNDS_SECONDS",
    "OTHER_LABEL",
    "PROBABILITY_CLIP",
    "ClassificationPerformance",
    "LabelDelayHistogram",
    "RegressionPerformance",
    "compute_performance",
    "merge",
    "performance_metrics",
]


_Mergeable = TypeVar("_Mergeable", ClassificationPerformance, RegressionPerformance, LabelDelayHistogram)


def merge(a: _Mergeable, b: _Mergeable) -> _Mergeable:
    """A new accumulator equal to one that saw the inputs of both `a` and `b`; neither is modified."""
    return a.merged(b)


def performance_metrics(acc: ClassificationPerformance | RegressionPerformance) -> dict[str, float | None]:
    """Metrics of a window; undefined ones (no predicted positives, one class for AUC...) are None."""
    return acc.metrics()


def compute_performance(
    task: Literal["classification", "regression"],
    y_true: Any,
    y_pred: Any,
    score: Any = None,
    positive_label: str = "1",
) -> dict[str, float | None]:
    """One-shot metrics, e.g. the reference performance of a baseline on its training data."""
    acc: ClassificationPerformance | RegressionPerformance
    if task == "classification":
        acc = ClassificationPerformance(positive_label).update(y_true, y_pred, score)
    elif task == "regression":
        acc = RegressionPerformance().update(y_true, y_pred)
    else:
        raise DataError(f"unknown task {task!r}: expected 'classification' or 'regression'")
    return acc.metrics()
