"""`Monitor`: the streaming core. Routes decoded batches by (model, version), updates window
sketches, joins outcomes to predictions, and evaluates windows when they close. Each group of a
batch goes in whole or not at all (monitor.pipeline.savepoint).

Pure with respect to time and I/O: timestamps come from the events, `now` is passed in,
and nothing here reads a clock, a socket or a file. The service (monitor/service.py)
wraps it with sources, a scheduler, locks and exporters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from monitor.baselines.baseline import Baseline
from monitor.config import DriftlineConfig, ModelConfig
from monitor.core.detectors import ErrorLevelDetector, ErrorRateDetector
from monitor.core.performance import LabelDelayHistogram
from monitor.core.reservoir import keys_from_ids
from monitor.pipeline.counters import Counters
from monitor.pipeline.events import OutcomeBatch, PredictionBatch
from monitor.pipeline.join import JoinBuffer, Matches
from monitor.pipeline.savepoint import Savepoint
from monitor.pipeline.windows import WindowState, add_pairs, running_watermark, window_starts


@dataclass(frozen=True)
class GroupFailure:
    """A group of a batch (the predictions of one model version, or the outcomes of one model:
    `model_version` None) whose ingest raised, and was undone."""

    model: str
    model_version: str | None
    error: Exception


@dataclass
class Batch:
    """One decoded batch: predictions by (model, version), outcomes by model."""

    predictions: Mapping[tuple[str, str], PredictionBatch] = field(default_factory=dict)
    outcomes: Mapping[str, OutcomeBatch] = field(default_factory=dict)


def new_detector(
    config: ModelConfig, reference: Mapping[str, float | None] | None
) -> ErrorRateDetector | ErrorLevelDetector:
    """The concept-drift detector of a model, calibrated on the baseline's reference performance
    (or, without one, on the first outcomes it sees)."""
    settings = config.concept_drift
    reference = reference or {}
    if config.task == "classification":
        accuracy = reference.get("accuracy")
        p0 = None if accuracy is None else 1.0 - accuracy
        return ErrorRateDetector(
            p0,
            min_increase=settings.min_increase or 0.05,
            false_alarm_prob=settings.false_alarm_prob,
            horizon=settings.horizon,
        )
    mae, spread = reference.get("mae"), reference.get("abs_error_std")
    if not mae or not spread:
        mae = spread = None  # estimate both from the first outcomes
    return ErrorLevelDetector(
        mae,
        spread,
        min_increase=settings.min_increase or 0.2,
        false_alarm_prob=settings.false_alarm_prob,
        horizon=settings.horizon,
    )


def _stream_time_at(
    pairs: list[Matches], order: NDArray[np.int64], at: int, predictions_read: int, outcomes_read: int
) -> int:
    """Event time of the joined stream at the `at`-th pair (in arrival `order`): the earlier of how
    far each input had been read by then (what was read before the batch, plus this batch's pairs
    up to that one)."""
    upto = order[: at + 1]
    predicted = np.concatenate([p.prediction_timestamp for p in pairs])[upto]
    outcome = np.concatenate([p.outcome_timestamp for p in pairs])[upto]
    return min(max(predictions_read, int(predicted.max())), max(outcomes_read, int(outcome.max())))


def _ms(duration: Any) -> int:
    return int(duration.total_seconds() * 1000)


@dataclass
class VersionStream:
    """The live state of one (model, version)."""

    config: ModelConfig
    baseline: Baseline
    windows: dict[int, WindowState] = field(default_factory=dict)
    watermark: int = -1  # second-largest prediction timestamp seen, ms (windows.running_watermark)
    latest: int = -1  # largest prediction timestamp seen, ms: one message alone moves no watermark
    detector: Any = None
    label_delay: LabelDelayHistogram = field(
        default_factory=LabelDelayHistogram
    )  # all windows, for Prometheus
    # When the detector alarmed, in the event time of the joined stream (ms): at the pair that
    # tipped it, the earlier of how far the predictions and how far the outcomes had been read.
    # Read in time order that is the outcome time of that pair; read with one input far ahead of
    # the other (a consumer's fetches), the lagging input dates it, so the date does not move
    # with the reader. The tipping pair's own times would: its outcome may come hours late.
    concept_alarm_at: int | None = None

    def to_state(self) -> dict[str, Any]:
        return {
            "windows": [w.to_state() for _, w in sorted(self.windows.items())],
            "watermark": self.watermark,
            "latest": self.latest,
            "detector": self.detector.to_state(),
            "label_delay": self.label_delay.to_state(),
            "concept_alarm_at": self.concept_alarm_at,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.windows = {int(w["start"]): WindowState.from_state(w) for w in state["windows"]}
        self.watermark = int(state["watermark"])
        self.latest = int(state.get("latest", self.watermark))  # states before it: the largest
        self.detector = type(self.detector).from_state(state["detector"])
        self.label_delay = LabelDelayHistogram.from_state(state["label_delay"])
        self.concept_alarm_at = state["concept_alarm_at"]

    def __post_init__(self) -> None:
        if self.detector is None:
            self.detector = new_detector(self.config, self.baseline.reference_performance)

    @property
    def window_ms(self) -> int:
        return _ms(self.config.window)

    @property
    def lateness_ms(self) -> int:
        return _ms(self.config.allowed_lateness)


class Monitor:
    """The state of one input partition (the whole input when it is not partitioned): its
    windows, join buffer, detectors and counters. Partitions are independent; results merge
    them (monitor.evaluation.evaluator)."""

    def __init__(self, config: DriftlineConfig, baselines: Mapping[tuple[str, str], Baseline]) -> None:
        self.config = config
        self.models = {m.name: m for m in config.models}
        self.streams = {key: VersionStream(self.models[key[0]], b) for key, b in baselines.items()}
        self.joins = {m.name: JoinBuffer(_ms(m.outcome_ttl)) for m in config.models}
        self.counters = Counters()
        self._savepoint: Savepoint | None = None  # set while a group is ingested

    @property
    def known_versions(self) -> dict[str, set[str]]:
        versions: dict[str, set[str]] = {m: set() for m in self.models}
        for model, version in self.streams:
            versions[model].add(version)
        return versions

    # ------------------------------------------------------------------ ingestion

    def ingest(self, batch: Batch) -> list[GroupFailure]:
        """Predictions first, so an outcome in the same batch as its prediction joins it. Each group
        (the predictions of one model version, the outcomes of one model) goes in whole or not at
        all (monitor.pipeline.savepoint): one that raises is undone and returned, the others go in."""
        failures: list[GroupFailure] = []
        for (model, version), predictions in batch.predictions.items():
            failures += self._all_or_nothing(model, version, self._ingest_predictions, predictions)
        for model, outcomes in batch.outcomes.items():
            failures += self._all_or_nothing(model, None, self._ingest_outcomes, outcomes)
        return failures

    def _all_or_nothing(
        self, model: str, version: str | None, ingest: Callable[[Any], None], group: Any
    ) -> list[GroupFailure]:
        self._savepoint = Savepoint(self, model)
        try:
            ingest(group)
        except Exception as error:  # a bug: every value the decoder admits is one that ingests
            self._savepoint.undo()
            return [GroupFailure(model, version, error)]
        finally:
            self._savepoint = None
        return []

    def _writable(self, stream: VersionStream, start: int) -> WindowState | None:
        """The window of `stream` at `start`, about to change (None if it does not exist yet)."""
        if self._savepoint is None:
            return stream.windows.get(start)
        window: WindowState | None = self._savepoint.writable(stream, start)
        return window

    def _ingest_predictions(self, batch: PredictionBatch) -> None:
        labels = {"model": batch.model, "model_version": batch.model_version}
        stream = self.streams[(batch.model, batch.model_version)]
        join = self.joins[batch.model]
        fresh = join.new_ids(batch.prediction_id.tolist())
        self.counters.inc("predictions", len(batch), **labels)
        self.counters.inc("duplicate_predictions", int((~fresh).sum()), **labels)
        starts = window_starts(batch.timestamp, stream.window_ms)
        seen_before, watermark, latest = running_watermark(batch.timestamp, stream.watermark, stream.latest)
        late = starts + stream.window_ms + stream.lateness_ms <= seen_before
        self.counters.inc("late_predictions", int((late & fresh).sum()), **labels)
        keep = fresh & ~late
        read_before = stream.watermark  # how far the predictions were read before this batch
        stream.watermark, stream.latest = watermark, latest
        joined: list[Matches] = []
        for start in np.unique(starts[keep]).tolist():
            rows = np.flatnonzero(keep & (starts == start))
            window = self._window(stream, batch.model_version, start)
            window.sketch.update(
                {name: column[rows] for name, column in batch.features.items()},
                batch.prediction[rows],
                batch.score[rows],
                keys_from_ids(batch.prediction_id[rows]),
            )
            early = join.add(
                batch.model_version,
                start,
                window.end,
                batch.prediction_id[rows],
                batch.timestamp[rows],
                batch.prediction[rows],
                batch.score[rows],
            )
            if early is not None:
                joined.append(replace(early, order=rows[early.order]))
        self._join(batch.model, joined, predictions_read=read_before, outcomes_read=join.outcome_watermark)
        self._close_windows(stream)
        self._expire(batch.model)

    def _window(self, stream: VersionStream, version: str, start: int) -> WindowState:
        window = self._writable(stream, start)
        if window is None:
            cfg = stream.config
            window = WindowState.open(
                version,
                start,
                start + stream.window_ms,
                stream.baseline.profile,
                cfg.task,
                cfg.window_sample,
                cfg.performance.positive_label,
                stream.baseline.id,
            )
            stream.windows[start] = window
        return window

    def _close_windows(self, stream: VersionStream) -> None:
        for window in stream.windows.values():
            if not window.closed and window.end + stream.lateness_ms <= stream.watermark:
                window.closed = True

    def _ingest_outcomes(self, batch: OutcomeBatch) -> None:
        join = self.joins[batch.model]
        read_before = join.outcome_watermark  # how far the outcomes were read before this batch
        result = join.match(batch.prediction_id.tolist(), batch.timestamp, batch.outcome)
        labels = {"model": batch.model}
        self.counters.inc("outcomes", len(batch), **labels)
        self.counters.inc("unmatched_outcomes", result.expired, reason="expired_prediction", **labels)
        self.counters.inc("unmatched_outcomes", result.duplicate, reason="duplicate_outcome", **labels)
        self._join(batch.model, result.matches, predictions_read=None, outcomes_read=read_before)
        self._expire(batch.model)

    def _join(
        self, model: str, matches: list[Matches], predictions_read: int | None, outcomes_read: int
    ) -> None:
        """Add joined pairs to their prediction's window, and their errors to the detectors in
        arrival order. `predictions_read` / `outcomes_read`: how far each input had been read
        before the batch that formed these pairs (None: as far as the stream's watermark)."""
        errors: dict[str, list[tuple[NDArray[np.int64], NDArray[np.float64], Matches]]] = {}
        for match in matches:
            stream = self.streams[(model, match.version)]
            self.counters.inc("joined", len(match.order), model=model, model_version=match.version)
            pair_errors = self._join_window(stream, match)
            errors.setdefault(match.version, []).append((match.order, pair_errors, match))
        for version, parts in errors.items():
            stream = self.streams[(model, version)]
            if not stream.config.concept_drift.enabled:
                continue
            order = np.argsort(np.concatenate([p[0] for p in parts]), kind="stable")
            values = np.concatenate([p[1] for p in parts])[order]
            already, before = stream.detector.drift_detected, stream.detector.n_seen
            stream.detector.update_many(values)
            if not already and stream.detector.drift_detected:
                at = min(max(stream.detector.alarm_index - before, 0), len(values) - 1)
                pairs = [p[2] for p in parts]
                read = (stream.watermark if predictions_read is None else predictions_read, outcomes_read)
                stream.concept_alarm_at = _stream_time_at(pairs, order, at, *read)

    def _join_window(self, stream: VersionStream, match: Matches) -> NDArray[np.float64]:
        """Add joined pairs to their prediction's window; return the per-pair errors."""
        window = self._writable(stream, match.window_start)
        assert window is not None, "a joined prediction's window is kept until its segment expires"
        truth = match.outcome
        add_pairs(window.performance, truth, match.prediction, match.score)
        window.sketch.update_target(truth)
        delay_s = (match.outcome_timestamp - match.prediction_timestamp) / 1000.0
        window.label_delay.update(delay_s)
        stream.label_delay.update(delay_s)
        if stream.config.task == "classification":
            return (truth != match.prediction).astype(np.float64)
        return np.abs(truth.astype(np.float64) - match.prediction.astype(np.float64))

    def _expire(self, model: str) -> None:
        expiry = self.joins[model].expire()
        self.counters.inc(
            "unmatched_outcomes", expiry.unknown_outcomes, reason="unknown_prediction", model=model
        )
        for (version, start), waiting in expiry.predictions.items():
            stream = self.streams[(model, version)]
            window = self._writable(stream, start)
            self.counters.inc("expired_predictions", waiting, model=model, model_version=version)
            if window is not None:
                window.expired += waiting
                window.closed = window.final = True

    def close_all(self) -> None:
        """End of a finite input: every window is complete."""
        for stream in self.streams.values():
            for window in stream.windows.values():
                window.closed = True

    # ------------------------------------------------------------------ checkpoints

    def snapshot(self) -> tuple[bytes, bytes]:
        """This partition's state as stored in a checkpoint (monitor.state): a small `windows` blob
        (windows, detectors, counters: what evaluators read) and a large `join` blob (every
        prediction waiting for its outcome)."""
        windows = {
            "streams": [[m, v, s.to_state()] for (m, v), s in sorted(self.streams.items())],
            "counters": self.counters.to_state(),
        }
        joins = {model: join.to_state() for model, join in sorted(self.joins.items())}
        return (
            orjson.dumps(windows, option=orjson.OPT_SERIALIZE_NUMPY),
            orjson.dumps(joins, option=orjson.OPT_SERIALIZE_NUMPY),
        )

    def restore(self, windows: bytes, join: bytes | None) -> None:
        """Load a checkpoint's blobs (`join=None`: windows only, as an evaluator reads a peer)."""
        state = orjson.loads(windows)
        for model, version, stream_state in state["streams"]:
            if (model, version) in self.streams:
                self.streams[(model, version)].load_state(stream_state)
        self.counters = Counters.from_state(state["counters"])
        if join is not None:
            self.joins = {model: JoinBuffer.from_state(s) for model, s in orjson.loads(join).items()}
