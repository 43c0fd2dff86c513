"""`Monitor`: the streaming core. Routes decoded batches by (model, version), updates window
sketches, joins outcomes to predictions, and evaluates windows when they close. Each group of a
batch goes in whole or not at all (monitor.pipeline.savepoint).

Pure with respect to time and I/O: timestamps come from the events, `now` is passed in,
and nothing here reads a clock, a socket or a file. The service (monitor/service.py)
wraps it with sources, a scheduler, locks and exporters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.baselines.baseline import Baseline
from monitor.config import DriftlineConfig, ModelConfig
from monitor.core.comparison import ComparisonSpec
from monitor.core.error_buckets import ErrorBuckets
from monitor.core.estimation.stored import add_rows
from monitor.core.performance import LabelDelayHistogram
from monitor.core.reservoir import keys_from_ids
from monitor.pipeline.counters import Counters
from monitor.pipeline.events import OutcomeBatch, PredictionBatch
from monitor.pipeline.join import NO_SEGMENT, JoinBuffer, JoinRules, Matches
from monitor.pipeline.savepoint import Savepoint
from monitor.pipeline.windows import WindowState, add_pairs, running_watermark, window_starts

KEEP_BUCKETS = 60


def shadow_namespace(model: str, version: str) -> str:
    """The join namespace of a shadow candidate version's predictions: a name no model can have
    (model names match ^[A-Za-z0-9_.-]+$), so its rows never meet the model's own in the store."""
    return f"{model}/shadow/{version}"


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


def error_buckets(config: ModelConfig) -> ErrorBuckets:
    """The empty error-stream summaries of a model version in one partition. Buckets are kept
    KEEP_BUCKETS buckets past the evaluator's lateness, so they are normally sealed and read, with
    their time, before they are folded into the partition's `dropped` summary (pairs read from
    there count once all the same, dated at the next bucket sealed: a backlog replayed faster than
    an hour of outcome time per evaluation pass is dated coarsely)."""
    settings = config.concept_drift
    bucket = _ms(settings.bucket)
    return ErrorBuckets(bucket, _ms(settings.lateness) + KEEP_BUCKETS * bucket)


def _ms(duration: Any) -> int:
    return int(duration.total_seconds() * 1000)


def join_rules(config: ModelConfig) -> JoinRules:
    return JoinRules(
        ttl_ms=_ms(config.outcome_ttl),
        lateness_ms=_ms(config.allowed_lateness),
        window_ms=_ms(config.window),
        dedup_ms=_ms(config.dedup_horizon),
        read_ahead_ms=_ms(config.read_ahead),
        numeric=config.task == "regression",
    )


