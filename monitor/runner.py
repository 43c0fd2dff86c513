"""Wiring for `driftline run` and the demo: sources from the config, the /metrics server,
signal handling."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from monitor.config import DriftlineConfig, InputConfig
from monitor.prometheus import DriftlineCollector
from monitor.service import Service
from monitor.sources import DirectorySource, FileSource, Source, StdinSource


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


class MetricsServer:
    """/metrics on the configured host and port, from a registry of its own."""

    def __init__(self, service: Service, host: str, port: int) -> None:
        self.registry = CollectorRegistry()
        DriftlineCollector(service.results, service.view, registry=self.registry)
        self._httpd, self._thread = start_http_server(port, addr=host, registry=self.registry)
        self.host = host
        self.port = int(self._httpd.server_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def run_kafka(service: Service, config: DriftlineConfig, stop: threading.Event) -> None:
    """Consume the configured Kafka topics with durable state until stopped (or idle)."""
    from consumers.kafka_source import KafkaSource
    from monitor.state_store import open_state_store

    assert config.sources.kafka is not None
    store = open_state_store(config.state.url)
    try:
        KafkaSource(service, store, config.sources.kafka).run(stop)
        service.evaluate()
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
