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

import math
from collections.abc import Sequence
from typing import Any, Literal, Self, TypeVar

import numpy as np
import pandas as pd

from monitor.errors import DataError
from monitor.labels import canonical_label

OTHER_LABEL = "__other__"
PROBABILITY_CLIP = 1e-15
# Label delay buckets (seconds): 1 m, 5 m, 15 m, 1 h, 6 h, 1 d, 3 d, 7 d; +Inf is implicit.
DEFAULT_DELAY_BOUNDS_SECONDS = (60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0, 259200.0, 604800.0)

_UNIT_BITS = 1127  # frexp mantissa (53 bits) times 2**exponent (>= -1073): 2**-1127 divides every double
_HALF_BITS = 26


def _exact_sum(values: np.ndarray) -> int:
    """Exact sum of finite float64 values as an integer number of 2**-1127 units."""
    if values.size == 0:
        return 0
    if not np.all(np.isfinite(values)):
        raise DataError("cannot sum non-finite values exactly")
    mantissa, exponent = np.frexp(values)
    ints = (mantissa * 2.0**53).astype(np.int64)  # exact: |ints| < 2**53
    e_min = int(exponent.min())
    offset = exponent - e_min
    # Sum the high and low halves per exponent in int64: exact below 2**36 values per call.
    high = np.zeros(int(offset.max()) + 1, np.int64)
    low = np.zeros_like(high)
    np.add.at(high, offset, ints >> _HALF_BITS)
    np.add.at(low, offset, ints & ((1 << _HALF_BITS) - 1))
    total = 0
    for j in np.flatnonzero(high | low).tolist():
        total += ((int(high[j]) << _HALF_BITS) + int(low[j])) << (j + e_min + 1074)
    return total


def _exact_sum_of_squares(values: np.ndarray) -> int:
    """Exact sum of x**2 (Veltkamp split: x = hi + lo, each product below is exact in float64)."""
    scaled = 134217729.0 * values  # 2**27 + 1
    high = scaled - (scaled - values)
    low = values - high
    parts = np.concatenate([high * high, 2.0 * high * low, low * low])
    if not np.all(np.isfinite(parts)):
        raise DataError("values too large to square exactly (|x| must stay below 1e150)")
    return _exact_sum(parts)


def _units_to_float(units: int) -> float:
    try:
        return units / (1 << _UNIT_BITS)  # int / int is correctly rounded in CPython
    except OverflowError:
        return math.copysign(math.inf, units)


def _float_array(values: Any, field: str, *, allow_nan: bool = False) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise DataError(f"field {field!r}: expected a 1-D array, got shape {array.shape}")
    bad = np.isinf(array) if allow_nan else ~np.isfinite(array)
    if bad.any():
        raise DataError(f"field {field!r}: {int(bad.sum())} non-finite value(s)")
    return array


def _label_array(values: Any, field: str) -> np.ndarray:
    array = np.asarray(values, dtype=object)
    if array.ndim != 1:
        raise DataError(f"field {field!r}: expected a 1-D array of labels, got shape {array.shape}")
    return array


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


def _check_state_kind(state: dict[str, Any], kind: str) -> None:
    if state.get("kind") != kind:
        raise DataError(f"state has kind {state.get('kind')!r}, expected {kind!r}")


