"""Realised performance per segment: which segments' joined pairs got worse than the same segment's
reference rows by more than the configured allowance.

Classifiers: a window's errors in a segment are binomial with the segment's error rate. The null
hypothesis is that this rate is at most the reference's error rate plus `max_accuracy_drop` (the
drop the global performance check already tolerates), so only drops beyond the allowed one alarm:
a one-sided exact binomial test, P(X >= errors) for X ~ Binomial(n_pairs, reference error rate +
drop). Exact for any count, also for a reference error rate of zero.

Regressors: the null is that the segment's mean absolute error is at most the reference MAE times
(1 + `max_mae_increase`); a one-sided z-test of the window's MAE against that bound with the
standard error from the spread of the window's absolute errors (normal by the central limit
theorem, so only with `min_rows` pairs). A window whose absolute errors are all equal has no spread:
it is degraded exactly when its MAE lies above the bound.

Both tests treat the reference's rate or MAE as known; the reference segment needs `min_rows` rows
too, and with small reference segments its own sampling error makes the tests alarm somewhat more
often than `alpha`. Segments with fewer than `min_rows` pairs on either side are untested. All the
window's segments form one family under the same control as drift per segment
(`stats.multiple_testing`: Benjamini-Hochberg or Holm at `alpha`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.stats import binom, norm

from monitor.core.performance.classification import ClassificationPerformance
from monitor.core.performance.regression import RegressionPerformance
from monitor.core.stats.multiple_testing import Method, control
from monitor.errors import DataError

Performance = ClassificationPerformance | RegressionPerformance
Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class SegmentReference:
    """A segment's reference performance: its rows and its accuracy (classifiers) or MAE (regressors)."""

    n: int
    value: float

    def to_state(self) -> dict[str, Any]:
        return {"n": self.n, "value": self.value}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> SegmentReference:
        return cls(int(state["n"]), float(state["value"]))


@dataclass(frozen=True)
class SegmentPerformanceTest:
    segment: str
    n_pairs: int  # joined pairs of the window in the segment
    metric: str  # "accuracy" (classifiers) or "mae" (regressors)
    value: float | None  # the window's accuracy or MAE; None without pairs
    reference: float | None  # the segment reference's; None without reference rows
    p_value: float | None  # None: too few pairs or reference rows to test
    adjusted_p_value: float | None
    degraded: bool


@dataclass(frozen=True)
class SegmentPerformanceResult:
    tests: tuple[SegmentPerformanceTest, ...]
    method: Method
    alpha: float
    n_tests: int

    @property
    def degraded(self) -> tuple[SegmentPerformanceTest, ...]:
        return tuple(t for t in self.tests if t.degraded)


def errors(performance: ClassificationPerformance) -> int:
    """Pairs whose predicted label is not the true one."""
    confusion = performance.confusion
    return int(confusion.sum() - np.trace(confusion))


def accuracy_p_value(
    n_errors: int, n_pairs: int, reference_error_rate: float, max_accuracy_drop: float
) -> float:
    """P(X >= n_errors), X ~ Binomial(n_pairs, reference error rate + allowed drop)."""
    if not 0 <= n_errors <= n_pairs:
        raise DataError(f"need 0 <= errors <= pairs, got {n_errors} of {n_pairs}")
    null_rate = reference_error_rate + max_accuracy_drop
    if null_rate >= 1.0:
        return 1.0
    return float(min(max(binom.sf(n_errors - 1, n_pairs, null_rate), 0.0), 1.0))


def mae_p_value(
    mae: float, abs_error_std: float, n_pairs: int, reference_mae: float, max_mae_increase: float
) -> float:
    """One-sided z-test of the window's MAE against reference MAE x (1 + allowed increase)."""
    if n_pairs < 2:
        raise DataError(f"need at least 2 pairs, got {n_pairs}")
    bound = reference_mae * (1.0 + max_mae_increase)
    # abs_error_std is the population spread; the sample spread estimates the standard error.
    standard_error = abs_error_std * math.sqrt(n_pairs / (n_pairs - 1)) / math.sqrt(n_pairs)
    if standard_error == 0.0 or not math.isfinite(standard_error):
        return 0.0 if mae > bound else 1.0
    return float(norm.sf((mae - bound) / standard_error))


