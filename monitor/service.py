"""The running service: sources → decode → Monitor → evaluation → results and exporters.

Ingestion runs on the caller's thread; evaluation runs on an apscheduler worker, on every
window close and on a periodic tick. The monitor's state is touched under one lock, held
only to ingest a batch or to snapshot the windows due for evaluation; the evaluation
itself (the slow part) runs outside the lock, so a slow evaluation never holds up
ingestion.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from monitor.baseline import Baseline
from monitor.baseline_store import BaselineStore
from monitor.config import DriftlineConfig
from monitor.deadletter import DeadLetterSink
from monitor.errors import BaselineError
from monitor.events import Rejected, decode_outcomes, decode_predictions
from monitor.prometheus import StreamView
from monitor.result_store import ResultStore
from monitor.results import WindowResult
from monitor.sources import RawBatch, Source
from monitor.stream import Batch, Monitor

log = logging.getLogger("driftline.service")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def load_baselines(config: DriftlineConfig) -> dict[tuple[str, str], Baseline]:
    """The active baseline of every version of every configured model."""
    store = BaselineStore(config.baselines.path)
    baselines = {}
    for model in config.models:
        for version, baseline in store.load_all(model.name).items():
            baselines[(model.name, version)] = baseline
    if not baselines:
        names = ", ".join(m.name for m in config.models)
        raise BaselineError(
            f"no baselines under {config.baselines.path} for any configured model ({names}); "
            "build one with `driftline baseline build`"
        )
    return baselines


class Service:
    def __init__(
        self,
        config: DriftlineConfig,
        baselines: Mapping[tuple[str, str], Baseline],
        dead_letters: DeadLetterSink,
        results: ResultStore | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.config = config
        self.monitor = Monitor(config, baselines)
        self.dead_letters = dead_letters
        self.results = results or ResultStore(history=config.evaluation.history)
        self.clock = clock
        self.lock = threading.Lock()
        self._evaluation_lock = threading.Lock()  # one evaluation pass at a time, in order
        self.scheduler: BackgroundScheduler | None = None

    # ------------------------------------------------------------------ ingestion

    def handle(self, raw: RawBatch) -> None:
        """Decode, dead-letter what is invalid, ingest the rest; wake the evaluator if a window closed."""
        models = self.monitor.models
        max_bytes = self.config.sources.max_message_bytes
        predictions, rejected_p = decode_predictions(
            raw.predictions, models, self.monitor.known_versions, max_bytes
        )
        outcomes, rejected_o = decode_outcomes(raw.outcomes, models, max_bytes)
        self._reject(rejected_p, "predictions")
        self._reject(rejected_o, "outcomes")
        with self.lock:
            self.monitor.ingest(Batch(predictions, outcomes))
            due = self._has_due()
        if due and self.scheduler is not None:
            self.scheduler.add_job(self.evaluate, id="on-close", replace_existing=True)

    def _reject(self, rejected: list[Rejected], topic: str) -> None:
        if not rejected:
            return
        self.dead_letters.write(rejected)
        with self.lock:
            for r in rejected:
                self.monitor.counters.inc("rejected", reason=r.reason, topic=topic)

    def _has_due(self) -> bool:
        return any(w.closed and w.changed for s in self.monitor.streams.values() for w in s.windows.values())

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, flush: bool = False) -> list[WindowResult]:
        with self._evaluation_lock:
            with self.lock:
                due = self.monitor.collect_due(flush)
            now = self.clock()
            results = [self.monitor.evaluate_window(stream, window, now) for stream, window in due]
            for result in results:
                self.results.add(result)
            return results

    def view(self) -> StreamView:
        """A consistent copy of counters and stream state for the Prometheus collector."""
        with self.lock:
            streams = self.monitor.streams
            return StreamView(
                counters=self.monitor.counters.merge(type(self.monitor.counters)()),
                label_delays={
                    k: s.label_delay.merged(type(s.label_delay)(s.label_delay.bounds))
                    for k, s in streams.items()
                },
                min_pairs={m.name: m.performance.min_pairs for m in self.config.models},
                concept_drift={k: bool(s.detector.drift_detected) for k, s in streams.items()},
            )

    # ------------------------------------------------------------------ lifecycle

    def start_scheduler(self) -> None:
        scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        scheduler.add_job(
            self.evaluate, "interval", seconds=self.config.evaluation.interval.total_seconds(), id="tick"
        )
        scheduler.start()
        self.scheduler = scheduler

    def stop_scheduler(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None

    def run(self, sources: Iterable[Source], stop: threading.Event, flush_at_end: bool = True) -> None:
        """Read every source until it ends or `stop` is set, finishing the batch in hand."""
        try:
            for source in sources:
                for raw in source.batches(stop):
                    self.handle(raw)
                    if stop.is_set():
                        break
                if stop.is_set():
                    break
        finally:
            self.dead_letters.flush()
        if flush_at_end:
            self.evaluate(flush=not stop.is_set())