class ClassificationPerformance:
    """Confusion counts, log-loss and per-class score histograms for one window.

    Labels are strings; the positive label is always tracked, at most `max_labels` labels in all, and
    labels first seen after that go to `OTHER_LABEL`. Which labels keep their own row once the cap is hit
    depends on arrival order, so merges are order-independent only while the cap is not reached.
    Metrics are binary (for `positive_label`) while at most two labels occur, macro averages otherwise.
    """

    KIND = "classification_performance"

    def __init__(self, positive_label: str = "1", *, max_labels: int = 100, n_bins: int = 1000) -> None:
        if max_labels < 2 or n_bins < 1:
            raise DataError(f"need max_labels >= 2 and n_bins >= 1, got {max_labels} and {n_bins}")
        self.positive_label = positive_label
        self.max_labels = max_labels
        self.n_bins = n_bins
        self._labels: list[str] = [positive_label]  # index 0 is always the positive label
        self._index: dict[str, int] = {positive_label: 0}
        self._confusion = np.zeros((1, 1), np.int64)  # rows: true label, columns: predicted label
        self._log_loss_units = 0
        self._n_scored = 0
        self._positive_hist = np.zeros(n_bins, np.int64)
        self._negative_hist = np.zeros(n_bins, np.int64)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self._labels)

    @property
    def confusion(self) -> np.ndarray:
        """Counts indexed [true, predicted] in the order of `labels` (a read-only copy)."""
        view = self._confusion.copy()
        view.flags.writeable = False
        return view

    @property
    def n(self) -> int:
        return int(self._confusion.sum())

    def _index_of(self, label: str) -> int:
        if label in self._index:
            return self._index[label]
        if len(self._labels) < self.max_labels:
            self._index[label] = len(self._labels)
            self._labels.append(label)
            return self._index[label]
        if OTHER_LABEL not in self._index:
            self._index[OTHER_LABEL] = len(self._labels)
            self._labels.append(OTHER_LABEL)
        return self._index[OTHER_LABEL]

    def _grow(self) -> None:
        size = len(self._labels)
        if self._confusion.shape[0] < size:
            grown = np.zeros((size, size), np.int64)
            old = self._confusion.shape[0]
            grown[:old, :old] = self._confusion
            self._confusion = grown

    def update(self, y_true: Any, y_pred: Any, score: Any = None) -> Self:
        """Add pairs; `score` is P(positive) per row, NaN where the prediction had no score."""
        true = _label_array(y_true, "y_true")
        pred = _label_array(y_pred, "y_pred")
        if true.shape != pred.shape:
            raise DataError(f"y_true has {true.size} rows but y_pred has {pred.size}")
        scores = None if score is None else _float_array(score, "score", allow_nan=True)
        if scores is not None and scores.shape != true.shape:
            raise DataError(f"score has {scores.size} rows but y_true has {true.size}")
        if true.size == 0:
            return self
        # Hash-based factorisation: one pass in C; the Python loop below runs once per distinct label.
        codes, uniques = pd.factorize(np.concatenate([true, pred]))
        names = [canonical_label(u) for u in uniques]  # 1, 1.0, True and "1" are all label "1"
        if (codes < 0).any() or None in names:
            raise DataError("field 'y_true' or 'y_pred': missing label (None or NaN)")
        lookup = np.array([self._index_of(str(name)) for name in names], dtype=np.int64)
        self._grow()
        size = len(self._labels)
        true_idx, pred_idx = lookup[codes[: true.size]], lookup[codes[true.size :]]
        pair_counts = np.bincount(true_idx * size + pred_idx, minlength=size * size)
        self._confusion += pair_counts.reshape(size, size)
        if scores is not None:
            self._add_scores(scores, true_idx == 0)
        return self

    def _add_scores(self, scores: np.ndarray, is_positive: np.ndarray) -> None:
        scored = ~np.isnan(scores)
        values, positive = scores[scored], is_positive[scored]
        if ((values < 0.0) | (values > 1.0)).any():
            raise DataError("field 'score': probabilities must lie in [0, 1]")
        clipped = np.clip(values, PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP)
        self._log_loss_units += _exact_sum(np.where(positive, -np.log(clipped), -np.log1p(-clipped)))
        self._n_scored += int(values.size)
        bins = np.minimum((values * self.n_bins).astype(np.int64), self.n_bins - 1)
        self._positive_hist += np.bincount(bins[positive], minlength=self.n_bins)
        self._negative_hist += np.bincount(bins[~positive], minlength=self.n_bins)

    def _roc_auc(self) -> tuple[float | None, float | None]:
        n_pos, n_neg = int(self._positive_hist.sum()), int(self._negative_hist.sum())
        if n_pos == 0 or n_neg == 0:
            return None, None
        pos = self._positive_hist.astype(np.float64)
        neg = self._negative_hist.astype(np.float64)
        neg_below = np.cumsum(neg) - neg
        same_bin = float(pos @ neg)
        pairs = float(n_pos) * float(n_neg)
        return (float(pos @ neg_below) + 0.5 * same_bin) / pairs, 0.5 * same_bin / pairs

    def metrics(self) -> dict[str, float | None]:
        conf = self._confusion
        true_counts, pred_counts, hits = conf.sum(axis=1), conf.sum(axis=0), np.diag(conf)
        active = (true_counts + pred_counts) > 0
        n = int(conf.sum())
        roc_auc = roc_auc_bound = None
        if active.sum() <= 2:
            tp, n_true, n_pred = int(hits[0]), int(true_counts[0]), int(pred_counts[0])
            precision, recall = _ratio(tp, n_pred), _ratio(tp, n_true)
            f1 = _ratio(2 * tp, n_true + n_pred)  # 2TP / (2TP + FP + FN), like scikit-learn
            roc_auc, roc_auc_bound = self._roc_auc()
        else:
            # Macro average over labels seen; a label's undefined precision or recall counts 0,
            # like scikit-learn's zero_division default. fsum: the result must not depend on label order.
            tp_a, true_a, pred_a = (x[active].astype(np.float64) for x in (hits, true_counts, pred_counts))
            k = float(tp_a.size)
            precision = math.fsum(np.divide(tp_a, pred_a, out=np.zeros_like(tp_a), where=pred_a > 0)) / k
            recall = math.fsum(np.divide(tp_a, true_a, out=np.zeros_like(tp_a), where=true_a > 0)) / k
            f1 = math.fsum(2.0 * tp_a / (true_a + pred_a)) / k
        return {
            "n": n,
            "accuracy": _ratio(int(hits.sum()), n),
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "roc_auc": roc_auc,
            "roc_auc_error_bound": roc_auc_bound,
            "log_loss": _ratio(_units_to_float(self._log_loss_units), self._n_scored),
            "n_scored": self._n_scored,
        }

    def merged(self, other: ClassificationPerformance) -> ClassificationPerformance:
        config = (self.positive_label, self.max_labels, self.n_bins)
        if not isinstance(other, ClassificationPerformance) or config != (
            other.positive_label,
            other.max_labels,
            other.n_bins,
        ):
            raise DataError("cannot merge classification accumulators with different configurations")
        out = ClassificationPerformance.from_state(self.to_state())
        lookup = np.array([out._index_of(label) for label in other._labels], dtype=np.int64)
        out._grow()
        np.add.at(out._confusion, (lookup[:, None], lookup[None, :]), other._confusion)
        out._log_loss_units += other._log_loss_units
        out._n_scored += other._n_scored
        out._positive_hist += other._positive_hist
        out._negative_hist += other._negative_hist
        return out

    def _canonical(self) -> tuple[Any, ...]:
        rows, cols = np.nonzero(self._confusion)
        pairs = {
            (self._labels[i], self._labels[j]): int(self._confusion[i, j])
            for i, j in zip(rows.tolist(), cols.tolist(), strict=True)
        }
        return (
            (self.positive_label, self.max_labels, self.n_bins),
            pairs,
            self._log_loss_units,
            self._n_scored,
            self._positive_hist.tolist(),
            self._negative_hist.tolist(),
        )

    def __eq__(self, other: object) -> bool:
        """Equal when they have seen the same pairs; label order does not matter."""
        if not isinstance(other, ClassificationPerformance):
            return NotImplemented
        return self._canonical() == other._canonical()

    __hash__ = None  # type: ignore[assignment]  # mutable accumulator

    def to_state(self) -> dict[str, Any]:
        return {
            "kind": self.KIND,
            "positive_label": self.positive_label,
            "max_labels": self.max_labels,
            "n_bins": self.n_bins,
            "labels": list(self._labels),
            "confusion": self._confusion.tolist(),
            "log_loss_sum_units": str(self._log_loss_units),
            "n_scored": self._n_scored,
            "positive_score_histogram": self._positive_hist.tolist(),
            "negative_score_histogram": self._negative_hist.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ClassificationPerformance:
        _check_state_kind(state, cls.KIND)
        out = cls(state["positive_label"], max_labels=state["max_labels"], n_bins=state["n_bins"])
        labels = [str(label) for label in state["labels"]]
        confusion = np.asarray(state["confusion"], dtype=np.int64).reshape(len(labels), len(labels))
        histograms = [
            np.asarray(state[k], dtype=np.int64)
            for k in ("positive_score_histogram", "negative_score_histogram")
        ]
        if not labels or labels[0] != out.positive_label or any(h.shape != (out.n_bins,) for h in histograms):
            raise DataError("classification state is inconsistent (labels or histogram sizes)")
        out._labels, out._index = labels, {label: i for i, label in enumerate(labels)}
        out._confusion = confusion
        out._log_loss_units = int(state["log_loss_sum_units"])
        out._n_scored = int(state["n_scored"])
        out._positive_hist, out._negative_hist = histograms
        return out


class RegressionPerformance:
    """Exact sums of errors and targets for MAE, RMSE, MAPE (rows with y == 0 skipped and counted) and R2."""

    KIND = "regression_performance"
    _SUMS = ("abs_error", "squared_error", "pct_error", "y", "y_squared")

    def __init__(self) -> None:
        self._n = 0
        self._n_pct = 0  # rows with y != 0, the only ones MAPE can use
        self._units = dict.fromkeys(self._SUMS, 0)

    @property
    def n(self) -> int:
        return self._n

    def update(self, y_true: Any, y_pred: Any) -> Self:
        true = _float_array(y_true, "y_true")
        pred = _float_array(y_pred, "y_pred")
        if true.shape != pred.shape:
            raise DataError(f"y_true has {true.size} rows but y_pred has {pred.size}")
        error = true - pred
        if not np.all(np.isfinite(error)):
            raise DataError("y_true - y_pred overflows float64")
        abs_error = np.abs(error)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            pct_error = abs_error / np.abs(true)
        # y == 0 (or so close to 0 that the ratio overflows) has no percentage error: skip and count.
        nonzero = np.isfinite(pct_error)
        self._units["abs_error"] += _exact_sum(abs_error)
        self._units["squared_error"] += _exact_sum_of_squares(error)
        self._units["pct_error"] += _exact_sum(pct_error[nonzero])
        self._units["y"] += _exact_sum(true)
        self._units["y_squared"] += _exact_sum_of_squares(true)
        self._n += int(true.size)
        self._n_pct += int(nonzero.sum())
        return self

    def _centred_ratio(self, sum_key: str, squares_key: str) -> tuple[int, int]:
        """(n * sum(x**2) - sum(x)**2) * 2**1127 as an exact integer, and its scale n**2 * 2**(2*1127).

        Their ratio is the population variance of x, with no cancellation error.
        """
        total, squares = self._units[sum_key], self._units[squares_key]
        return (self._n * squares << _UNIT_BITS) - total * total, self._n * self._n << (2 * _UNIT_BITS)

    def metrics(self) -> dict[str, float | None]:
        n, units = self._n, self._units
        if n == 0:
            return dict.fromkeys(("mae", "rmse", "mape", "r2", "abs_error_std"), None) | {
                "n": 0,
                "n_mape_skipped": 0,
            }
        mae = _units_to_float(units["abs_error"]) / n
        rmse = math.sqrt(_units_to_float(units["squared_error"]) / n)
        total_variance, _ = self._centred_ratio("y", "y_squared")
        # R2 = 1 - SSE / SST with SST * n * 2**1127 / unit**2 == total_variance (all integers).
        r2 = None
        if n >= 2 and total_variance > 0:
            r2 = 1.0 - (units["squared_error"] * n << _UNIT_BITS) / total_variance
        # Spread of |error|: sum(|e|**2) is the squared-error sum, so no extra accumulator is needed.
        abs_numerator = (n * units["squared_error"] << _UNIT_BITS) - units["abs_error"] ** 2
        abs_error_std = math.sqrt(abs_numerator / (n * n << (2 * _UNIT_BITS)))
        return {
            "n": n,
            "mae": mae,
            "rmse": rmse,
            "mape": _ratio(_units_to_float(units["pct_error"]), self._n_pct),
            "n_mape_skipped": n - self._n_pct,
            "r2": r2,
            "abs_error_std": abs_error_std,
        }

    def merged(self, other: RegressionPerformance) -> RegressionPerformance:
        if not isinstance(other, RegressionPerformance):
            raise DataError("can only merge a RegressionPerformance with another")
        out = RegressionPerformance()
        out._n, out._n_pct = self._n + other._n, self._n_pct + other._n_pct
        out._units = {key: self._units[key] + other._units[key] for key in self._SUMS}
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RegressionPerformance):
            return NotImplemented
        return (self._n, self._n_pct, self._units) == (other._n, other._n_pct, other._units)

    __hash__ = None  # type: ignore[assignment]  # mutable accumulator

    def to_state(self) -> dict[str, Any]:
        sums = {f"{key}_sum_units": str(value) for key, value in self._units.items()}
        return {"kind": self.KIND, "n": self._n, "n_nonzero_y": self._n_pct} | sums

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RegressionPerformance:
        _check_state_kind(state, cls.KIND)
        out = cls()
        out._n, out._n_pct = int(state["n"]), int(state["n_nonzero_y"])
        out._units = {key: int(state[f"{key}_sum_units"]) for key in cls._SUMS}
        return out


