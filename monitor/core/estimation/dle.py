"""Direct loss estimation (DLE) for a regressor: expected MAE and RMSE of a window without targets.

Fit: on reference rows with targets, two loss models (`TreeEnsemble`) learn the absolute residual
|y - ŷ| and the squared residual (y - ŷ)² from the features and the prediction (encoded by
`TabularEncoder`; the prediction as one more standardised column). **The residuals must come from
held-out data** (a validation or recent production set the model was not trained on): on training
rows the residuals are optimistic, so every estimate would be too low and every real window would
look worse than estimated. `fit` takes that frame as given; the baseline builder passes the separate
reference-performance frame when there is one, and may reuse the baseline's encoder (`encoder=`).

Stream: per row the predicted expected absolute loss a and squared loss s (clipped at 0); a
`DLEWindow` keeps n, sum a, sum a², sum s, sum s² (mergeable float sums).

Estimate: MAE = sum a / n, RMSE = sqrt(sum s / n). Band: with E[|r| | x] = a and E[r² | x] = s, a
row's |r| has variance s - a², so the realised MAE spreads by sqrt(sum (s - a²)) / n around the
estimate. The squared loss has variance κ·s² per row, with κ = mean(((r² - s) / s)²) measured on the
reference (how heavy the residuals' tail is relative to their scale); the RMSE's spread follows by
the delta method. Estimate ± z·std, z from `confidence`, widened by sqrt(1 + n / N) for the loss
models' own error (fitted on N reference rows; `result.fit_inflation`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.core.encoding import Kind, TabularEncoder
from monitor.core.estimation.result import MetricEstimate, banded, fit_inflation, z_for
from monitor.core.estimation.trees import TreeEnsemble
from monitor.errors import DataError

# A squared loss predicted near 0 (boosting can undershoot) would make the kurtosis ratio explode:
# predicted squared losses are floored at this share of the reference's mean squared residual.
LOSS_FLOOR_SHARE = 0.01


@dataclass(frozen=True)
class RegressionEstimate:
    metrics: Mapping[str, MetricEstimate]  # "mae", "rmse"
    n: int


def _finite(values: ArrayLike, field: str) -> NDArray[np.float64]:
    out = np.asarray(values, dtype=np.float64)
    if out.ndim != 1 or not np.all(np.isfinite(out)):
        raise DataError(f"field {field!r}: expected a 1-D array of finite numbers")
    return out


class DLEEstimator:
    KIND = "dle"

    def __init__(
        self,
        encoder: TabularEncoder,
        prediction_mean: float,
        prediction_scale: float,
        abs_model: TreeEnsemble,
        squared_model: TreeEnsemble,
        kurtosis: float,
        loss_floor: float,
        *,
        confidence: float = 0.95,
        n_reference: int,
    ) -> None:
        if abs_model.n_features != encoder.width + 1 or squared_model.n_features != encoder.width + 1:
            raise DataError("the loss models do not match the encoder's columns")
        self.encoder = encoder
        self.prediction_mean, self.prediction_scale = float(prediction_mean), float(prediction_scale)
        self.abs_model, self.squared_model = abs_model, squared_model
        self.kurtosis, self.loss_floor = float(kurtosis), float(loss_floor)
        self.confidence = confidence
        self.z = z_for(confidence)
        self.n_reference = n_reference

    @classmethod
    def fit(
        cls,
        features: Mapping[str, Any],
        kinds: Mapping[str, Kind],
        y_pred: ArrayLike,
        y_true: ArrayLike,
        *,
        encoder: TabularEncoder | None = None,
        trees: int = 50,
        depth: int = 3,
        seed: int = 0,
        confidence: float = 0.95,
    ) -> DLEEstimator:
        """Fit the loss models on held-out reference rows (see the module docstring)."""
        pred, true = _finite(y_pred, "prediction"), _finite(y_true, "target")
        if pred.shape != true.shape:
            raise DataError(f"prediction has {pred.size} rows but the target has {true.size}")
        if pred.size < 100:
            raise DataError(f"DLE needs at least 100 reference rows with targets, got {pred.size}")
        encoder = encoder or TabularEncoder.fit(features, kinds)
        scale = float(pred.std()) or 1.0
        x = np.column_stack([encoder.transform(features), (pred - pred.mean()) / scale])
        residual = true - pred
        abs_model = TreeEnsemble.fit(x, np.abs(residual), trees=trees, depth=depth, seed=seed)
        squared_model = TreeEnsemble.fit(x, residual**2, trees=trees, depth=depth, seed=seed + 1)
        floor = max(LOSS_FLOOR_SHARE * float(np.mean(residual**2)), np.finfo(np.float64).tiny)
        a = np.maximum(abs_model.predict(x), 0.0)
        s = np.maximum(squared_model.predict(x), np.maximum(a * a, floor))
        kurtosis = float(np.mean(((residual**2 - s) / s) ** 2))
        return cls(
            encoder,
            float(pred.mean()),
            scale,
            abs_model,
            squared_model,
            kurtosis,
            floor,
            confidence=confidence,
            n_reference=pred.size,
        )

    def losses(
        self, features: Mapping[str, Any], y_pred: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Per row, the expected absolute and squared loss (the squared one at least the absolute one
        squared, as it must be, and at least the floor)."""
        pred = _finite(y_pred, "prediction")
        encoded = self.encoder.transform(features)
        if encoded.shape[0] != pred.size:
            raise DataError(f"features have {encoded.shape[0]} rows but prediction has {pred.size}")
        x = np.column_stack([encoded, (pred - self.prediction_mean) / self.prediction_scale])
        a = np.maximum(self.abs_model.predict(x), 0.0)
        return a, np.maximum(self.squared_model.predict(x), np.maximum(a * a, self.loss_floor))

    def window(self) -> DLEWindow:
        return DLEWindow(self)

    def to_state(self) -> dict[str, Any]:
        return {
            "kind": self.KIND,
            "encoder": self.encoder.to_state(),
            "prediction_mean": self.prediction_mean,
            "prediction_scale": self.prediction_scale,
            "abs_model": self.abs_model.to_state(),
            "squared_model": self.squared_model.to_state(),
            "kurtosis": self.kurtosis,
            "loss_floor": self.loss_floor,
            "confidence": self.confidence,
            "n_reference": self.n_reference,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> DLEEstimator:
        if state.get("kind") != cls.KIND:
            raise DataError(f"state has kind {state.get('kind')!r}, expected {cls.KIND!r}")
        return cls(
            TabularEncoder.from_state(state["encoder"]),
            float(state["prediction_mean"]),
            float(state["prediction_scale"]),
            TreeEnsemble.from_state(state["abs_model"]),
            TreeEnsemble.from_state(state["squared_model"]),
            float(state["kurtosis"]),
            float(state["loss_floor"]),
            confidence=float(state["confidence"]),
            n_reference=int(state["n_reference"]),
        )


class DLEWindow:
    """Mergeable sums of predicted losses for one window (or one partition of it)."""

    # The estimator is never changed through a window: a copy of the window (a savepoint's fork,
    # monitor.pipeline.savepoint) shares it.
    __fork_shared__ = ("estimator",)

    def __init__(self, estimator: DLEEstimator) -> None:
        self.estimator = estimator
        self.n = 0
        self.sums = np.zeros(4)  # sum a, sum a², sum s, sum s²

    def update(self, features: Mapping[str, Any], y_pred: ArrayLike) -> Self:
        a, s = self.estimator.losses(features, y_pred)
        self.n += int(a.size)
        self.sums += (a.sum(), (a * a).sum(), s.sum(), (s * s).sum())
        return self

    def merge(self, other: DLEWindow) -> DLEWindow:
        if other.estimator is not self.estimator and other.estimator.to_state() != self.estimator.to_state():
            raise DataError("cannot merge DLE windows of different estimators")
        out = DLEWindow(self.estimator)
        out.n, out.sums = self.n + other.n, self.sums + other.sums
        return out

    def estimate(self) -> RegressionEstimate:
        if self.n == 0:
            return RegressionEstimate({}, 0)
        n = self.n
        z = self.estimator.z * fit_inflation(n, self.estimator.n_reference)
        sum_a, sum_a2, sum_s, sum_s2 = self.sums
        mae = banded("mae", sum_a / n, (sum_s - sum_a2) / n**2, n, z, 0.0, np.inf)
        mse = sum_s / n
        var_mse = self.estimator.kurtosis * sum_s2 / n**2
        rmse = banded("rmse", np.sqrt(mse), var_mse / (4 * mse), n, z, 0.0, np.inf)
        return RegressionEstimate({"mae": mae, "rmse": rmse}, n)

    def to_state(self) -> dict[str, Any]:
        return {"kind": "dle_window", "n": self.n, "sums": self.sums.tolist()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any], estimator: DLEEstimator) -> DLEWindow:
        out = cls(estimator)
        sums = np.asarray(state["sums"], dtype=np.float64)
        if sums.shape != (4,):
            raise DataError("DLE window state has the wrong number of sums")
        out.n, out.sums = int(state["n"]), sums
        return out
