"""Estimators and their window sums as stored state: one entry point for either kind.

A baseline holds an estimator's `to_state()` (its `kind` says which), and a window checkpoint holds
its window's; these read them back without the caller knowing whether the model is a classifier
(CBPE) or a regressor (DLE), and add a batch of predictions to a window of either kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.core.estimation.cbpe import CBPEEstimator, CBPEWindow
from monitor.core.estimation.dle import DLEEstimator, DLEWindow
from monitor.errors import DataError

Estimator = CBPEEstimator | DLEEstimator
EstimatorWindow = CBPEWindow | DLEWindow


def estimator_from_state(state: Mapping[str, Any]) -> Estimator:
    kind = state.get("kind")
    if kind == CBPEEstimator.KIND:
        return CBPEEstimator.from_state(state)
    if kind == DLEEstimator.KIND:
        return DLEEstimator.from_state(state)
    raise DataError(f"unknown performance estimator kind {kind!r}")


def window_from_state(state: Mapping[str, Any], estimator: Estimator) -> EstimatorWindow:
    if isinstance(estimator, CBPEEstimator):
        return CBPEWindow.from_state(state, estimator)
    return DLEWindow.from_state(state, estimator)


def add_rows(
    window: EstimatorWindow,
    features: Mapping[str, NDArray[Any]],
    prediction: NDArray[Any],
    score: NDArray[np.float64],
) -> None:
    """Add predictions to a window: CBPE reads the prediction and its score (NaN: none), DLE the
    features (a feature absent from the batch counts as missing, as in the sketches) and the
    prediction."""
    if isinstance(window, CBPEWindow):
        window.update(prediction, score)
        return
    n = len(prediction)
    columns = {c.name: features.get(c.name) for c in window.estimator.encoder.columns}
    for c in window.estimator.encoder.columns:
        if columns[c.name] is None:
            columns[c.name] = np.full(n, np.nan) if c.kind == "numeric" else np.full(n, None, dtype=object)
    window.update(columns, np.asarray(prediction, dtype=np.float64))
