"""The Kafka client interface (consumers/kafka_client.py) on each client against a real broker:
records grouped per topic-partition in offset order, seek, pause and resume without losing or
repeating a record, lag from the fetched high watermark, and the dead-letter producer."""

import time
from collections import defaultdict

import pytest

from consumers.kafka_client import ConsumerClient, PartitionRecords, TopicPartition
from consumers.kafka_client_choice import open_consumer, open_dead_letter_producer
from monitor.config import KafkaConfig
from tests.integration.kafka_fixtures import FAST_GROUP_TIMEOUTS

pytestmark = pytest.mark.integration

TOPICS = ("predictions", "outcomes")
PER_PARTITION = 3000


def _fill(broker) -> None:
    for topic in TOPICS:
        broker.create_topic(topic, 2)
    # Record values name where they were sent, so a test can check order and completeness.
    for topic in TOPICS:
        for partition in (0, 1):
            messages = [(b"k", f"{topic}/{partition}/{i}".encode()) for i in range(PER_PARTITION)]
            broker.produce(topic, messages, partition=partition)


def _config(broker, group: str, client: str) -> KafkaConfig:
    return KafkaConfig(
        bootstrap_servers=[broker.bootstrap],
        client=client,
        group_id=group,
        max_poll_records=500,
        dead_letter_topic="dead-letters",
        **FAST_GROUP_TIMEOUTS,
    )


