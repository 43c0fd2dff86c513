"""Wiring for `driftline run` and the demo: sources from the config, the HTTP server (the API,
/metrics, /healthz, /readyz and the status page: monitor/api), signal handling."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from consumers.sources import DirectorySource, FileSource, Source, StdinSource
from monitor.baseline_sharing import SharedBaselines
from monitor.config import DriftlineConfig, InputConfig
from monitor.errors import DriftlineError
from monitor.pipeline.counters import Counters
from monitor.service import Service
from monitor.state.durable_results import DurableResults
from monitor.state.group_commit import GroupCommit
from monitor.state.partitions import restore_partition, save_partitions
from monitor.state.result_archive import ResultArchive, Retention
from monitor.state.store import StateStore

log = logging.getLogger("driftline.runner")


def build_source(spec: InputConfig, config: DriftlineConfig) -> Source:
    batch = config.sources.batch_size
    poll = config.sources.poll_interval.total_seconds()
    if spec.kind == "stdin":
        return StdinSource(topic=spec.topic, batch_size=batch, poll_interval=poll)
    assert spec.path is not None  # checked by InputConfig
    if spec.kind == "file":
        return FileSource(spec.path, spec.topic, batch)
    return DirectorySource(spec.path, spec.topic, spec.pattern, batch, poll, follow=spec.follow)


def build_sources(config: DriftlineConfig) -> list[Source]:
    """The embedded sources; with Kafka configured, its client options are checked here, so a key
    that does not fit the client fails at start-up, naming it."""
    if config.sources.kafka is not None:
        from consumers.kafka_client_choice import check_client_options

        check_client_options(config.sources.kafka)
    return [build_source(spec, config) for spec in config.sources.inputs]


# The HTTP API serves /metrics, /healthz and /readyz on the port this server used to have.


def attach_durable_results(service: Service, config: DriftlineConfig) -> DurableResults:
    """Store every evaluated window in the state store (its own connection), and load the windows
    stored before this start into the service's results, so the API, the status page, reports
    and /metrics show them at once."""
    from monitor.state.factory import open_state_store

    store = open_state_store(config.state.url)
    retention = Retention(
        config.evaluation.stored_windows, config.api.report_windows, config.evaluation.retention.max_age
    )
    durable = DurableResults(
        ResultArchive(store, retention), service.results, service.clock, [m.name for m in config.models]
    )
    try:
        loaded = durable.load()
    except BaseException:
        store.close()
        raise
    if loaded:
        logging.getLogger("driftline.results").info("%d evaluated windows loaded from the store", loaded)
    service.sinks.insert(0, durable)  # first: stored before the alerts about it go out
    return durable


def attach_sinks(service: Service, config: DriftlineConfig) -> None:
    """Store evaluated windows durably, and create the configured exporters and the alert engine;
    the service feeds each of them the results of every evaluation pass and closes them at
    shutdown (`Service.close_sinks`)."""
    attach_exporters(service, config)
    if config.alerts.active:
        from alerts.engine import attach_alerts
        from alerts.metrics import AlertEngineCollector

        engine = attach_alerts(service, config)  # a sink, service.alert_snapshot, its delivery thread
        service.collectors.append(AlertEngineCollector(engine))


def attach_exporters(service: Service, config: DriftlineConfig) -> None:
    """Where evaluated windows go besides the alert engine (a replay runs its own, dry): the state
    store (durable results, read by `driftline windows`) and the configured exporters."""
    attach_durable_results(service, config)
    if config.sinks.elasticsearch is not None:
        from monitor.sinks.elasticsearch.exporter import ElasticsearchExporter
        from monitor.sinks.elasticsearch.metrics import ElasticsearchExporterCollector

        # Also takes alert events: `exporter.send_event(kind, doc_id, document, timestamp)`.
        exporter = ElasticsearchExporter(config.sinks.elasticsearch, clock=service.clock)
        service.sinks.append(exporter)
        service.collectors.append(ElasticsearchExporterCollector(exporter.stats))


EMBEDDED_GROUP = "embedded"  # the state-store key of the embedded sources' single partition


@contextmanager
def shared_baselines(service: Service, store: StateStore) -> Iterator[SharedBaselines]:
    """Share baselines with the other instances through the state store while the block runs:
    reconcile on entry, publish API uploads, check for others' on every evaluation tick."""
    shared = SharedBaselines(store, service)
    shared.start()
    service.publish_baseline = shared.publish
    service.evaluator.fetch = shared.fetch
    try:
        with every_tick(service, "baselines", shared.sync):
            yield shared
    finally:
        service.publish_baseline = None
        service.evaluator.fetch = None


@contextmanager
def shared_results(service: Service) -> Iterator[None]:
    """While the block runs, on every evaluation tick an instance that does not evaluate (another
    holds the group's lock) loads the windows the evaluating instance stored since (several
    instances on PostgreSQL: their APIs show the same windows, one tick late at most)."""
    durable = next((s for s in service.sinks if isinstance(s, DurableResults)), None)

    def refresh() -> None:
        if durable is not None and not service.may_evaluate():
            durable.refresh()

    with every_tick(service, "results", refresh):
        yield


