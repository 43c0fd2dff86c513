"""The performance estimator a baseline carries (monitor.core.estimation), fitted at build time.

Fitted on the same rows as the reference performance: the held-out performance data when given,
else the reference rows (whose in-sample scores and residuals make the estimate optimistic: the
builder's in-sample warning covers it). Which estimator:

* a classifier whose rows have a score and a binary target: CBPE (calibrated scores);
* a regressor whose rows have the features and the target: DLE (loss models on the features);
* anything else (no score, no target, a multiclass target, a one-class target): none, and the
  windows carry no estimate. `reason` says why, for the builder to print.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from monitor.config import ModelConfig
from monitor.core.estimation import CBPEEstimator, DLEEstimator
from monitor.errors import DataError


@dataclass(frozen=True)
class FittedEstimator:
    state: dict[str, Any] | None  # the estimator's to_state(), or None
    reason: str  # what was fitted, or why nothing was


def fit_estimator(frame: pd.DataFrame, model: ModelConfig) -> FittedEstimator:
    """The estimator of `model` fitted on `frame` (rows with targets), or why there is none."""
    if model.target is None or model.target not in frame.columns:
        return FittedEstimator(None, "no target column to fit it on")
    rows = frame[frame[model.target].notna()]
    try:
        if model.task == "classification":
            if not model.score or model.score not in rows.columns:
                return FittedEstimator(None, "the classifier's rows have no score column")
            scored = rows[rows[model.score].notna()]
            estimator: CBPEEstimator | DLEEstimator = CBPEEstimator.fit(
                scored[model.score].to_numpy(dtype=np.float64),
                scored[model.target].to_numpy(dtype=object),
                model.performance.positive_label,
            )
            return FittedEstimator(estimator.to_state(), f"CBPE on {len(scored):,} scored rows")
        missing = [f.name for f in model.features if f.name not in rows.columns]
        if missing:
            return FittedEstimator(None, f"the rows lack feature column(s) {missing}")
        estimator = DLEEstimator.fit(
            {f.name: rows[f.name].to_numpy() for f in model.features},
            {f.name: f.kind for f in model.features},
            rows[model.prediction].to_numpy(dtype=np.float64),
            rows[model.target].to_numpy(dtype=np.float64),
        )
        return FittedEstimator(estimator.to_state(), f"DLE on {len(rows):,} rows")
    except (DataError, ValueError, TypeError) as err:
        return FittedEstimator(None, str(err))
