"""Tumbling event-time windows of one (model, version) stream and what each one accumulates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.core.comparison import ComparisonSpec, PairedWindow
from monitor.core.estimation.stored import Estimator, EstimatorWindow, window_from_state
from monitor.core.multivariate import PCAReconstruction, ReconstructionWindow
from monitor.core.performance import ClassificationPerformance, LabelDelayHistogram, RegressionPerformance
from monitor.core.segments import SegmentProfiles
from monitor.core.window_sketch import WindowSketch


def window_starts(timestamps_ms: NDArray[np.int64], window_ms: int) -> NDArray[np.int64]:
    """Start of the tumbling window (aligned to the Unix epoch) holding each timestamp."""
    return timestamps_ms - timestamps_ms % window_ms


def running_watermark(
    timestamps_ms: NDArray[np.int64], before: int, latest: int
) -> tuple[NDArray[np.int64], int, int]:
    """For each row, the stream's watermark *before* it; and the watermark and `latest` after the
    batch. `before` and `latest` are the watermark and the largest timestamp seen so far.

    The watermark is the second-largest timestamp seen (with repeats: two messages at t make it
    t), and windows close and predictions count as late by it. So no single message, however far
    ahead of the stream it is dated (a producer's clock off by hours, one replayed message from
    today in a backfill), can close windows or make the predictions after it late; a second
    message as far ahead does. The decoder bounds the future further (future_timestamp). An
    in-order stream's watermark trails the largest timestamp by one message. The batch split does
    not matter: the same rows give the same watermarks however they are batched.
    """
    if len(timestamps_ms) == 0:
        return timestamps_ms, before, latest
    largest = np.maximum.accumulate(np.concatenate([[latest], timestamps_ms]))
    # A row competes for second place with what it does not beat: itself, or the largest so far.
    contender = np.minimum(timestamps_ms, largest[:-1])
    second = np.maximum.accumulate(np.concatenate([[before], contender]))
    return second[:-1].astype(np.int64), int(second[-1]), int(largest[-1])


Performance = ClassificationPerformance | RegressionPerformance


def new_performance(task: str, positive_label: str) -> Performance:
    if task == "classification":
        return ClassificationPerformance(positive_label)
    return RegressionPerformance()


def new_segment_performance(task: str, positive_label: str, n_segments: int) -> list[Performance]:
    """One accumulator per segment for the joined pairs of a window; a classifier's without score
    histograms (one bin): the test per segment reads its confusion counts only."""
    if task == "classification":
        return [ClassificationPerformance(positive_label, n_bins=1) for _ in range(n_segments)]
    return [RegressionPerformance() for _ in range(n_segments)]


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
    """One window: the drift sketch of its predictions, the performance of those of its
    predictions whose outcomes have arrived (possibly long after the window closed), and the sums
    that estimate its performance without outcomes (`estimation`: None when the baseline has no
    estimator, monitor.core.estimation), and its rows' sketches per segment (`segments`: None when
    the baseline has no segment profiles, monitor.core.segments)."""

    version: str
    start: int
    end: int
    sketch: WindowSketch
    performance: Performance
    label_delay: LabelDelayHistogram = field(default_factory=LabelDelayHistogram)
    expired: int = 0
    closed: bool = False  # no more predictions: the drift part is final
    final: bool = False  # the join TTL has passed: no more outcomes either
    # The baseline whose bins the sketches use: a window stays with it when another baseline is
    # swapped in while it is open, across restarts too ("" in states written before it was kept).
    baseline_id: str = ""
    estimation: EstimatorWindow | None = None
    # The PCA reconstruction errors of the window's predictions (None: the baseline has no PCA).
    reconstruction: ReconstructionWindow | None = None
    segments: SegmentProfiles | None = None
    # The joined pairs' performance per segment of `segments` (in the order of its labels); None
    # without segments, and in windows restored from states written before it.
    segment_performance: list[Performance] | None = None
    # A shadow candidate's window: its predictions paired with the baseline version's by
    # prediction id (monitor.pipeline.monitor); None for every other window.
    paired: PairedWindow | None = None

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
        baseline_id: str = "",
        estimator: Estimator | None = None,
        pca: PCAReconstruction | None = None,
        segment_profiles: SegmentProfiles | None = None,
        paired_spec: ComparisonSpec | None = None,
    ) -> WindowState:
        sketch = template.empty_like(reservoir_size=max(sample, 1), seed=start)
        performance = new_performance(task, positive_label)
        estimation = None if estimator is None else estimator.window()
        reconstruction = None if pca is None else pca.window()
        segments = None if segment_profiles is None else segment_profiles.window()
        return cls(
            version,
            start,
            end,
            sketch,
            performance,
            baseline_id=baseline_id,
            estimation=estimation,
            reconstruction=reconstruction,
            segments=segments,
            segment_performance=None
            if segments is None
            else new_segment_performance(task, positive_label, len(segments.segment_map.labels)),
            paired=None if paired_spec is None else PairedWindow(paired_spec),
        )

    def merge(self, other: WindowState) -> WindowState:
        """The same window as seen by two partitions: a new state holding both."""
        return WindowState(
            self.version,
            self.start,
            self.end,
            self.sketch.merge(other.sketch),
            self.performance.merged(other.performance),  # type: ignore[arg-type]
            self.label_delay.merged(other.label_delay),
            self.expired + other.expired,
            self.closed or other.closed,
            self.final and other.final,
            self.baseline_id,
            _merged_estimation(self.estimation, other.estimation),
            _merge_reconstruction(self.reconstruction, other.reconstruction),
            _merged_segments(self.segments, other.segments),
            _merged_segment_performance(self, other),
            _merged_paired(self.paired, other.paired),
        )

    def copy(self) -> WindowState:
        return WindowState.from_state(self.to_state(), self.estimator, self.pca)

    @property
    def estimator(self) -> Estimator | None:
        return None if self.estimation is None else self.estimation.estimator

    @property
    def pca(self) -> PCAReconstruction | None:
        return None if self.reconstruction is None else self.reconstruction.model

    @property
    def fingerprint(self) -> tuple[int, ...]:
        """Changes whenever anything evaluation reads changes."""
        return (
            self.sketch.n_rows,
            self.sketch.n_targets,
            self.performance.n,
            self.expired,
            self.closed,
            self.final,
            *((self.paired.n_shared, self.paired.n_joined) if self.paired is not None else ()),
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
            "baseline_id": self.baseline_id,
            "estimation": None if self.estimation is None else self.estimation.to_state(),
            **({} if self.reconstruction is None else {"reconstruction": self.reconstruction.to_state()}),
            "segments": None if self.segments is None else self.segments.to_state(),
            **(
                {}
                if self.segment_performance is None
                else {"segment_performance": [p.to_state() for p in self.segment_performance]}
            ),
            **(
                {}
                if self.paired is None
                else {"paired": {"spec": self.paired.spec.to_state(), "window": self.paired.to_state()}}
            ),
        }

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any],
        estimator: Estimator | None = None,
        pca: PCAReconstruction | None = None,
    ) -> WindowState:
        """`estimator`: that of the window's baseline, which its estimation sums belong to (None:
        the window is restored without them, and carries no estimate). `pca`: the model the
        window's reconstruction errors are measured with (that of its baseline); without it, or in
        a state written before them, the window has none."""
        estimation = state.get("estimation")  # absent from states written before estimates
        segments = state.get("segments")  # likewise before segments
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
            baseline_id=str(state.get("baseline_id", "")),
            estimation=None
            if estimation is None or estimator is None
            else window_from_state(estimation, estimator),
            reconstruction=_reconstruction(state.get("reconstruction"), pca),
            segments=None if segments is None else SegmentProfiles.from_state(segments),
            segment_performance=None
            if state.get("segment_performance") is None  # absent from states written before it
            else [kind.from_state(p) for p in state["segment_performance"]],
            paired=_paired(state.get("paired")),  # absent from states written before shadow mode
        )


def _merged_estimation(a: EstimatorWindow | None, b: EstimatorWindow | None) -> EstimatorWindow | None:
    """The estimation sums of two partitions' shares of a window; None unless both have them, from
    the same estimator (an estimate over part of the window's rows would pass for one over all of
    them; shares of a window open across a baseline swap may hold different estimators)."""
    if a is None or b is None or type(a) is not type(b):
        return None
    if a.estimator is not b.estimator and a.estimator.to_state() != b.estimator.to_state():
        return None
    return a.merge(b)  # type: ignore[arg-type]


def _reconstruction(
    state: dict[str, Any] | None, pca: PCAReconstruction | None
) -> ReconstructionWindow | None:
    return None if state is None or pca is None else ReconstructionWindow.from_state(state, pca)


def _merge_reconstruction(
    a: ReconstructionWindow | None, b: ReconstructionWindow | None
) -> ReconstructionWindow | None:
    """Both partitions' errors; a partition without them (restored from a state written before
    them, or from another baseline) makes the window's incomplete, so it has none."""
    return None if a is None or b is None else a.merge(b)


