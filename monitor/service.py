"""The running service: sources → decode → Monitor → evaluation → results and exporters.

Ingestion runs on the caller's thread; evaluation runs on an apscheduler worker, on every
window close and on a periodic tick. The monitor's state is touched under one lock, held
only to ingest a batch or to snapshot the windows due for evaluation; the evaluation
itself (the slow part) runs outside the lock, so a slow evaluation never holds up
ingestion.

No message can stop it: `handle` dead-letters what the decoder rejects and what fails to ingest
(monitor.pipeline.quarantine), and never raises for a message, so the input offsets move past
it and a replay after a restart meets the same outcome. `evaluate` evaluates each due window on
its own: one that fails is recorded (monitor.evaluation.failures) and the others go on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client.registry import Collector

from monitor.baselines.baseline import Baseline
from monitor.baselines.store import BaselineStore
from monitor.clock import Clock, utc_now
from monitor.config import DriftlineConfig
from monitor.core.performance import LabelDelayHistogram
from monitor.errors import BaselineError
from monitor.evaluation.comparison import Peers
from monitor.evaluation.concept import StreamEpisodeEvent
from monitor.evaluation.evaluator import Due, Evaluator
from monitor.evaluation.failures import EvaluationErrors
from monitor.evaluation.result_store import ResultStore
from monitor.evaluation.results import ResultSink, WindowResult
from monitor.pipeline.counters import Counters
from monitor.pipeline.events import Rejected, decode_outcomes, decode_predictions
from monitor.pipeline.monitor import Batch, Monitor, VersionStream
from monitor.pipeline.quarantine import decode_isolated, group_rejects
from monitor.pipeline.raw_batch import RawBatch
from monitor.pipeline.windows import ms_to_datetime
from monitor.sinks.dead_letters import DeadLetterSink
from monitor.sinks.prometheus import StreamView

log = logging.getLogger("driftline.service")
# A window-close evaluation that finds the previous one still running is skipped on purpose
# (the running one, or the next tick, covers it): not worth a warning per batch.
logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)


def load_baselines(config: DriftlineConfig, required: bool = True) -> dict[tuple[str, str], Baseline]:
    """The active baseline of every version of every configured model; with `required`, at least
    one (a service may also start without, and take baselines uploaded through its API)."""
    store = BaselineStore(config.baselines.path)
    baselines = {}
    for model in config.models:
        for version, baseline in store.load_all(model.name).items():
            baselines[(model.name, version)] = baseline
    if not baselines and required:
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
        # One dict shared with the evaluator, so swap_baseline reaches both.
        self.baselines: dict[tuple[str, str], Baseline] = dict(baselines)
        self.partitions: dict[int, Monitor] = {0: Monitor(config, self.baselines)}
        self.evaluator = Evaluator(config, self.baselines)
        self.dead_letters = dead_letters
        self.results = results or ResultStore(
            history=config.evaluation.history, samples_kept=config.api.report_windows
        )
        self.evaluation_errors = EvaluationErrors()  # windows that could not be evaluated
        self.sinks: list[ResultSink] = []  # exporters and alerts, fed after every evaluation pass
        self.collectors: list[Collector] = []  # the sinks' own Prometheus metrics, served on /metrics
        # Input positions (file offsets) that partition 0's state reflects, updated with it under
        # the lock, so a checkpoint taken from any thread pairs state and positions consistently.
        self.positions: dict[str, int] = {}
        # Makes everything ingested so far durable (a checkpoint), or None where nothing can: set
        # by the embedded runner; the HTTP API calls it before it answers a POST of events.
        self.persist: Callable[[], None] | None = None
        # Shares an uploaded baseline (activated or not) with the other instances of the group,
        # or None where there is no state store: set by the runner (monitor.baseline_sharing).
        self.publish_baseline: Callable[[Baseline, bool], None] | None = None
        # Active and recent alerts as JSON documents, for the API; set by the alert engine.
        self.alert_snapshot: Callable[[], dict[str, list[dict[str, Any]]]] = lambda: {
            "active": [],
            "recent": [],
        }
        self.clock = clock
        # When each (partition, model, version) last got predictions (monotonic seconds), for the
        # idle close (evaluation.idle_close); a stream without any counts from when its partition's
        # state was first seen here (a partition restored or taken over in a rebalance has its
        # backlog still to read).
        self._arrived: dict[tuple[int, str, str], float] = {}
        self._held_since: dict[int, tuple[int, float]] = {}  # partition -> (id of its Monitor, since)
        self.lock = threading.Lock()
        self._evaluation_lock = threading.Lock()  # one evaluation pass at a time, in order
        self.scheduler: BackgroundScheduler | None = None
        # Partitions owned by other instances (read from the shared state store), and whether
        # this instance may evaluate now (one evaluator per group); set by the Kafka edge.
        self.peers: Callable[[], list[Monitor]] = list
        self.may_evaluate: Callable[[], bool] = lambda: True
        # name -> check, for /readyz; the edges add theirs (broker connection, state store).
        self.readiness_checks: dict[str, Callable[[], bool]] = {
            "baselines_loaded": lambda: bool(self.baselines)
        }
        # Set while the state in memory is the one to build on; see expect_state.
        self.state_loaded = threading.Event()
        self.state_loaded.set()

    def expect_state(self) -> None:
        """Mark the state as not loaded yet, until a runner sets `state_loaded` after restoring
        its checkpoint (consumers.runner; it clears it again when it stops). Call it before the
        HTTP API starts: meanwhile /readyz says not ready, and POST /events answers 503, because
        events taken before the restore would be overwritten by it."""
        self.state_loaded.clear()
        self.readiness_checks["state_loaded"] = self.state_loaded.is_set

    def readiness(self) -> dict[str, bool]:
        results = {}
        for name, check in self.readiness_checks.items():
            try:
                results[name] = bool(check())
            except Exception:  # a failing check means not ready, never a crashed endpoint
                results[name] = False
        return results

    # ------------------------------------------------------------------ ingestion

    @property
    def monitor(self) -> Monitor:
        """The state of partition 0: the whole input when it is not partitioned."""
        return self.partitions[0]

    def partition(self, number: int) -> Monitor:
        with self.lock:  # the evaluator lists the partitions from another thread
            monitor = self.partitions.get(number)
            if monitor is None:
                monitor = self.partitions[number] = Monitor(self.config, self.baselines, number)
            return monitor

    def handle(self, raw: RawBatch, partition: int = 0) -> list[Rejected]:
        """Decode, ingest what is valid, dead-letter and count the rest; wake the evaluator when
        a window closes. Returns the rejects (the Kafka edge forwards them to its topic)."""
        monitor = self.partition(partition)
        max_bytes = self.config.sources.max_message_bytes
        # Event time is bounded by the service's clock: a message from the future is a reject,
        # never a watermark (one such message would make every normal one after it late).
        not_after = int((self.clock() + self.config.sources.max_future).timestamp() * 1000)
        known = monitor.known_versions
        outcome_messages = raw.outcomes + raw.unsorted
        predictions, rejected_p = decode_isolated(
            lambda m: decode_predictions(m, monitor.models, known, max_bytes, not_after), raw.predictions
        )
        outcomes, rejected_o = decode_isolated(
            lambda m: decode_outcomes(m, monitor.models, max_bytes, not_after), outcome_messages
        )
        rejected = [replace(r, topic="predictions") for r in rejected_p]
        sorted_outcomes = len(raw.outcomes)
        rejected += [
            replace(r, topic="outcomes" if r.position < sorted_outcomes else "mixed") for r in rejected_o
        ]
        failed, _ = self.ingest(
            Batch(predictions, outcomes),
            rejected,
            partition,
            raw.positions,
            (raw.predictions, outcome_messages),
        )
        return rejected + failed

    def ingest(
        self,
        batch: Batch,
        rejected: list[Rejected],
        partition: int = 0,
        positions: dict[str, int] | None = None,
        raws: tuple[Sequence[bytes], Sequence[bytes]] | None = None,
    ) -> tuple[list[Rejected], bool]:
        """Ingest decoded events, dead-letter and count the rejects (their `topic` set), and wake
        the evaluator when a window closes. `handle` decodes raw messages into this; a replay of a
        columnar file builds the batches itself. Never raises for a message: a group that fails is
        undone and dead-lettered as internal_error (with its original bytes when `raws`, the
        predictions and outcomes the batch was decoded from, are given), and the offsets move on,
        so replaying it after a restart cannot fail the service. Returns those internal_error
        rejects and whether a window closed."""
        monitor = self.partition(partition)
        if rejected:
            self.dead_letters.write(rejected)
        with self.lock:
            closed_before = monitor.closed_windows
            failures = monitor.ingest(batch)
            arrived = time.monotonic()
            for model, version in batch.predictions:
                self._arrived[(partition, model, version)] = arrived
            failed = group_rejects(failures, batch.predictions, batch.outcomes, *(raws or (None, None)))
            if positions:
                self.positions.update(positions)
            for r in rejected + failed:
                monitor.counters.inc("rejected", reason=r.reason, topic=r.topic)
            closed = monitor.closed_windows != closed_before
        for failure in failures:
            log.error(
                "ingesting %s of model %s%s failed; dead-lettered as internal_error",
                "outcomes" if failure.model_version is None else "predictions",
                failure.model,
                "" if failure.model_version is None else f" version {failure.model_version}",
                exc_info=failure.error,
            )
        if failed:
            self.dead_letters.write(failed)
        if closed and self.scheduler is not None:
            self.scheduler.add_job(self.evaluate, id="on-close", replace_existing=True)
        return failed, closed

    def swap_baseline(self, baseline: Baseline) -> Baseline | None:
        """Make `baseline` active for its (model, version) in the running service, atomically with
        respect to ingestion and evaluation; returns the baseline it replaced. Windows opened from
        now on use the new one's bins; windows already open keep the one they were built on until
        they are final. A new version starts being accepted at once."""
        key = (baseline.model, baseline.model_version)
        model = self.config.model(baseline.model)
        with self._evaluation_lock, self.lock:
            old = self.baselines.get(key)
            for monitor in self.partitions.values():
                stream = monitor.streams.get(key)
                if stream is None:
                    monitor.streams[key] = VersionStream(model, baseline)
                    continue
                stream.baseline = baseline  # its open windows keep their baseline_id
            if old is not None:
                self.evaluator.remember(old)
            self.baselines[key] = baseline
        return old

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, flush: bool = False) -> list[WindowResult]:
        """Evaluate what changed; `flush=True` first closes every window (end of a finite input)."""
        if not self.may_evaluate():
            self._drop_reported_finals()
            return []
        peers = self.peers()
        with self._evaluation_lock:
            with self.lock:
                partitions = list(self.partitions.values()) + peers
                if flush:
                    for monitor in partitions:
                        monitor.close_all()
                else:
                    self._close_quiet()
                errors = self.evaluator.concept.collect(partitions)
            # Outside the lock: it reads and writes its state in the store (monitor.evaluation.concept).
            self.evaluator.concept.advance(errors, self._publish_episodes, final=flush)
            with self.lock:
                due = self.evaluator.due(partitions)
                versions = self.evaluator.comparison.peer_predictions(
                    partitions, [(d.model, d.version, d.window) for d in due]
                )
                self.evaluator.drop_final(partitions)
            now = self.clock()
            results = [r for r in (self._evaluate_one(d, now) for d in due) if r is not None]
            # Outside the lock, as concept drift: it reads and writes its state in the store.
            results = self._compare(results, versions, now)
            for result in results:
                self.results.add(result)
            if results:
                self._publish(results)
            return results

    def _drop_reported_finals(self) -> None:
        """An instance that does not evaluate (another holds the group's lock) still owns
        partitions: it lets go of a window that is final there once the evaluating instance's
        final result for it has reached this instance's results (consumers.runner.shared_results),
        as the evaluating instance does after its final evaluation (Evaluator.drop_final).
        Without this, every final window stayed in the owner's memory and checkpoints."""
        reported = {
            (r.model, r.model_version, int(r.window_start.timestamp() * 1000))
            for stream in self.results.streams()
            for r in self.results.windows(*stream)
            if r.final
        }
        if not reported:
            return
        with self.lock:
            for monitor in self.partitions.values():
                for (model, version), stream in monitor.streams.items():
                    for start in [s for s, w in stream.windows.items() if w.final]:
                        if (model, version, start) in reported:
                            del stream.windows[start]

    def _close_quiet(self) -> None:
        """The idle close (evaluation.idle_close): in this instance's partitions, a stream without
        predictions for the grace period gets the windows closed that ended (plus the allowed
        lateness) by the service's clock. Call under the lock."""
        grace = self.config.evaluation.idle_close
        if grace is None:
            return
        now = time.monotonic()
        quiet_before = now - grace.total_seconds()
        now_ms = int(self.clock().timestamp() * 1000)
        for number, monitor in self.partitions.items():
            held = self._held_since.get(number)
            if held is None or held[0] != id(monitor):
                held = self._held_since[number] = (id(monitor), now)
                for key in monitor.streams:  # arrivals before this state was loaded do not count
                    self._arrived.pop((number, *key), None)
            for key in monitor.streams:
                if self._arrived.get((number, *key), held[1]) <= quiet_before:
                    monitor.close_ended(key, now_ms)

    def open_windows(self, model: str, version: str) -> list[dict[str, Any]]:
        """The windows of a model version still open in some partition of this instance, merged:
        their range, the rows so far, and when they close (event time: a prediction past
        `closes_at`; or on the service's clock after evaluation.idle_close without predictions).
        Other instances' partitions are not read here (their copies are refreshed by the
        evaluation pass, not safely from a request thread): with several instances, the rows are
        this instance's share."""
        lateness = self.evaluator.models[model].allowed_lateness
        found: dict[int, list[Any]] = {}
        with self.lock:
            for monitor in self.partitions.values():
                stream = monitor.streams.get((model, version))
                for start, window in ({} if stream is None else stream.windows).items():
                    found.setdefault(start, []).append(window)
        opened = []
        for start, windows in sorted(found.items()):
            if all(w.closed for w in windows):
                continue
            end = ms_to_datetime(windows[0].end)
            opened.append(
                {
                    "window_start": ms_to_datetime(start).isoformat(),
                    "window_end": end.isoformat(),
                    "rows": sum(w.sketch.n_rows for w in windows),
                    "closes_at": (end + lateness).isoformat(),
                }
            )
        return opened

    def _publish_episodes(self, events: list[StreamEpisodeEvent]) -> None:
        """Concept-drift episode starts and ends, to the sinks that take them (`write_episodes`:
        the Elasticsearch exporter, the alert engine)."""
        for sink in self.sinks:
            write = getattr(sink, "write_episodes", None)
            if callable(write):
                try:
                    write(events)
                except Exception:  # one broken sink must not stop evaluation or the other sinks
                    log.exception("result sink %s failed on concept-drift episodes", type(sink).__name__)

    def _evaluate_one(self, due: Due, now: datetime) -> WindowResult | None:
        """One window's result, or None if its evaluation failed: recorded, logged and counted
        (monitor.evaluation.failures), and the other windows of the pass go on."""
        window = due.window
        start, end = ms_to_datetime(window.start), ms_to_datetime(window.end)
        try:
            result = self.evaluator.evaluate(due, now)
        except Exception as error:
            self.evaluation_errors.record(due.model, due.version, start, end, error, now)
            return None
        self.evaluation_errors.resolved(due.model, due.version, start)
        return result

    def _compare(self, results: list[WindowResult], peers: Peers, now: datetime) -> list[WindowResult]:
        """The results with each candidate version's comparison (monitor.evaluation.comparison); on a
        failure the results go on without it."""
        try:
            return self.evaluator.comparison.advance(results, peers, now)
        except Exception:
            log.exception("version comparison failed; the windows of this pass go on without it")
            return results

    def _publish(self, results: list[WindowResult]) -> None:
        for sink in self.sinks:
            try:
                sink.write(results)
            except Exception:  # one broken sink must not stop evaluation or the other sinks
                log.exception("result sink %s failed", type(sink).__name__)

    @property
    def counters(self) -> Counters:
        """All partitions' counters added up."""
        with self.lock:
            total = Counters()
            for monitor in self.partitions.values():
                total = total.merge(monitor.counters)
            return total

    def view(self) -> StreamView:
        """A consistent copy of counters and stream state for the Prometheus collector."""
        counters = self.counters
        with self.lock:
            delays: dict[tuple[str, str], LabelDelayHistogram] = {}
            for monitor in self.partitions.values():
                for key, stream in monitor.streams.items():
                    empty = LabelDelayHistogram(stream.label_delay.bounds)
                    delays[key] = delays.get(key, empty).merged(stream.label_delay)
        concept = {}
        for key in self.evaluator.concept.streams():
            episodes = self.evaluator.concept.episodes(*key)
            concept[key] = (bool(episodes and episodes[-1].open), episodes[-1].number if episodes else 0)
        return StreamView(
            counters=counters,
            label_delays=delays,
            min_pairs={m.name: m.performance.min_pairs for m in self.config.models},
            concept_episodes=concept,
            evaluation_errors=self.evaluation_errors.counts(),
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

    def close_sinks(self) -> None:
        """Flush and close every sink, once (later calls do nothing). Stop the scheduler first, and
        close them while the state store is still open: the alert engine's last delivery asks the
        store's evaluation lock who may deliver."""
        sinks, self.sinks = self.sinks, []
        for sink in sinks:
            try:
                sink.close()
            except Exception:
                log.exception("closing result sink %s failed", type(sink).__name__)