@contextmanager
def every_tick(service: Service, job_id: str, job: Callable[[], object]) -> Iterator[None]:
    """Run `job` on the scheduler every evaluation interval while the block runs. A state-store
    error in one run (a database restarting, say) is logged in one line and the next run tries
    again; a run still going when the block ends finishes on its own (the runners stop the
    scheduler, which waits for it, before they close the store)."""

    def run() -> None:
        try:
            job()
        except DriftlineError as err:
            log.warning("%s: this run failed, retried next tick: %s", job_id, err)

    if service.scheduler is not None:
        interval = service.config.evaluation.interval.total_seconds()
        service.scheduler.add_job(run, "interval", seconds=interval, id=job_id)
    try:
        yield
    finally:
        if service.scheduler is not None and service.scheduler.get_job(job_id) is not None:
            service.scheduler.remove_job(job_id)


def read_sources(
    service: Service,
    sources: Iterable[Source],
    stop: threading.Event,
    checkpoint: Callable[[], None] | None = None,
    checkpoint_every: float = 5.0,
) -> None:
    """Feed every source to the service until it ends or `stop` is set, finishing the batch in
    hand. `checkpoint()` is called every `checkpoint_every` seconds and at the end."""
    last = time.monotonic()
    try:
        for source in sources:
            for raw in source.batches(stop):
                service.handle(raw)
                if checkpoint is not None and time.monotonic() - last >= checkpoint_every:
                    checkpoint()
                    last = time.monotonic()
                if stop.is_set():
                    break
            if stop.is_set():
                break
    finally:
        service.dead_letters.flush()
    if not stop.is_set():
        service.evaluate(flush=True)  # finite input read to its end: every window is complete
    if checkpoint is not None:
        checkpoint()
    service.evaluate()


def run_embedded(
    service: Service, config: DriftlineConfig, sources: list[Source], stop: threading.Event
) -> None:
    """Read the embedded sources with durable state: resume from the last checkpoint of state and
    file offsets (so a crash or a restart counts nothing twice), checkpoint as it goes, and let the
    HTTP API checkpoint the events it takes in before it answers (`Service.persist`). Baselines
    are shared through the store as in `run_kafka` (one instance: it only keeps them in step)."""
    from monitor.state.factory import open_state_store

    store = open_state_store(config.state.url)
    try:
        stored = store.load(EMBEDDED_GROUP, [0]).get(0)
        if stored is not None:
            with service.lock:
                restore_partition(store, EMBEDDED_GROUP, stored, service.monitor)
                service.positions.update(stored.offsets)
            for source in sources:
                source.resume(stored.offsets)
            logging.getLogger("driftline.embedded").info(
                "resumed from the checkpoint: %d bytes of input already counted", sum(stored.offsets.values())
            )
        saving = threading.Lock()  # the source loop and HTTP requests checkpoint from their threads

        def checkpoint() -> None:
            with saving:
                service.dead_letters.flush()
                # Under the lock: what changed since the last checkpoint is written, then marked
                # saved, with nothing ingested in between (the cost follows the traffic since).
                with service.lock:
                    save_partitions(store, EMBEDDED_GROUP, [(0, service.positions, service.monitor)])

        service.readiness_checks["state_store"] = store.ping
        service.evaluator.concept.attach(store)  # the concept-drift detector's state, durable
        service.evaluator.comparison.attach(store)  # the version comparisons' state, durable
        service.persist = GroupCommit(checkpoint)  # concurrent POSTs of events share checkpoints
        service.state_loaded.set()  # restored, and POSTed events are made durable from here on
        with shared_baselines(service, store):
            read_sources(
                service, sources, stop, checkpoint, config.sources.checkpoint_interval.total_seconds()
            )
    finally:
        service.state_loaded.clear()  # shutting down: events posted now could not be made durable
        service.persist = None
        service.stop_scheduler()  # a tick still running reads the store: let it finish first
        service.evaluator.concept.attach(None)
        service.evaluator.comparison.attach(None)
        store.close()


def run_kafka(service: Service, config: DriftlineConfig, stop: threading.Event) -> Counters:
    """Consume the configured Kafka topics with durable state until stopped (or idle); returns
    the counters of the whole group as stored (every instance's partitions)."""
    from consumers.kafka import KafkaSource, stored_partitions
    from monitor.state.factory import open_state_store

    assert config.sources.kafka is not None
    store = open_state_store(config.state.url)
    try:
        source = KafkaSource(service, store, config.sources.kafka)
        service.readiness_checks["kafka_connected"] = source.connected.is_set
        service.readiness_checks["state_store"] = store.ping
        service.evaluator.concept.attach(store)  # the concept-drift detector's state, shared by the group
        service.evaluator.comparison.attach(store)  # so are the version comparisons'
        service.state_loaded.set()  # each partition's state is restored as it is assigned
        with shared_baselines(service, store), shared_results(service):
            source.run(stop)
            service.evaluate()
        service.stop_scheduler()  # no more evaluations; then the sinks' last deliveries, while
        service.close_sinks()  # the store that decides who delivers is still open
        totals = Counters()
        for monitor in stored_partitions(service, store, config.sources.kafka.group_id).values():
            totals = totals.merge(monitor.counters)
        return totals
    finally:
        service.stop_scheduler()  # (done above unless that failed) no tick may outlive the store
        service.evaluator.concept.attach(None)
        service.evaluator.comparison.attach(None)
        store.close()


def stop_on_signals(stop: threading.Event, on_signal: Callable[[int], Any] | None = None) -> None:
    """SIGINT and SIGTERM set `stop`: the service finishes the batch in hand and exits."""

    def handler(signum: int, _frame: Any) -> None:
        stop.set()
        if on_signal:
            on_signal(signum)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
