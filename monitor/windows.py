"""Tumbling event-time windows of one (model, version) stream and what each one accumulates."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.performance import ClassificationPerformance, LabelDelayHistogram, RegressionPerformance
from monitor.sketch import sketch_from_state
from monitor.window_sketch import WindowSketch


def window_starts(timestamps_ms: NDArray[np.int64], window_ms: int) -> NDArray[np.int64]:
    """Start of the tumbling window (aligned to the Unix epoch) holding each timestamp."""
    return timestamps_ms - timestamps_ms % window_ms


def running_watermark(timestamps_ms: NDArray[np.int64], before: int) -> NDArray[np.int64]:
    """For each row, the largest timestamp seen *before* it (the batch split does not matter)."""
    if len(timestamps_ms) == 0:
        return timestamps_ms
    seen = np.maximum.accumulate(np.concatenate([[before], timestamps_ms[:-1]]))
    return seen.astype(np.int64)


Performance = ClassificationPerformance | RegressionPerformance


def new_performance(task: str, positive_label: str) -> Performance:
    if task == "classification":
        return ClassificationPerformance(positive_label)
    return RegressionPerformance()


def add_pairs(
    performance: Performance, truth: NDArray[Any], prediction: NDArray[Any], score: NDArray[Any]
) -> None:
    if isinstance(performance, ClassificationPerformance):
        performance.update(truth, prediction, score)
    else:
        performance.update(truth, prediction)


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass
class WindowState:
    """One window: the drift sketch of its predictions, and the performance of those of its
    predictions whose outcomes have arrived (possibly long after the window closed)."""

    version: str
    start: int
    end: int
    sketch: WindowSketch
    performance: Performance
    label_delay: LabelDelayHistogram = field(default_factory=LabelDelayHistogram)
    expired: int = 0
    closed: bool = False  # no more predictions: the drift part is final
    final: bool = False  # the join TTL has passed: no more outcomes either
    changed: bool = True  # something new since the last evaluation

    @classmethod
    def open(
        cls,
        version: str,
        start: int,
        end: int,
        template: WindowSketch,
        task: str,
        sample: int,
        positive_label: str,
    ) -> WindowState:
        sketch = template.empty_like(reservoir_size=max(sample, 1), seed=start)
        return cls(version, start, end, sketch, new_performance(task, positive_label))

    def snapshot(self) -> WindowState:
        """A copy that later outcomes will not change (the features sketch is frozen once closed)."""
        target = self.sketch.target
        sketch = replace(
            self.sketch, target=sketch_from_state(target.to_state()) if target is not None else None
        )
        return replace(
            self,
            sketch=sketch,
            performance=type(self.performance).from_state(self.performance.to_state()),
            label_delay=LabelDelayHistogram.from_state(self.label_delay.to_state()),
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "start": self.start,
            "end": self.end,
            "sketch": self.sketch.to_state(),
            "task": "classification"
            if isinstance(self.performance, ClassificationPerformance)
            else "regression",
            "performance": self.performance.to_state(),
            "label_delay": self.label_delay.to_state(),
            "expired": self.expired,
            "closed": self.closed,
            "final": self.final,
            "changed": self.changed,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> WindowState:
        kind = ClassificationPerformance if state["task"] == "classification" else RegressionPerformance
        return cls(
            version=state["version"],
            start=int(state["start"]),
            end=int(state["end"]),
            sketch=WindowSketch.from_state(state["sketch"]),
            performance=kind.from_state(state["performance"]),
            label_delay=LabelDelayHistogram.from_state(state["label_delay"]),
            expired=int(state["expired"]),
            closed=bool(state["closed"]),
            final=bool(state["final"]),
            changed=bool(state["changed"]),
        )