class LabelDelayHistogram:
    """Histogram of label delay (outcome time - prediction time, seconds) for a Prometheus histogram.

    `counts` are per bucket (not cumulative), the last bucket being +Inf. Negative delays (producer clock
    skew) are counted as 0 so that the exported `_sum` never decreases.
    """

    KIND = "label_delay_histogram"

    def __init__(self, bounds: Sequence[float] = DEFAULT_DELAY_BOUNDS_SECONDS) -> None:
        edges = np.asarray(bounds, dtype=np.float64)
        if (
            edges.ndim != 1
            or edges.size == 0
            or not np.all(np.isfinite(edges))
            or np.any(np.diff(edges) <= 0)
        ):
            raise DataError(f"label delay bucket bounds must be finite and increasing, got {list(bounds)}")
        self._bounds = edges
        self._counts = np.zeros(edges.size + 1, np.int64)
        self._sum_units = 0

    @property
    def bounds(self) -> tuple[float, ...]:
        return tuple(self._bounds.tolist())

    @property
    def count(self) -> int:
        return int(self._counts.sum())

    @property
    def sum(self) -> float:
        return _units_to_float(self._sum_units)

    def update(self, delays_seconds: Any) -> Self:
        delays = np.maximum(_float_array(delays_seconds, "label delay"), 0.0)
        # side="left": a delay equal to a bound belongs to that bucket (Prometheus buckets are "le").
        bucket = np.searchsorted(self._bounds, delays, side="left")
        self._counts += np.bincount(bucket, minlength=self._counts.size)
        self._sum_units += _exact_sum(delays)
        return self

    def cumulative_buckets(self) -> list[tuple[float, int]]:
        """(upper bound, cumulative count) pairs ending with (inf, count), as Prometheus exposes them."""
        uppers = [*self._bounds.tolist(), math.inf]
        return list(zip(uppers, np.cumsum(self._counts).tolist(), strict=True))

    def merged(self, other: LabelDelayHistogram) -> LabelDelayHistogram:
        if not isinstance(other, LabelDelayHistogram) or not np.array_equal(self._bounds, other._bounds):
            raise DataError("cannot merge label delay histograms with different bucket bounds")
        out = LabelDelayHistogram(self.bounds)
        out._counts = self._counts + other._counts
        out._sum_units = self._sum_units + other._sum_units
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelDelayHistogram):
            return NotImplemented
        return (
            np.array_equal(self._bounds, other._bounds)
            and np.array_equal(self._counts, other._counts)
            and self._sum_units == other._sum_units
        )

    __hash__ = None  # type: ignore[assignment]  # mutable accumulator

    def to_state(self) -> dict[str, Any]:
        return {
            "kind": self.KIND,
            "bounds": self._bounds.tolist(),
            "counts": self._counts.tolist(),
            "sum_units": str(self._sum_units),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LabelDelayHistogram:
        _check_state_kind(state, cls.KIND)
        out = cls(state["bounds"])
        counts = np.asarray(state["counts"], dtype=np.int64)
        if counts.shape != out._counts.shape:
            raise DataError("label delay state has a different number of buckets than bounds")
        out._counts, out._sum_units = counts, int(state["sum_units"])
        return out


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