def _merged_segments(a: SegmentProfiles | None, b: SegmentProfiles | None) -> SegmentProfiles | None:
    """The segment profiles of two partitions' shares of a window; None unless both have them, on
    the same segments (shares of a window open across a baseline swap may differ)."""
    if a is None or b is None or a.segment_map.labels != b.segment_map.labels:
        return None
    return a.merge(b)


def _merged_segment_performance(a: WindowState, b: WindowState) -> list[Performance] | None:
    """The per-segment performance of two partitions' shares of a window; None unless both have
    it, on the same segments."""
    if (
        a.segment_performance is None
        or b.segment_performance is None
        or a.segments is None
        or b.segments is None
    ):
        return None
    if a.segments.segment_map.labels != b.segments.segment_map.labels:
        return None
    return [x.merged(y) for x, y in zip(a.segment_performance, b.segment_performance, strict=True)]  # type: ignore[arg-type]


def _paired(state: dict[str, Any] | None) -> PairedWindow | None:
    if state is None:
        return None
    return PairedWindow.from_state(state["window"], ComparisonSpec.from_state(state["spec"]))


def _merged_paired(a: PairedWindow | None, b: PairedWindow | None) -> PairedWindow | None:
    """The paired sums of two partitions' shares of a candidate window. A share without them (a
    partition that has not seen the candidate's predictions yet) adds nothing; shares on different
    specs (the baseline version's baseline rebuilt while the window was open) keep the first."""
    if a is None and b is None:
        return None
    if a is None or b is None or a.spec != b.spec:
        first = a if a is not None else b
        assert first is not None
        return first.merge(PairedWindow(first.spec))  # a copy: the merge shares nothing
    return a.merge(b)
