"""Wiring for `driftline run` and the demo: sources from the config, the /metrics, /healthz
and /readyz server, signal handling."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import orjson
from prometheus_client import CollectorRegistry, make_wsgi_app

from monitor.config import DriftlineConfig, InputConfig
from monitor.counters import Counters
from monitor.prometheus import DriftlineCollector
from monitor.service import Service
from monitor.sources import DirectorySource, FileSource, Source, StdinSource


def _json(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> Iterable[bytes]:
    payload = orjson.dumps(body)
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


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
    return [build_source(spec, config) for spec in config.sources.inputs]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would flood the log."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class MetricsServer:
    """/metrics (Prometheus), /healthz (the process answers) and /readyz (every readiness check
    of the service passes: 503 with the failing ones otherwise) on one small HTTP server."""

    def __init__(self, service: Service, host: str, port: int) -> None:
        self.registry = CollectorRegistry()
        DriftlineCollector(service.results, service.view, registry=self.registry)
        self.service = service
        self._metrics = make_wsgi_app(self.registry)
        self._httpd = make_server(host, port, self._app, server_class=_Server, handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="metrics-http", daemon=True)
        self._thread.start()
        self.host = host
        self.port = int(self._httpd.server_port)

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            return _json(start_response, "200 OK", {"status": "ok"})
        if path == "/readyz":
            checks = self.service.readiness()
            ok = all(checks.values())
            return _json(
                start_response, "200 OK" if ok else "503 Service Unavailable", {"ready": ok, "checks": checks}
            )
        return self._metrics(environ, start_response)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def attach_sinks(service: Service, config: DriftlineConfig) -> None:
    """Create the configured exporters and the alert engine; the service feeds each of them the
    results of every evaluation pass and closes them at shutdown (`Service.close_sinks`)."""


EMBEDDED_GROUP = "embedded"  # the state-store key of the embedded sources' single partition


def run_embedded(
    service: Service, config: DriftlineConfig, sources: list[Source], stop: threading.Event
) -> None:
    """Read the embedded sources with durable state: resume from the last checkpoint of state and
    file offsets (so a crash or a restart counts nothing twice), checkpoint as it goes."""
    from monitor.state_store import open_state_store

    store = open_state_store(config.state.url)
    try:
        stored = store.load(EMBEDDED_GROUP, [0]).get(0)
        if stored is not None:
            with service.lock:
                service.monitor.restore(stored.windows, stored.join)
            for source in sources:
                source.resume(stored.offsets)
            logging.getLogger("driftline.embedded").info(
                "resumed from the checkpoint: %d bytes of input already counted", sum(stored.offsets.values())
            )
        offsets = dict(stored.offsets) if stored is not None else {}

        def checkpoint(positions: dict[str, int]) -> None:
            offsets.update(positions)
            service.dead_letters.flush()
            with service.lock:
                saved = service.monitor.checkpoint(0, offsets)
            store.save(EMBEDDED_GROUP, [saved])

        service.readiness_checks["state_store"] = store.ping
        service.run(sources, stop, checkpoint, config.sources.checkpoint_interval.total_seconds())
    finally:
        store.close()


def run_kafka(service: Service, config: DriftlineConfig, stop: threading.Event) -> Counters:
    """Consume the configured Kafka topics with durable state until stopped (or idle); returns
    the counters of the whole group as stored (every instance's partitions)."""
    from consumers.kafka_source import KafkaSource, stored_partitions
    from monitor.state_store import open_state_store

    assert config.sources.kafka is not None
    store = open_state_store(config.state.url)
    try:
        source = KafkaSource(service, store, config.sources.kafka)
        service.readiness_checks["kafka_connected"] = source.connected.is_set
        service.readiness_checks["state_store"] = store.ping
        source.run(stop)
        service.evaluate()
        totals = Counters()
        for monitor in stored_partitions(service, store, config.sources.kafka.group_id).values():
            totals = totals.merge(monitor.counters)
        return totals
    finally:
        store.close()


def stop_on_signals(stop: threading.Event, on_signal: Callable[[int], Any] | None = None) -> None:
    """SIGINT and SIGTERM set `stop`: the service finishes the batch in hand and exits."""

    def handler(signum: int, _frame: Any) -> None:
        stop.set()
        if on_signal:
            on_signal(signum)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