@dataclass
class VersionStream:
    """The live state of one (model, version)."""

    config: ModelConfig
    baseline: Baseline
    windows: dict[int, WindowState] = field(default_factory=dict)
    watermark: int = -1  # second-largest prediction timestamp seen, ms (windows.running_watermark)
    latest: int = -1  # largest prediction timestamp seen, ms: one message alone moves no watermark
    label_delay: LabelDelayHistogram = field(
        default_factory=LabelDelayHistogram
    )  # all windows, for Prometheus
    # The joined error stream per minute of outcome time, for the evaluator's concept-drift CUSUM
    # (monitor.evaluation.concept merges every partition's).
    errors: ErrorBuckets = field(init=False)

    def __post_init__(self) -> None:
        self.errors = error_buckets(self.config)

    def to_state(self) -> dict[str, Any]:
        """The stream's own state; its windows are stored one by one (monitor.pipeline.partition_state)."""
        return {
            "watermark": self.watermark,
            "latest": self.latest,
            "label_delay": self.label_delay.to_state(),
            "errors": self.errors.to_state(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.watermark = int(state["watermark"])
        self.latest = int(state.get("latest", self.watermark))  # states before it: the largest
        self.label_delay = LabelDelayHistogram.from_state(state["label_delay"])
        # A checkpoint from before the error buckets (it held a partition-local detector) has none.
        if "errors" in state:
            self.errors = ErrorBuckets.from_state(state["errors"], self.errors.bucket_ms, self.errors.keep_ms)

    @property
    def window_ms(self) -> int:
        return _ms(self.config.window)

    @property
    def lateness_ms(self) -> int:
        return _ms(self.config.allowed_lateness)


class Monitor:
    """The state of one input partition (the whole input when it is not partitioned): its
    windows, join buffer, error-stream buckets and counters. Partitions are independent; results
    merge them (monitor.evaluation.evaluator), and so does the concept-drift detector, which keeps
    per partition what it has read (hence `partition`, the input partition's number)."""

    def __init__(
        self, config: DriftlineConfig, baselines: Mapping[tuple[str, str], Baseline], partition: int = 0
    ) -> None:
        self.config = config
        self.partition = partition
        self.models = {m.name: m for m in config.models}
        self.streams = {key: VersionStream(self.models[key[0]], b) for key, b in baselines.items()}
        self.joins = {
            m.name: JoinBuffer(join_rules(m), cache_rows=config.state.join_cache) for m in config.models
        }
        # Shadow mode: model -> candidate version -> its join namespace, and the spec each
        # candidate's windows pair its predictions with the baseline version's on (from that
        # version's baseline, so the same in every partition).
        self.shadows: dict[str, dict[str, str]] = {}
        self.paired_specs: dict[tuple[str, str], ComparisonSpec] = {}
        for m in config.models:
            if m.comparison is None or m.comparison.mode != "shadow":
                continue
            reference = baselines.get((m.name, m.comparison.baseline))
            for version in m.comparison.candidates:
                namespace = shadow_namespace(m.name, version)
                self.shadows.setdefault(m.name, {})[version] = namespace
                self.joins[namespace] = JoinBuffer(join_rules(m), cache_rows=config.state.join_cache)
                if reference is not None:
                    self.paired_specs[(m.name, version)] = ComparisonSpec.of_reference(
                        reference.profile.prediction
                    )
        self.counters = Counters()
        # Each window's fingerprint when a checkpoint last wrote it (monitor.pipeline.partition_state).
        self.saved_windows: dict[tuple[str, str, int], tuple[int, ...]] = {}
        self._savepoint: Savepoint | None = None  # set while a group is ingested

    def join_watermarks(self) -> dict[str, tuple[int, int]]:
        """Per model, how far this partition's predictions and outcomes have been read (event time,
        ms): what an edge reading two topics paces the faster one by (monitor.pipeline.join)."""
        return {
            model: (self.joins[model].watermark, self.joins[model].outcome_watermark) for model in self.models
        }

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
        namespace = self._namespace(batch.model, batch.model_version)
        join = self.joins[namespace]
        self.counters.inc("predictions", len(batch), **labels)
        starts = window_starts(batch.timestamp, stream.window_ms)
        seen_before, watermark, latest = running_watermark(batch.timestamp, stream.watermark, stream.latest)
        # Late first: whether a replay of an old prediction is late does not depend on how long
        # its id is remembered (monitor.pipeline.join).
        late = starts + stream.window_ms + stream.lateness_ms <= seen_before
        self.counters.inc("late_predictions", int(late.sum()), **labels)
        keep = ~late
        if keep.any():
            keep[keep] = join.new_ids(batch.prediction_id[keep].tolist())
        self.counters.inc("duplicate_predictions", int((~late & ~keep).sum()), **labels)
        stream.watermark, stream.latest = watermark, latest
        joined: list[Matches] = []
        for start in np.unique(starts[keep]).tolist():
            rows = np.flatnonzero(keep & (starts == start))
            window = self._window(stream, batch.model_version, start)
            features = {name: column[rows] for name, column in batch.features.items()}
            prediction, score = batch.prediction[rows], batch.score[rows]
            window.sketch.update(features, prediction, score, keys_from_ids(batch.prediction_id[rows]))
            if window.estimation is not None:
                add_rows(window.estimation, features, prediction, score)
            if window.reconstruction is not None:
                window.reconstruction.update(features)
            codes = np.full(len(rows), NO_SEGMENT, np.int64)
            if window.segments is not None:
                window.segments.update(features, batch.segment[rows])
                codes = window.segments.segment_map.codes(batch.segment[rows])
            answered_late = 0
            for code in np.unique(codes).tolist():
                part = rows[codes == code]  # the join keeps each segment's predictions apart
                early, late_answers = join.add(
                    batch.model_version,
                    start,
                    window.end,
                    batch.prediction_id[part],
                    batch.timestamp[part],
                    batch.prediction[part],
                    batch.score[part],
                    code,
                )
                answered_late += late_answers
                if early is not None:
                    joined.append(replace(early, order=part[early.order]))
            if namespace == batch.model:  # the outcome counts once, in the model's own namespace
                self.counters.inc(
                    "unmatched_outcomes", answered_late, reason="expired_prediction", model=batch.model
                )
        if len(batch.timestamp):
            join.saw_predictions(int(batch.timestamp.max()))
        self._join(batch.model, joined)
        self._pair_predictions(
            batch.model,
            batch.model_version,
            batch.prediction_id[keep],
            batch.timestamp[keep],
            batch.prediction[keep],
        )
        self._advance_errors(batch.model)
        self._close_windows(stream)
        self._expire(batch.model)

    def _namespace(self, model: str, version: str) -> str:
        return self.shadows.get(model, {}).get(version, model)

    def _pair_predictions(
        self, model: str, version: str, ids: NDArray[Any], ts: NDArray[np.int64], prediction: NDArray[Any]
    ) -> None:
        """Shadow mode: pair newly accepted predictions with the other version's still pending for
        the same ids. Whichever of the two comes second adds the pair, to the window of the
        candidate prediction's timestamp; one whose partner was joined, answered or expired first
        (its prediction is no longer kept) is not paired."""
        shadows = self.shadows.get(model)
        comparison = self.models[model].comparison
        if not shadows or comparison is None or not len(ids):
            return
        id_list = ids.tolist()
        if version in shadows:  # a candidate: the baseline version's pending predictions
            pending = self.joins[model].pending_predictions(id_list)
            rows = [
                i
                for i, pid in enumerate(id_list)
                if pid in pending and pending[pid][0] == comparison.baseline
            ]
            baseline = [pending[id_list[i]][2] for i in rows]
            self._add_agreement(model, version, ts[rows], baseline, prediction[rows])
        elif version == comparison.baseline:
            for candidate, namespace in shadows.items():
                pending = self.joins[namespace].pending_predictions(id_list)
                rows = [i for i, pid in enumerate(id_list) if pid in pending]
                at = np.array([pending[id_list[i]][1] for i in rows], dtype=np.int64)
                shadow = [pending[id_list[i]][2] for i in rows]
                self._add_agreement(model, candidate, at, prediction[rows], shadow)

    def _add_agreement(self, model: str, candidate: str, ts: NDArray[np.int64], a: Column, b: Column) -> None:
        """Add the pairs (candidate prediction time `ts`, baseline prediction `a`, candidate
        prediction `b`) to the candidate's windows."""
        stream = self.streams[(model, candidate)]
        keep = _pairable(stream.config.task, a, b)
        if not keep.any():
            return
        ts, a_kept, b_kept = ts[keep], _column(_kept(a, keep), stream), _column(_kept(b, keep), stream)
        window_ms = stream.window_ms
        starts = ts - ts % window_ms
        for start in np.unique(starts).tolist():
            window = self._writable(stream, start)
            if window is not None and window.paired is not None:
                chosen = starts == start
                window.paired.add_predictions(a_kept[chosen], b_kept[chosen])

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
                stream.baseline.performance_estimator,
                stream.baseline.pca,
                stream.baseline.segment_profiles,
                self.paired_specs.get((cfg.name, version)),
            )
            stream.windows[start] = window
        return window

    def _close_windows(self, stream: VersionStream) -> None:
        for window in stream.windows.values():
            if not window.closed and window.end + stream.lateness_ms <= stream.watermark:
                window.closed = True

    def _ingest_outcomes(self, batch: OutcomeBatch) -> None:
        join = self.joins[batch.model]
        result = join.match(batch.prediction_id.tolist(), batch.timestamp, batch.outcome)
        labels = {"model": batch.model}
        self.counters.inc("outcomes", len(batch), **labels)
        self.counters.inc("unmatched_outcomes", result.expired, reason="expired_prediction", **labels)
        self.counters.inc("unmatched_outcomes", result.duplicate, reason="duplicate_outcome", **labels)
        self._join(batch.model, result.matches)
        ids, ts, outcome = batch.prediction_id.tolist(), batch.timestamp, batch.outcome
        for candidate, namespace in self.shadows.get(batch.model, {}).items():
            # Every outcome is the candidate's too. Unknown, expired or duplicate there, it is not
            # counted again: the model's own namespace counts it.
            shadow = self.joins[namespace].match(ids, ts, outcome)
            self._join(batch.model, shadow.matches)
            self._pair_outcomes(batch.model, candidate, result.matches, shadow.matches)
        self._advance_errors(batch.model)
        self._expire(batch.model)

    def _pair_outcomes(
        self, model: str, candidate: str, served: list[Matches], shadow: list[Matches]
    ) -> None:
        """Outcomes of one read that joined a prediction of the baseline version and one of the
        candidate: their paired evidence, in the candidate prediction's window."""
        comparison = self.models[model].comparison
        assert comparison is not None
        baseline_of = {
            int(at): pred
            for match in served
            if match.version == comparison.baseline
            for at, pred in zip(match.order.tolist(), match.prediction.tolist(), strict=True)
        }
        if not baseline_of:
            return
        stream = self.streams[(model, candidate)]
        for match in shadow:
            order = match.order.tolist()
            rows = [i for i, at in enumerate(order) if at in baseline_of]
            window = self._writable(stream, match.window_start) if rows else None
            if window is None or window.paired is None:
                continue
            a = [baseline_of[order[i]] for i in rows]
            b, y = match.prediction[rows], match.outcome[rows]
            keep = _pairable(stream.config.task, a, b, y)
            if keep.any():
                a_kept, b_kept, y_kept = (_column(_kept(c, keep), stream) for c in (a, b, y))
                window.paired.add_outcomes(a_kept, b_kept, y_kept)

    def _join(self, model: str, matches: list[Matches]) -> None:
        """Add joined pairs to their prediction's window, and their errors to the error buckets of
        their outcome time."""
        for match in matches:
            stream = self.streams[(model, match.version)]
            self.counters.inc("joined", len(match.order), model=model, model_version=match.version)
            pair_errors = self._join_window(stream, match)
            if stream.config.concept_drift.enabled:
                stream.errors.add(match.outcome_timestamp, pair_errors)

    def _advance_errors(self, model: str) -> None:
        """Move the error buckets of every version of `model` to the joined stream's time: the
        earlier of how far the predictions and the outcomes have been read. Pairs still to come have
        an outcome time past it (their prediction is still to be read, and an outcome follows its
        prediction), so buckets before it are complete whichever input a reader runs ahead on."""
        for (name, version), stream in self.streams.items():
            if name == model:
                join = self.joins[self._namespace(name, version)]
                stream.errors.advance(min(join.watermark, join.outcome_watermark))

    def _join_window(self, stream: VersionStream, match: Matches) -> NDArray[np.float64]:
        """Add joined pairs to their prediction's window; return the per-pair errors."""
        window = self._writable(stream, match.window_start)
        assert window is not None, "a joined prediction's window is kept until its segment expires"
        truth = match.outcome
        add_pairs(window.performance, truth, match.prediction, match.score)
        if window.segment_performance is not None and match.segment_code != NO_SEGMENT:
            add_pairs(window.segment_performance[match.segment_code], truth, match.prediction, match.score)
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
        # A shadow namespace's held outcomes that met no candidate prediction are not counted:
        # the model's own namespace counts each outcome once.
        expired = dict(expiry.predictions)
        for namespace in self.shadows.get(model, {}).values():
            expired.update(self.joins[namespace].expire().predictions)  # keyed by its own version
        for (version, start), waiting in expired.items():
            stream = self.streams[(model, version)]
            window = self._writable(stream, start)
            self.counters.inc("expired_predictions", waiting, model=model, model_version=version)
            if window is not None:
                window.expired += waiting
                window.closed = window.final = True

    def close_ended(self, key: tuple[str, str], until_ms: int) -> bool:
        """Close the windows of stream `key` whose end plus the allowed lateness is at or before
        `until_ms` (a quiet input: the service's idle close). Returns whether any closed. A window
        closed this way still takes rows that come after all and is evaluated again."""
        stream = self.streams[key]
        closed = False
        for window in stream.windows.values():
            if not window.closed and window.end + stream.lateness_ms <= until_ms:
                window.closed = closed = True
        return closed

    @property
    def closed_windows(self) -> int:
        """Windows held closed in this partition (a change wakes the evaluator)."""
        return sum(w.closed for s in self.streams.values() for w in s.windows.values())

    def close_all(self) -> None:
        """End of a finite input: every window is complete."""
        for stream in self.streams.values():
            for window in stream.windows.values():
                window.closed = True


Column = Sequence[Any] | NDArray[Any]


def _pairable(task: str, *columns: Column) -> NDArray[np.bool_]:
    """Per row, whether a pair (and its outcome) can be compared: labels present, numbers finite."""
    lists = [column.tolist() if isinstance(column, np.ndarray) else list(column) for column in columns]
    if task == "classification":
        keep = np.ones(len(lists[0]), dtype=bool)
        for values in lists:
            held = np.empty(len(values), dtype=object)
            held[:] = values
            keep &= (held != None) & (held == held)  # noqa: E711 (elementwise: None, and NaN != NaN)
        return keep
    keep = np.ones(len(lists[0]), dtype=bool)
    for values in lists:
        keep &= np.fromiter((isinstance(v, int | float) for v in values), bool, len(values))
    for values in lists:
        numbers = np.zeros(len(values))
        numbers[keep] = _kept(values, keep)
        keep &= np.isfinite(numbers)
    return keep


def _kept(column: Column, keep: NDArray[np.bool_]) -> list[Any]:
    values = column.tolist() if isinstance(column, np.ndarray) else column
    return [v for v, kept in zip(values, keep.tolist(), strict=True) if kept]


def _column(values: Sequence[Any], stream: VersionStream) -> NDArray[Any]:
    if stream.config.task == "regression":
        return np.asarray(values, dtype=np.float64)
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out
