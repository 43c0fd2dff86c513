"""`Monitor`: the streaming core. Routes decoded batches by (model, version), updates window
sketches, joins outcomes to predictions, and evaluates windows when they close.

Pure with respect to time and I/O: timestamps come from the events, `now` is passed in,
and nothing here reads a clock, a socket or a file. The service (monitor/service.py)
wraps it with sources, a scheduler, locks and exporters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.baseline import Baseline
from monitor.config import DriftlineConfig, ModelConfig
from monitor.counters import Counters
from monitor.detectors import ErrorLevelDetector, ErrorRateDetector
from monitor.evaluate import evaluate
from monitor.events import OutcomeBatch, PredictionBatch
from monitor.join import JoinBuffer, Matches
from monitor.performance import LabelDelayHistogram, performance_metrics
from monitor.reservoir import keys_from_ids
from monitor.results import PerformanceReport, WindowResult
from monitor.windows import WindowState, add_pairs, ms_to_datetime, running_watermark, window_starts


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


def _ms(duration: Any) -> int:
    return int(duration.total_seconds() * 1000)


@dataclass
class VersionStream:
    """The live state of one (model, version)."""

    config: ModelConfig
    baseline: Baseline
    windows: dict[int, WindowState] = field(default_factory=dict)
    watermark: int = -1  # largest prediction timestamp seen, ms
    detector: Any = None
    label_delay: LabelDelayHistogram = field(
        default_factory=LabelDelayHistogram
    )  # all windows, for Prometheus
    concept_alarm_window: int | None = None  # window of the prediction whose outcome raised the alarm

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
    def __init__(self, config: DriftlineConfig, baselines: Mapping[tuple[str, str], Baseline]) -> None:
        self.config = config
        self.models = {m.name: m for m in config.models}
        self.streams = {key: VersionStream(self.models[key[0]], b) for key, b in baselines.items()}
        self.joins = {m.name: JoinBuffer(_ms(m.outcome_ttl)) for m in config.models}
        self.counters = Counters()

    @property
    def known_versions(self) -> dict[str, set[str]]:
        versions: dict[str, set[str]] = {m: set() for m in self.models}
        for model, version in self.streams:
            versions[model].add(version)
        return versions

    # ------------------------------------------------------------------ ingestion

    def ingest(self, batch: Batch) -> None:
        """Predictions first, so an outcome in the same batch as its prediction joins it."""
        for predictions in batch.predictions.values():
            self._ingest_predictions(predictions)
        for outcomes in batch.outcomes.values():
            self._ingest_outcomes(outcomes)

    def _ingest_predictions(self, batch: PredictionBatch) -> None:
        labels = {"model": batch.model, "model_version": batch.model_version}
        stream = self.streams[(batch.model, batch.model_version)]
        join = self.joins[batch.model]
        ids = batch.prediction_id.tolist()
        fresh = join.new_ids(ids)
        self.counters.inc("predictions", len(ids), **labels)
        self.counters.inc("duplicate_predictions", int((~fresh).sum()), **labels)
        starts = window_starts(batch.timestamp, stream.window_ms)
        seen_before = running_watermark(batch.timestamp, stream.watermark)
        late = starts + stream.window_ms + stream.lateness_ms <= seen_before
        self.counters.inc("late_predictions", int((late & fresh).sum()), **labels)
        keep = fresh & ~late
        if len(batch.timestamp):
            stream.watermark = max(stream.watermark, int(batch.timestamp.max()))
        for start in np.unique(starts[keep]).tolist():
            rows = np.flatnonzero(keep & (starts == start))
            window = self._window(stream, batch.model_version, start)
            window.sketch.update(
                {name: column[rows] for name, column in batch.features.items()},
                batch.prediction[rows],
                batch.score[rows],
                keys_from_ids(batch.prediction_id[rows]),
            )
            window.changed = True
            join.add(
                batch.model_version,
                start,
                window.end,
                batch.prediction_id[rows],
                batch.timestamp[rows],
                batch.prediction[rows],
                batch.score[rows],
            )
        self._close_windows(stream)
        self._expire(batch.model)

    def _window(self, stream: VersionStream, version: str, start: int) -> WindowState:
        window = stream.windows.get(start)
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
            )
            stream.windows[start] = window
        return window

    def _close_windows(self, stream: VersionStream) -> None:
        for window in stream.windows.values():
            if not window.closed and window.end + stream.lateness_ms <= stream.watermark:
                window.closed = window.changed = True

    def _ingest_outcomes(self, batch: OutcomeBatch) -> None:
        join = self.joins[batch.model]
        result = join.match(batch.prediction_id.tolist(), batch.timestamp)
        labels = {"model": batch.model}
        self.counters.inc("outcomes", len(batch), **labels)
        self.counters.inc("unmatched_outcomes", result.unknown, reason="unknown_prediction", **labels)
        self.counters.inc("unmatched_outcomes", result.expired, reason="expired_prediction", **labels)
        self.counters.inc("unmatched_outcomes", result.duplicate, reason="duplicate_outcome", **labels)
        errors: list[tuple[NDArray[np.int64], NDArray[np.float64], VersionStream, int]] = []
        for match in result.matches:
            stream = self.streams[(batch.model, match.version)]
            self.counters.inc(
                "joined", len(match.outcome_rows), model=batch.model, model_version=match.version
            )
            errors.append(
                (match.outcome_rows, self._join_window(stream, match, batch), stream, match.window_start)
            )
        self._feed_detectors(errors)
        self._expire(batch.model)

    def _join_window(self, stream: VersionStream, match: Matches, batch: OutcomeBatch) -> NDArray[np.float64]:
        """Add joined pairs to their prediction's window; return the per-pair errors."""
        window = stream.windows[match.window_start]
        truth = batch.outcome[match.outcome_rows]
        add_pairs(window.performance, truth, match.prediction, match.score)
        window.sketch.update_target(truth)
        delay_s = (batch.timestamp[match.outcome_rows] - match.prediction_timestamp) / 1000.0
        window.label_delay.update(delay_s)
        stream.label_delay.update(delay_s)
        window.changed = True
        if stream.config.task == "classification":
            return (truth != match.prediction).astype(np.float64)
        return np.abs(truth.astype(np.float64) - match.prediction.astype(np.float64))

    def _feed_detectors(
        self, errors: list[tuple[NDArray[np.int64], NDArray[np.float64], VersionStream, int]]
    ) -> None:
        """Feed errors to each stream's detector in the order the outcomes arrived."""
        by_stream: dict[int, list[tuple[NDArray[np.int64], NDArray[np.float64], int]]] = {}
        streams: dict[int, VersionStream] = {}
        for rows, err, stream, start in errors:
            by_stream.setdefault(id(stream), []).append((rows, err, start))
            streams[id(stream)] = stream
        for key, parts in by_stream.items():
            stream = streams[key]
            if not stream.config.concept_drift.enabled:
                continue
            rows = np.concatenate([p[0] for p in parts])
            order = np.argsort(rows, kind="stable")
            values = np.concatenate([p[1] for p in parts])[order]
            starts = np.concatenate([np.full(len(p[0]), p[2], np.int64) for p in parts])[order]
            already = stream.detector.drift_detected
            before = stream.detector.n_seen
            stream.detector.update_many(values)
            if not already and stream.detector.drift_detected:
                at = stream.detector.alarm_index - before
                stream.concept_alarm_window = int(starts[min(max(at, 0), len(starts) - 1)])

    def _expire(self, model: str) -> None:
        for (version, start), waiting in self.joins[model].expire().items():
            stream = self.streams[(model, version)]
            window = stream.windows.get(start)
            self.counters.inc("expired_predictions", waiting, model=model, model_version=version)
            if window is not None:
                window.expired += waiting
                window.closed = window.final = window.changed = True

    # ------------------------------------------------------------------ evaluation

    def collect_due(self, flush: bool = False) -> list[tuple[VersionStream, WindowState]]:
        """Snapshots of windows to evaluate; drops windows whose last evaluation is final.

        `flush=True` closes every window (end of a finite input)."""
        due = []
        for stream in self.streams.values():
            for start, window in sorted(stream.windows.items()):
                if flush and not window.closed:
                    window.closed = window.changed = True
                if window.closed and window.changed:
                    window.changed = False
                    due.append((stream, window.snapshot()))
                if window.final:
                    del stream.windows[start]
        return due

    def evaluate_window(self, stream: VersionStream, window: WindowState, now: datetime) -> WindowResult:
        """Evaluate a snapshot (safe to run while ingestion goes on)."""
        cfg = stream.config
        start, end = ms_to_datetime(window.start), ms_to_datetime(window.end)
        drift = evaluate(window.sketch, stream.baseline, cfg, start, end)
        return WindowResult(
            model=cfg.name,
            model_version=window.version,
            window_start=start,
            window_end=end,
            final=window.final,
            drift=drift,
            performance=self._performance(stream, window),
            concept_drift=bool(stream.detector.drift_detected) if cfg.concept_drift.enabled else False,
            concept_drift_window=(
                ms_to_datetime(stream.concept_alarm_window)
                if stream.concept_alarm_window is not None
                else None
            ),
            expired_predictions=window.expired,
            label_delay=window.label_delay,
            evaluated_at=now,
        )

    def _performance(self, stream: VersionStream, window: WindowState) -> PerformanceReport:
        cfg = stream.config
        metrics = performance_metrics(window.performance)
        reference = stream.baseline.reference_performance or {}
        n = int(metrics.get("n") or 0)
        degraded = False
        if n >= cfg.performance.min_pairs:
            if cfg.task == "classification":
                acc, ref = metrics.get("accuracy"), reference.get("accuracy")
                degraded = (
                    acc is not None and ref is not None and acc < ref - cfg.performance.max_accuracy_drop
                )
            else:
                mae, ref = metrics.get("mae"), reference.get("mae")
                degraded = (
                    mae is not None and ref is not None and mae > ref * (1 + cfg.performance.max_mae_increase)
                )
        return PerformanceReport(n_pairs=n, metrics=metrics, reference=reference, degraded=degraded)

    def evaluate_due(self, now: datetime, flush: bool = False) -> list[WindowResult]:
        return [self.evaluate_window(stream, window, now) for stream, window in self.collect_due(flush)]
