"""Confidence-based performance estimation (CBPE) for a binary classifier with a positive-class score.

Fit: isotonic calibration of the score on reference rows with targets (`IsotonicCalibration`).
Stream: per row the calibrated probability p that the true label is positive; `CBPEWindow` keeps,
split by the predicted class, the row count, the sum of p and the sum of p(1 - p), and a fixed
histogram of the score with the count and the sum of p per bin. Sums are mergeable (float sums:
exact up to rounding) and cover every row of the window, not a sample.

Estimate, from those sums alone (A = sum of p over rows predicted positive = expected TP, B = the
same over rows predicted negative = expected FN):

    accuracy = (A + n_neg - B) / n    precision = A / n_pos    recall = A / (A + B)
    F1 = 2A / (A + n_pos + B)         ROC AUC: positives and negatives per score bin taken as sum p
                                      and count - sum p; pairs within a bin count one half

Band: if the calibration holds, each row's correctness is an independent Bernoulli draw with the
probability above, so the realised metric of the window spreads around the estimate with a variance
known from the same sums (sum p(1 - p) per predicted class; the delta method for recall and F1;
Hanley and McNeil's formula for ROC AUC on the expected class counts). It is the spread NannyML
measures over reference chunks, computed for the window's own rows, so it follows a covariate shift
that moves rows into the uncertain region. The calibration itself is estimated from the reference's
N rows, which adds an error of about the same kind over N rows: the band's width is scaled by
sqrt(1 + n / N) (`result.fit_inflation`). The band is estimate ± z·std (z from `confidence`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike

from monitor.core.estimation.calibration import IsotonicCalibration
from monitor.core.estimation.result import MetricEstimate, banded, fit_inflation, z_for
from monitor.core.labels import canonical_labels
from monitor.errors import DataError

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


@dataclass(frozen=True)
class ClassificationEstimate:
    """Estimated metrics of one window (a metric is absent when undefined, e.g. no predicted positive)."""

    metrics: Mapping[str, MetricEstimate]
    n: int  # rows with a score
    n_unscored: int  # rows without one, left out of every estimate


class CBPEEstimator:
    KIND = "cbpe"

    def __init__(
        self,
        calibration: IsotonicCalibration,
        positive_label: str = "1",
        *,
        n_bins: int = 200,
        confidence: float = 0.95,
        n_reference: int,
    ) -> None:
        if n_bins < 2:
            raise DataError(f"CBPE needs at least 2 score bins, got {n_bins}")
        self.calibration = calibration
        self.positive_label = positive_label
        self.n_bins = n_bins
        self.confidence = confidence
        self.z = z_for(confidence)
        self.n_reference = n_reference

    @classmethod
    def fit(
        cls,
        scores: ArrayLike,
        y_true: ArrayLike,
        positive_label: str = "1",
        *,
        n_bins: int = 200,
        confidence: float = 0.95,
    ) -> CBPEEstimator:
        """Calibrate on reference rows. Use held-out rows (not the model's training rows), whose scores
        are as over-confident as the live ones; a target with more than two classes is refused: our
        messages carry one score, the positive class's, which says nothing about the others."""
        labels = canonical_labels(np.asarray(y_true, dtype=object))
        classes = {label for label in labels.tolist() if label is not None}
        if len(classes) > 2:
            raise DataError(
                f"CBPE needs a binary target; the reference has {len(classes)} classes "
                "(multiclass models get realised metrics only: the messages carry one score)"
            )
        if any(label is None for label in labels.tolist()):
            raise DataError("field 'target': missing values in the reference used for calibration")
        s = np.asarray(scores, dtype=np.float64)
        if s.size and (np.nanmin(s) < 0 or np.nanmax(s) > 1):
            raise DataError("field 'score': probabilities must lie in [0, 1]")
        calibration = IsotonicCalibration.fit(s, labels == positive_label)
        return cls(calibration, positive_label, n_bins=n_bins, confidence=confidence, n_reference=s.size)

    def window(self) -> CBPEWindow:
        return CBPEWindow(self)

    def estimate(self, window: CBPEWindow) -> ClassificationEstimate:
        return window.estimate()

    def to_state(self) -> dict[str, Any]:
        return {
            "kind": self.KIND,
            "positive_label": self.positive_label,
            "n_bins": self.n_bins,
            "confidence": self.confidence,
            "n_reference": self.n_reference,
            "calibration": self.calibration.to_state(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> CBPEEstimator:
        if state.get("kind") != cls.KIND:
            raise DataError(f"state has kind {state.get('kind')!r}, expected {cls.KIND!r}")
        return cls(
            IsotonicCalibration.from_state(state["calibration"]),
            str(state["positive_label"]),
            n_bins=int(state["n_bins"]),
            confidence=float(state["confidence"]),
            n_reference=int(state["n_reference"]),
        )


class CBPEWindow:
    """Mergeable sums of calibrated probabilities for one window (or one partition of it)."""

    # The estimator is never changed through a window: a copy of the window (a savepoint's fork,
    # monitor.pipeline.savepoint) shares it.
    __fork_shared__ = ("estimator",)

    def __init__(self, estimator: CBPEEstimator) -> None:
        self.estimator = estimator
        # [predicted negative, predicted positive] x [rows, sum p, sum p(1 - p)]
        self.by_class = np.zeros((2, 3))
        self.bin_count = np.zeros(estimator.n_bins)
        self.bin_p = np.zeros(estimator.n_bins)
        self.n_unscored = 0

    def update(self, y_pred: ArrayLike, score: ArrayLike) -> Self:
        """Add rows: predicted labels and positive-class scores (NaN where a row has none)."""
        pred = np.asarray(y_pred, dtype=object)
        s = np.asarray(score, dtype=np.float64)
        if pred.shape != s.shape or s.ndim != 1:
            raise DataError(f"prediction has {pred.size} rows but score has {s.size}")
        scored = ~np.isnan(s)
        self.n_unscored += int((~scored).sum())
        s = s[scored]
        if s.size == 0:
            return self
        if s.min() < 0 or s.max() > 1:
            raise DataError("field 'score': probabilities must lie in [0, 1]")
        positive = (canonical_labels(pred[scored]) == self.estimator.positive_label).astype(np.int64)
        p = self.estimator.calibration(s)
        self.by_class[:, 0] += np.bincount(positive, minlength=2)
        self.by_class[:, 1] += np.bincount(positive, weights=p, minlength=2)
        self.by_class[:, 2] += np.bincount(positive, weights=p * (1 - p), minlength=2)
        n_bins = self.estimator.n_bins
        bins = np.minimum((s * n_bins).astype(np.int64), n_bins - 1)
        self.bin_count += np.bincount(bins, minlength=n_bins)
        self.bin_p += np.bincount(bins, weights=p, minlength=n_bins)
        return self

    def merge(self, other: CBPEWindow) -> CBPEWindow:
        if other.estimator.to_state() != self.estimator.to_state():
            raise DataError("cannot merge CBPE windows of different estimators")
        out = CBPEWindow(self.estimator)
        out.by_class = self.by_class + other.by_class
        out.bin_count = self.bin_count + other.bin_count
        out.bin_p = self.bin_p + other.bin_p
        out.n_unscored = self.n_unscored + other.n_unscored
        return out

    @property
    def n(self) -> int:
        return round(float(self.by_class[:, 0].sum()))

    def estimate(self) -> ClassificationEstimate:
        (n_neg, b, v_neg), (n_pos, a, v_pos) = self.by_class
        n = n_neg + n_pos
        z = self.estimator.z * fit_inflation(n, self.estimator.n_reference)
        out: dict[str, MetricEstimate] = {}
        if n > 0:
            out["accuracy"] = banded("accuracy", (a + n_neg - b) / n, (v_pos + v_neg) / n**2, self.n, z, 0, 1)
        if n_pos > 0:
            out["precision"] = banded("precision", a / n_pos, v_pos / n_pos**2, self.n, z, 0, 1)
        if a + b > 0:
            var = (b * b * v_pos + a * a * v_neg) / (a + b) ** 4
            out["recall"] = banded("recall", a / (a + b), var, self.n, z, 0, 1)
            d = a + n_pos + b
            var_f1 = (2 * (n_pos + b) / d**2) ** 2 * v_pos + (2 * a / d**2) ** 2 * v_neg
            out["f1"] = banded("f1", 2 * a / d, var_f1, self.n, z, 0, 1)
        auc = self._roc_auc()
        if auc is not None:
            out["roc_auc"] = banded("roc_auc", auc[0], auc[1], self.n, z, 0, 1)
        return ClassificationEstimate(out, self.n, self.n_unscored)

    def _roc_auc(self) -> tuple[float, float] | None:
        pos = self.bin_p
        neg = np.maximum(self.bin_count - self.bin_p, 0.0)
        n_pos, n_neg = float(pos.sum()), float(neg.sum())
        if n_pos <= 0 or n_neg <= 0:
            return None
        neg_below = np.cumsum(neg) - neg
        auc = float(pos @ neg_below + 0.5 * pos @ neg) / (n_pos * n_neg)
        # Hanley & McNeil (1982): the variance of the empirical AUC with n_pos positives, n_neg negatives.
        q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
        var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (n_pos * n_neg)
        return auc, var

    def to_state(self) -> dict[str, Any]:
        return {
            "kind": "cbpe_window",
            "by_class": self.by_class.tolist(),
            "bin_count": self.bin_count.tolist(),
            "bin_p": self.bin_p.tolist(),
            "n_unscored": self.n_unscored,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], estimator: CBPEEstimator) -> CBPEWindow:
        out = cls(estimator)
        by_class = np.asarray(state["by_class"], dtype=np.float64)
        counts = np.asarray(state["bin_count"], dtype=np.float64)
        sums = np.asarray(state["bin_p"], dtype=np.float64)
        if by_class.shape != (2, 3) or counts.shape != (estimator.n_bins,) or sums.shape != counts.shape:
            raise DataError("CBPE window state does not match its estimator (bins or shape)")
        out.by_class, out.bin_count, out.bin_p = by_class, counts, sums
        out.n_unscored = int(state["n_unscored"])
        return out
