"""A small gradient-boosted tree ensemble stored as arrays, for the regression loss model.

Why trees and not an additive model on binned features: a model's error often grows where features
*combine* (a region of the input space the training data covered thinly), which an additive model
cannot express. Shallow boosted trees capture such interactions, are fitted by scikit-learn at
baseline-build time, and reduce to three arrays per ensemble, so the state is plain JSON.

Every tree is stored as a *complete* binary tree of the ensemble's depth, level by level: internal
node i has children 2i + 1 (x <= threshold) and 2i + 2, and the leaves follow the internal nodes. A
leaf that scikit-learn made higher up is pushed down through splits that always go left (threshold
= the largest float). Prediction is then the same few vectorised steps per level for every tree,
with no branching on node kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from monitor.errors import DataError

ALWAYS_LEFT = float(np.finfo(np.float64).max)  # JSON has no infinity; every finite x is below this


class TreeEnsemble:
    """prediction = base + the sum over trees of the value of the leaf reached."""

    def __init__(
        self,
        base: float,
        depth: int,
        feature: NDArray[np.int64],
        threshold: NDArray[np.float64],
        value: NDArray[np.float64],
        n_features: int,
    ) -> None:
        internal, leaves = (1 << depth) - 1, 1 << depth
        n_trees = len(value)
        if (
            depth < 1
            or depth > 12
            or feature.shape != (n_trees, internal)
            or threshold.shape != feature.shape
        ):
            raise DataError("tree ensemble arrays do not form complete trees of the stated depth")
        if value.shape != (n_trees, leaves) or not np.all(np.isfinite(value)) or np.isnan(threshold).any():
            raise DataError("tree ensemble leaf values must be finite, one per leaf")
        if feature.size and (feature.min() < 0 or feature.max() >= n_features):
            raise DataError("tree ensemble refers to a feature that does not exist")
        self.base, self.depth, self.n_features = float(base), int(depth), int(n_features)
        self.feature, self.threshold, self.value = feature, threshold, value

    @classmethod
    def fit(
        cls, x: NDArray[np.float64], y: NDArray[np.float64], *, trees: int = 50, depth: int = 3, seed: int = 0
    ) -> TreeEnsemble:
        leaf = max(20, len(y) // 200)  # leaves of at least 0.5 % of the rows: smooth, not memorised
        # One thread: see monitor/core/multivariate/domain_classifier.py (OpenMP on a busy machine).
        with threadpool_limits(limits=1, user_api="openmp"):
            model = HistGradientBoostingRegressor(
                max_iter=trees,
                max_depth=depth,
                learning_rate=0.15,
                min_samples_leaf=leaf,
                early_stopping=False,
                random_state=seed,
            ).fit(x, y)
        return cls.from_sklearn(model, depth)

    @classmethod
    def from_sklearn(cls, model: HistGradientBoostingRegressor, depth: int) -> TreeEnsemble:
        """The trees of a fitted regressor whose trees are at most `depth` deep, without missing values."""
        # The fitted trees as scikit-learn keeps them (one node table per tree, the learning rate
        # already in the leaf values). The attribute is private, which is why scikit-learn is pinned
        # exactly and tests/unit/core/estimation checks `predict` against the model's own.
        tables = [predictors[0].nodes for predictors in model._predictors]
        internal = (1 << depth) - 1
        feature = np.zeros((len(tables), internal), np.int64)
        threshold = np.full((len(tables), internal), ALWAYS_LEFT)
        value = np.zeros((len(tables), 1 << depth))
        for t, table in enumerate(tables):
            stack = [(0, 0, 0)]  # (scikit-learn node, our position, level)
            while stack:
                src, pos, level = stack.pop()
                row = table[src]
                if level == depth:
                    value[t, pos - internal] = row["value"]
                elif row["is_leaf"]:
                    stack += [(src, 2 * pos + 1, level + 1), (src, 2 * pos + 2, level + 1)]
                else:
                    feature[t, pos], threshold[t, pos] = int(row["feature_idx"]), float(row["num_threshold"])
                    stack += [
                        (int(row["left"]), 2 * pos + 1, level + 1),
                        (int(row["right"]), 2 * pos + 2, level + 1),
                    ]
        base = float(np.asarray(model._baseline_prediction).ravel()[0])
        return cls(base, depth, feature, threshold, value, int(model.n_features_in_))

    def predict(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise DataError(f"the loss model expects {self.n_features} encoded columns, got shape {x.shape}")
        flat = np.ascontiguousarray(x, dtype=np.float64).ravel()
        row_start = np.arange(x.shape[0]) * self.n_features
        out = np.full(x.shape[0], self.base)
        first_leaf = (1 << self.depth) - 1
        for feature, threshold, value in zip(self.feature, self.threshold, self.value, strict=True):
            node = np.zeros(x.shape[0], np.int64)
            for _ in range(self.depth):
                node = 2 * node + 1 + (flat[row_start + feature[node]] > threshold[node])
            out += value[node - first_leaf]
        return out

    def to_state(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "depth": self.depth,
            "n_features": self.n_features,
            "feature": self.feature.tolist(),
            "threshold": self.threshold.tolist(),
            "value": self.value.tolist(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> TreeEnsemble:
        try:
            return cls(
                float(state["base"]),
                int(state["depth"]),
                np.asarray(state["feature"], dtype=np.int64),
                np.asarray(state["threshold"], dtype=np.float64),
                np.asarray(state["value"], dtype=np.float64),
                int(state["n_features"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"tree ensemble state is malformed: {exc}") from exc
