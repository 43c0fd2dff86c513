"""Classification performance of a window as a mergeable accumulator (see monitor.core.performance)."""

from __future__ import annotations

import math
from typing import Any, Self

import numpy as np
import pandas as pd

from monitor.core.labels import canonical_label
from monitor.core.performance.exact import (
    check_state_kind,
    exact_sum,
    float_array,
    label_array,
    ratio,
    units_to_float,
)
from monitor.errors import DataError

OTHER_LABEL = "__other__"


PROBABILITY_CLIP = 1e-15


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
        true = label_array(y_true, "y_true")
        pred = label_array(y_pred, "y_pred")
        if true.shape != pred.shape:
            raise DataError(f"y_true has {true.size} rows but y_pred has {pred.size}")
        scores = None if score is None else float_array(score, "score", allow_nan=True)
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
        self._log_loss_units += exact_sum(np.where(positive, -np.log(clipped), -np.log1p(-clipped)))
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
            precision, recall = ratio(tp, n_pred), ratio(tp, n_true)
            f1 = ratio(2 * tp, n_true + n_pred)  # 2TP / (2TP + FP + FN), like scikit-learn
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
            "accuracy": ratio(int(hits.sum()), n),
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "roc_auc": roc_auc,
            "roc_auc_error_bound": roc_auc_bound,
            "log_loss": ratio(units_to_float(self._log_loss_units), self._n_scored),
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
        check_state_kind(state, cls.KIND)
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
