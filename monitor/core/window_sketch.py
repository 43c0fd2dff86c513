"""The summary of one stream of rows: per-feature sketches, prediction, score, target and
a row sample. A baseline's reference profile is one of these, built over the training data;
each window of the live stream is another, built on the baseline's bins and categories.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.core.reservoir import RowReservoir
from monitor.core.sketch import NumericSketch, Sketch, sketch_from_state


def _empty(sketch: Sketch | None) -> Any:
    return sketch.empty_like() if sketch is not None else None


def _merge(a: Sketch | None, b: Sketch | None) -> Any:
    if a is None or b is None:
        return a if b is None else b
    return a.merge(b)  # type: ignore[arg-type]


@dataclass
class WindowSketch:
    features: dict[str, Sketch]
    prediction: Sketch
    score: NumericSketch | None
    target: Sketch | None
    reservoir: RowReservoir
    n_rows: int = 0
    n_targets: int = 0

    def empty_like(self, reservoir_size: int | None = None, seed: int | None = None) -> WindowSketch:
        """A fresh sketch on the same bins and categories (how windows are made from a baseline)."""
        return WindowSketch(
            features={name: s.empty_like() for name, s in self.features.items()},
            prediction=self.prediction.empty_like(),
            score=_empty(self.score),
            target=_empty(self.target),
            reservoir=RowReservoir(
                reservoir_size or self.reservoir.capacity, self.reservoir.seed if seed is None else seed
            ),
        )

    def update(
        self,
        features: Mapping[str, NDArray[Any]],
        prediction: NDArray[Any],
        score: NDArray[np.float64] | None = None,
        row_keys: NDArray[np.float64] | None = None,
    ) -> WindowSketch:
        """Add a batch of rows: one array per feature, all of the same length. `row_keys`
        (see `reservoir.keys_from_ids`) make the row sample independent of who saw which row."""
        n = len(prediction)
        for name, sketch in self.features.items():
            column = features.get(name)
            if column is None:
                column = np.full(n, np.nan) if isinstance(sketch, NumericSketch) else np.full(n, None)
            sketch.update(column)
        self.prediction.update(prediction)
        if self.score is not None and score is not None:
            self.score.update(score)
        sample = {name: np.asarray(features[name]) for name in self.features if name in features}
        sample["__prediction__"] = np.asarray(prediction)
        self.reservoir.update(sample, n, row_keys)
        self.n_rows += n
        return self

    def update_target(self, target: NDArray[Any]) -> WindowSketch:
        if self.target is not None:
            self.target.update(target)
        self.n_targets += len(target)
        return self

    def merge(self, other: WindowSketch) -> WindowSketch:
        return WindowSketch(
            features={n: _merge(s, other.features[n]) for n, s in self.features.items()},
            prediction=_merge(self.prediction, other.prediction),
            score=_merge(self.score, other.score),
            target=_merge(self.target, other.target),
            reservoir=self.reservoir.merge(other.reservoir),
            n_rows=self.n_rows + other.n_rows,
            n_targets=self.n_targets + other.n_targets,
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "n_targets": self.n_targets,
            "features": {n: s.to_state() for n, s in self.features.items()},
            "prediction": self.prediction.to_state(),
            "score": self.score.to_state() if self.score else None,
            "target": self.target.to_state() if self.target else None,
            "reservoir": self.reservoir.to_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> WindowSketch:
        score = state["score"]
        target = state["target"]
        return cls(
            features={n: sketch_from_state(s) for n, s in state["features"].items()},
            prediction=sketch_from_state(state["prediction"]),
            score=NumericSketch.from_state(score) if score else None,
            target=sketch_from_state(target) if target else None,
            reservoir=RowReservoir.from_state(state["reservoir"]),
            n_rows=int(state["n_rows"]),
            n_targets=int(state["n_targets"]),
        )
