"""How the demo's events reach the service: directly (embedded default), or through a real
Kafka-protocol broker started for the demo (`driftline demo --kafka`)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from monitor.config import KafkaConfig
from monitor.demo.data import Event
from monitor.errors import DriftlineError
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service

KAFKA_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kafka.sh"
TOPICS = ("predictions", "outcomes", "driftline-dead-letters")
# One partition, as the embedded run has (the concept-drift detector merges the error streams of all
# partitions, monitor.evaluation.concept, so more would detect alike; one keeps the broker quick).
PARTITIONS = 1


class Feed(Protocol):
    def send(self, events: Sequence[Event]) -> None: ...

    def drain(self, expected: int) -> None:
        """Wait until the service has taken in `expected` messages in all."""


class DirectFeed:
    def __init__(self, service: Service) -> None:
        self.service = service

    def send(self, events: Sequence[Event]) -> None:
        batch = RawBatch()
        for event in events:
            batch.add([event.message], event.topic)  # type: ignore[arg-type]
        self.service.handle(batch)

    def drain(self, expected: int) -> None:
        """Nothing in flight: `send` ingests synchronously."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def local_broker(folder: Path) -> Iterator[str]:
    """A Tansu broker (memory only) on a free loopback port, stopped on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    started = subprocess.run(
        ["bash", str(KAFKA_SCRIPT), "start", str(folder), str(port)],
        capture_output=True,
        text=True,
        check=False,
    )
    if started.returncode != 0:
        raise DriftlineError(f"could not start the demo's Kafka broker:\n{started.stdout}{started.stderr}")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run(["bash", str(KAFKA_SCRIPT), "stop", str(folder)], capture_output=True, check=False)


class KafkaFeed:
    """Produces the demo's events to Kafka topics (keyed by prediction id) while a KafkaSource
    consumes them into the service on a thread, with its state in a RocksDB store."""

    def __init__(self, service: Service, bootstrap: str, state_path: Path, client: str | None = None) -> None:
        from kafka import KafkaProducer
        from kafka.admin import KafkaAdminClient, NewTopic

        from consumers.kafka import KafkaSource
        from monitor.state.factory import open_state_store

        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            admin.create_topics([NewTopic(t, PARTITIONS, replication_factor=1) for t in TOPICS])
        finally:
            admin.close()
        self.service = service
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=5
        )
        shutil.rmtree(state_path, ignore_errors=True)
        self.store = open_state_store(f"rocksdb:///{state_path}")
        config = KafkaConfig(
            bootstrap_servers=[bootstrap],
            group_id="driftline-demo",
            checkpoint_interval=timedelta(seconds=1),
            poll_timeout=timedelta(milliseconds=100),
            session_timeout_ms=2000,
            heartbeat_interval_ms=200,
            max_poll_interval_ms=30_000,
        )
        if client is not None:  # else the installed default
            config = config.model_copy(update={"client": client})
        self.source = KafkaSource(service, self.store, config)
        # The concept-drift detector's and the version comparisons' states are durable, as with
        # `driftline run`.
        service.evaluator.concept.store = self.store
        service.evaluator.comparison.attach(self.store)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.source.run, args=(self.stop,), name="kafka-consumer")
        self.thread.start()

    def send(self, events: Sequence[Event]) -> None:
        for event in events:
            self.producer.send(event.topic, key=event.key or None, value=event.message)
        self.producer.flush()

    def drain(self, expected: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            counters = self.service.counters
            taken = sum(counters.total(name) for name in ("predictions", "outcomes", "rejected"))
            if taken >= expected:
                return
            time.sleep(0.1)
        raise DriftlineError(
            f"the demo's consumer took in fewer than {expected} messages within {timeout:.0f}s"
        )

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        self.producer.close()
        self.store.close()