def _accuracy(performance: ClassificationPerformance) -> float | None:
    return 1.0 - errors(performance) / performance.n if performance.n else None


def summary(performance: Performance) -> SegmentReference | None:
    """The reference summary of `performance`'s pairs (None without any)."""
    if performance.n == 0:
        return None
    if isinstance(performance, ClassificationPerformance):
        return SegmentReference(performance.n, 1.0 - errors(performance) / performance.n)
    return SegmentReference(performance.n, float(performance.metrics()["mae"] or 0.0))


def per_segment(
    codes: NDArray[np.int64], labels: Sequence[str], make: Callable[[], Performance], y_true: Any, y_pred: Any
) -> dict[str, Performance]:
    """Per segment label (`codes` index `labels`, one per row), the performance of its rows."""
    true, pred, codes = np.asarray(y_true), np.asarray(y_pred), np.asarray(codes)
    out = {}
    for g, label in enumerate(labels):
        rows = codes == g
        out[label] = make().update(true[rows], pred[rows])
    return out


def _test(
    task: Task,
    window: Performance | None,
    reference: SegmentReference | None,
    *,
    max_accuracy_drop: float,
    max_mae_increase: float,
    min_rows: int,
) -> tuple[int, str, float | None, float | None, float | None]:
    """(pairs, metric, window value, reference value, p-value or None when untested)."""
    n = window.n if window is not None else 0
    ref = None if reference is None else reference.value
    tested = n >= max(min_rows, 2) and reference is not None and reference.n >= max(min_rows, 2)
    if task == "classification":
        if not isinstance(window, ClassificationPerformance):
            return n, "accuracy", None, ref, None
        p = None
        if tested and ref is not None:
            p = accuracy_p_value(errors(window), n, 1.0 - ref, max_accuracy_drop)
        return n, "accuracy", _accuracy(window), ref, p
    metrics = window.metrics() if isinstance(window, RegressionPerformance) and n else {}
    mae, spread = metrics.get("mae"), metrics.get("abs_error_std")
    p = None
    if tested and mae is not None and ref is not None and spread is not None:
        p = mae_p_value(mae, spread, n, ref, max_mae_increase)
    return n, "mae", mae, ref, p


def segment_performance(
    task: Task,
    reference: Mapping[str, SegmentReference],
    window: Mapping[str, Performance],
    *,
    max_accuracy_drop: float = 0.05,
    max_mae_increase: float = 0.2,
    alpha: float = 0.05,
    method: Method = "benjamini_hochberg",
    min_rows: int = 30,
) -> SegmentPerformanceResult:
    """Per segment of the reference (in its order), whether the window's performance degraded,
    under one control over all the window's segments. Window segments the reference lacks are
    reported untested, and so are reference segments without window pairs."""
    kind = {"classification": ClassificationPerformance, "regression": RegressionPerformance}[task]
    if any(not isinstance(p, kind) for p in window.values()):
        raise DataError(f"segment performance of a {task} model needs {kind.__name__} per segment")
    labels = list(reference) + [s for s in window if s not in reference]
    raw = [
        (
            label,
            *_test(
                task,
                window.get(label),
                reference.get(label),
                max_accuracy_drop=max_accuracy_drop,
                max_mae_increase=max_mae_increase,
                min_rows=min_rows,
            ),
        )
        for label in labels
    ]
    family = control([r[5] for r in raw], alpha, method)
    tests = tuple(
        SegmentPerformanceTest(
            label, n, metric, value, ref, p, None if np.isnan(adjusted) else float(adjusted), bool(hit)
        )
        for (label, n, metric, value, ref, p), adjusted, hit in zip(
            raw, family.adjusted, family.rejected, strict=True
        )
    )
    return SegmentPerformanceResult(tests, method, alpha, family.n_tests)