class Reader:
    """Polls a client, keeping every record it got (value and offset) per topic-partition."""

    def __init__(self, consumer: ConsumerClient) -> None:
        self.consumer = consumer
        self.values: dict[TopicPartition, list[bytes]] = defaultdict(list)
        self.offsets: dict[TopicPartition, list[int]] = defaultdict(list)
        self.next: dict[TopicPartition, int] = {}
        self.assigned: list[TopicPartition] = []

    def subscribe(self, seek_to: dict[TopicPartition, int | None]) -> None:
        def on_assign(tps: list[TopicPartition]) -> None:
            self.assigned = sorted(tps)
            for tp in tps:
                self.consumer.seek(tp, seek_to.get(tp))

        self.consumer.subscribe(TOPICS, on_assign, lambda tps: None)

    def poll_until(self, done, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, {tp: len(v) for tp, v in self.values.items()}
            for fetched in self.consumer.poll(0.2, 500):
                self.take(fetched)

    def take(self, fetched: PartitionRecords) -> None:
        tp = (fetched.topic, fetched.partition)
        self.values[tp] += fetched.values
        self.offsets[tp] += [fetched.offset_at(i) for i in range(len(fetched.values))]
        self.next[tp] = fetched.next_offset

    def count(self, tp: TopicPartition) -> int:
        return len(self.values[tp])


def test_records_arrive_per_topic_partition_in_order_from_the_seeked_offsets(
    kafka_broker, kafka_group_id, kafka_client
) -> None:
    _fill(kafka_broker)
    reader = Reader(open_consumer(_config(kafka_broker, kafka_group_id, kafka_client)))
    start = {("predictions", 0): 100, ("outcomes", 1): 2999}  # the others from their beginning
    try:
        reader.subscribe(start)
        expected = {(t, p): PER_PARTITION - (start.get((t, p)) or 0) for t in TOPICS for p in (0, 1)}
        reader.poll_until(lambda: all(reader.count(tp) >= n for tp, n in expected.items()))
        time.sleep(0.5)
        for fetched in reader.consumer.poll(0.5, 500):
            reader.take(fetched)
        assert reader.assigned == sorted(expected)
        for (topic, partition), n in expected.items():
            first = PER_PARTITION - n
            tp = (topic, partition)
            assert reader.values[tp] == [
                f"{topic}/{partition}/{i}".encode() for i in range(first, PER_PARTITION)
            ]
            assert reader.offsets[tp] == list(range(first, PER_PARTITION))
            assert reader.next[tp] == PER_PARTITION
            assert reader.consumer.lag(tp, reader.next[tp]) == 0
            assert reader.consumer.lag(tp, first) == n
    finally:
        reader.consumer.close()


def test_a_paused_partition_resumes_where_it_stopped_with_nothing_lost_or_repeated(
    kafka_broker, kafka_group_id, kafka_client
) -> None:
    _fill(kafka_broker)
    reader = Reader(open_consumer(_config(kafka_broker, kafka_group_id, kafka_client)))
    paused = [("predictions", 0), ("predictions", 1)]
    try:
        reader.subscribe({})
        at_pause: dict[TopicPartition, int] = {}

        def pause_each_once_started() -> bool:  # a poll brings at most 500 of its 3000 records
            for tp in paused:
                if tp not in at_pause and reader.count(tp) > 0:
                    reader.consumer.pause([tp])
                    at_pause[tp] = reader.count(tp)
            return len(at_pause) == len(paused)

        reader.poll_until(pause_each_once_started)
        # Everything else is read to its end while these stay paused.
        others = [(t, p) for t in TOPICS for p in (0, 1) if (t, p) not in paused]
        reader.poll_until(lambda: all(reader.count(tp) == PER_PARTITION for tp in others))
        for fetched in reader.consumer.poll(0.5, 500):
            reader.take(fetched)
        assert {tp: reader.count(tp) for tp in paused} == at_pause
        lags = {tp: reader.consumer.lag(tp, reader.next[tp]) for tp in paused}
        assert all(lag is not None and lag > 0 for lag in lags.values()), (lags, at_pause)
        # Resumed with no other traffic left: kafka-python 3.0.12 stalled here without the
        # adapter's workaround (consumers/kafka_python_client.py).
        reader.consumer.resume(paused)
        reader.poll_until(lambda: all(reader.count(tp) >= PER_PARTITION for tp in paused))
        for tp in paused:
            assert reader.offsets[tp] == list(range(PER_PARTITION)), tp
        reader.consumer.resume([("predictions", 7)])  # never assigned: skipped, no error
        assert reader.consumer.lag(("predictions", 7), None) == 0  # nothing of it to read here
    finally:
        reader.consumer.close()


def test_a_poll_returns_the_records_that_arrived_without_waiting_for_a_full_batch(
    kafka_broker, kafka_group_id, kafka_client
) -> None:
    """A poll asked for up to 1,000 records with a long timeout returns the few that arrive as
    soon as they are there (confluent's consume(n, timeout) alone waits for n or the timeout)."""
    for topic in TOPICS:
        kafka_broker.create_topic(topic, 2)
    reader = Reader(open_consumer(_config(kafka_broker, kafka_group_id, kafka_client)))
    long_poll_s = 30.0
    try:
        reader.subscribe({})
        reader.poll_until(lambda: bool(reader.assigned))
        kafka_broker.produce("predictions", [(b"k", f"r{i}".encode()) for i in range(5)], partition=0)
        tp = ("predictions", 0)
        while reader.count(tp) < 5:
            started = time.monotonic()
            polled = reader.consumer.poll(long_poll_s, 1000)
            waited = time.monotonic() - started
            assert polled, f"nothing arrived in {waited:.1f} s"
            assert waited < long_poll_s / 3, f"{reader.count(tp)} records: the poll waited {waited:.1f} s"
            for fetched in polled:
                reader.take(fetched)
        assert reader.values[tp] == [f"r{i}".encode() for i in range(5)]
    finally:
        reader.consumer.close()


def test_dead_letters_carry_key_value_and_headers(kafka_broker, kafka_group_id, kafka_client) -> None:
    kafka_broker.create_topic("dead-letters", 1)
    producer = open_dead_letter_producer(_config(kafka_broker, kafka_group_id, kafka_client))
    assert producer is not None
    producer.send("dead-letters", b"predictions/0/7", b"{broken", [("reason", b"invalid_json")])
    producer.send("dead-letters", b"predictions/0/8", None, [("reason", b"empty")])
    producer.flush()
    producer.close()
    first = kafka_broker.record_at("dead-letters", 0, 0)
    second = kafka_broker.record_at("dead-letters", 0, 1)
    assert (first.key, first.value, dict(first.headers)) == (
        b"predictions/0/7",
        b"{broken",
        {"reason": b"invalid_json"},
    )
    assert (second.key, second.value) == (b"predictions/0/8", None)
