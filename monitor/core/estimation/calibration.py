"""Isotonic calibration of a classifier's positive-class score, stored as two threshold arrays.

Fitted on reference scores and targets with scikit-learn's pool-adjacent-violators
(`IsotonicRegression`), then kept as its breakpoints: the calibrated probability of a score is the
linear interpolation between them, clipped at both ends (what scikit-learn does with
`out_of_bounds="clip"`), so applying it needs numpy only and the state is two lists of numbers.

Monotone: a higher score never gets a lower probability, so ranking rows by calibrated probability
or by score is the same (the ROC AUC estimate relies on it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.isotonic import IsotonicRegression

from monitor.errors import DataError


class IsotonicCalibration:
    def __init__(self, thresholds: ArrayLike, probabilities: ArrayLike) -> None:
        x = np.asarray(thresholds, dtype=np.float64)
        y = np.asarray(probabilities, dtype=np.float64)
        if x.ndim != 1 or x.shape != y.shape or x.size == 0:
            raise DataError("calibration needs as many thresholds as probabilities, at least one")
        if np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0) or np.any((y < 0) | (y > 1)):
            raise DataError("calibration thresholds and probabilities must be non-decreasing, in [0, 1]")
        self.thresholds, self.probabilities = x, y

    @classmethod
    def fit(cls, scores: ArrayLike, is_positive: ArrayLike) -> IsotonicCalibration:
        s = np.asarray(scores, dtype=np.float64)
        y = np.asarray(is_positive, dtype=bool)
        if s.shape != y.shape or s.ndim != 1:
            raise DataError(f"score has {s.size} rows but the target has {y.size}")
        if s.size == 0 or not np.all(np.isfinite(s)):
            raise DataError("field 'score': calibration needs finite reference scores")
        if y.all() or not y.any():
            raise DataError("the reference target has one class only: cannot calibrate scores")
        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(s, y.astype(np.float64))
        return cls(model.X_thresholds_, model.y_thresholds_)

    def __call__(self, scores: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.interp(scores, self.thresholds, self.probabilities)

    def to_state(self) -> dict[str, Any]:
        return {"thresholds": self.thresholds.tolist(), "probabilities": self.probabilities.tolist()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> IsotonicCalibration:
        return cls(state["thresholds"], state["probabilities"])
