"""What driftline's consumers rely on from the Kafka-protocol broker, checked against a real Tansu:
keyed partitioning, consumer groups with manual commits, rebalances, headers, and the fixture's
own restart and failure behaviour. Join and rebalance times are printed (run with -s to see them)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

# The kafka_broker and kafka_group_id fixtures come from kafka_fixtures through conftest.py.
from tests.integration.kafka_fixtures import (
    AUTO_CREATED_PARTITIONS,
    KAFKA_SCRIPT,
    KafkaBroker,
    poll_records,
    poll_together_until,
    poll_until,
    start_kafka_broker,
)

pytestmark = pytest.mark.integration

MESSAGES = 10_000
PARTITIONS = 4
KEYS = 1_000  # every key is sent MESSAGES // KEYS times


def keyed_messages(count: int, keys: int) -> list[tuple[bytes, bytes]]:
    """Message i has key ``pred-{i % keys}`` and carries i, so order and loss are both checkable."""
    return [(f"pred-{i % keys}".encode(), json.dumps({"seq": i}).encode()) for i in range(count)]


def seq(record: ConsumerRecord) -> int:
    value: int = json.loads(record.value)["seq"]
    return value


def all_assigned(partitions: int = PARTITIONS) -> Callable[[KafkaConsumer], bool]:
    return lambda consumer: len(consumer.assignment()) == partitions


def report(what: str, seconds: float) -> None:
    print(f"\n[kafka timing] {what}: {seconds:.2f} s")


def test_kafka_python_verifies_checksums_with_the_crc32c_extension():
    import crc32c
    from kafka.record import util

    # calc_crc32c binds its implementation as a default argument at import time.
    assert util.calc_crc32c.__defaults__[0] is crc32c.crc32c
    assert util.calc_crc32c(memoryview(b"123456789")) == 0xE3069283  # the CRC-32C check value


def test_group_consumer_reads_every_keyed_message_once_in_order(kafka_broker: KafkaBroker, kafka_group_id):
    kafka_broker.create_topic("predictions", partitions=PARTITIONS)
    messages = keyed_messages(MESSAGES, KEYS)
    sent = kafka_broker.produce("predictions", messages)
    consumer = kafka_broker.new_consumer("predictions", group_id=kafka_group_id, max_poll_records=1000)

    started = time.monotonic()
    records = poll_until(consumer, all_assigned())
    report("first member joins a new group", time.monotonic() - started)
    consumer.commit()
    while len(records) < MESSAGES and time.monotonic() - started < 60:
        batch = [r for rs in consumer.poll(timeout_ms=500).values() for r in rs]
        records.extend(batch)
        consumer.commit()  # after "processing" the batch, as driftline commits after checkpointing

    assert len(records) == MESSAGES
    assert sorted(seq(r) for r in records) == list(range(MESSAGES))
    partitions_by_key: dict[bytes, set[int]] = defaultdict(set)
    seqs_by_key: dict[bytes, list[int]] = defaultdict(list)
    for record in records:
        partitions_by_key[record.key].add(record.partition)
        seqs_by_key[record.key].append(seq(record))
    assert all(len(partitions) == 1 for partitions in partitions_by_key.values())
    assert len({p for ps in partitions_by_key.values() for p in ps}) == PARTITIONS  # keys spread out
    # The consumer sees each key where the producer was told it went, and in the order it was sent.
    sent_to = {key: metadata.partition for (key, _), metadata in zip(messages, sent, strict=True)}
    assert {r.key: r.partition for r in records} == sent_to
    assert all(s == sorted(s) for s in seqs_by_key.values())
    # Every partition is committed up to its end. The end comes from the fetch high watermark, not
    # end_offsets(): see test_end_offsets_undercounts_a_partition_ending_in_a_multi_record_batch.
    committed = {tp.partition: consumer.committed(tp) for tp in consumer.assignment()}
    assert committed == {tp.partition: consumer.highwater(tp) for tp in consumer.assignment()}
    assert sum(committed.values()) == MESSAGES


def test_new_consumer_resumes_at_the_committed_offsets(kafka_broker: KafkaBroker, kafka_group_id: str):
    kafka_broker.create_topic("predictions", partitions=PARTITIONS)
    kafka_broker.produce("predictions", keyed_messages(2_000, 200))
    first = kafka_broker.new_consumer("predictions", group_id=kafka_group_id, max_poll_records=100)
    processed = poll_until(first, all_assigned())
    while len(processed) < 800:
        processed.extend(r for rs in first.poll(timeout_ms=500).values() for r in rs)
    first.commit()
    committed = {tp: first.committed(tp) for tp in first.assignment()}
    # One more batch is fetched but never committed, as if the process died while handling it.
    uncommitted: list[ConsumerRecord] = []
    while not uncommitted:
        uncommitted = [r for rs in first.poll(timeout_ms=500).values() for r in rs]
    first.close(autocommit=False)

    second = kafka_broker.new_consumer("predictions", group_id=kafka_group_id)
    resumed = poll_until(second, all_assigned())
    assert {tp: second.committed(tp) for tp in second.assignment()} == committed
    while len(processed) + len(resumed) < 2_000:
        batch = [r for rs in second.poll(timeout_ms=500).values() for r in rs]
        assert batch, "the second consumer stopped receiving before reading the rest"
        resumed.extend(batch)

    processed_seqs = {seq(r) for r in processed}
    resumed_seqs = [seq(r) for r in resumed]
    assert processed_seqs.isdisjoint(resumed_seqs)  # nothing committed is delivered again
    assert {seq(r) for r in uncommitted} <= set(resumed_seqs)  # the uncommitted batch comes again
    assert sorted([*processed_seqs, *resumed_seqs]) == list(range(2_000))


def test_two_members_split_partitions_and_the_survivor_takes_all(kafka_broker: KafkaBroker, kafka_group_id):
    kafka_broker.create_topic("predictions", partitions=PARTITIONS)
    first = kafka_broker.new_consumer("predictions", group_id=kafka_group_id)
    poll_until(first, all_assigned())

    started = time.monotonic()
    second = kafka_broker.new_consumer("predictions", group_id=kafka_group_id)
    poll_together_until([first, second], lambda: len(first.assignment()) == len(second.assignment()) == 2)
    report("second member joins; partitions split", time.monotonic() - started)
    assert first.assignment() and second.assignment()
    assert first.assignment().isdisjoint(second.assignment())
    assert first.assignment() | second.assignment() == {TopicPartition("predictions", p) for p in range(4)}

    second.close(autocommit=False)  # sends LeaveGroup
    started = time.monotonic()
    poll_until(first, all_assigned())
    report("member leaves; survivor has every partition", time.monotonic() - started)


CHILD_CONSUMER = """
import json, sys
from kafka import KafkaConsumer
consumer = KafkaConsumer(sys.argv[1], **json.loads(sys.argv[2]))
while True:
    consumer.poll(timeout_ms=100)
"""


def test_survivor_takes_over_from_a_member_killed_without_leaving(kafka_broker: KafkaBroker, kafka_group_id):
    kafka_broker.create_topic("predictions", partitions=PARTITIONS)
    first = kafka_broker.new_consumer("predictions", group_id=kafka_group_id)
    poll_until(first, all_assigned())
    config = json.dumps(kafka_broker.consumer_config(kafka_group_id))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_CONSUMER, "predictions", config],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        poll_until(first, lambda c: len(c.assignment()) == PARTITIONS // 2)
        os.kill(child.pid, signal.SIGKILL)  # no LeaveGroup: the broker notices only by the session timeout
        child.wait(timeout=10)
        killed_at = time.monotonic()
        poll_until(first, all_assigned())
        report("member killed; survivor has every partition", time.monotonic() - killed_at)
    except AssertionError as error:
        child.kill()
        _, stderr = child.communicate(timeout=10)
        raise AssertionError(f"{error}\nchild consumer stderr:\n{stderr}") from None
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        if child.stderr is not None:
            child.stderr.close()


def test_headers_round_trip_for_dead_letters(kafka_broker: KafkaBroker):
    kafka_broker.create_topic("predictions-dead-letter")
    reason = [("reason", b"missing field 'model'"), ("source-topic", b"predictions")]
    kafka_broker.produce("predictions-dead-letter", [(b"c0ffee-1", b"{not json")], headers=reason)
    kafka_broker.produce("predictions-dead-letter", [(None, b"no key, no headers")])

    consumer = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap, auto_offset_reset="earliest")
    consumer.assign([TopicPartition("predictions-dead-letter", 0)])
    try:
        records = poll_records(consumer, 2, timeout=10)
    finally:
        consumer.close()

    assert [(r.key, r.value, list(r.headers)) for r in records] == [
        (b"c0ffee-1", b"{not json", reason),
        (None, b"no key, no headers", []),
    ]


def test_restart_keeps_port_and_topics_not_data_or_offsets(kafka_broker: KafkaBroker, kafka_group_id: str):
    kafka_broker.create_topic("predictions", partitions=AUTO_CREATED_PARTITIONS)  # see the fixture docs
    sent = kafka_broker.produce("predictions", keyed_messages(100, 10))
    consumer = kafka_broker.new_consumer("predictions", group_id=kafka_group_id)
    poll_records(consumer, 100)
    consumer.commit()
    partitions = range(AUTO_CREATED_PARTITIONS)
    per_partition = [sum(m.partition == p for m in sent) for p in partitions]
    assert [consumer.committed(TopicPartition("predictions", p)) for p in partitions] == per_partition

    kafka_broker.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", kafka_broker.port), timeout=2).close()
    kafka_broker.start()

    kafka_broker.produce("predictions", [(b"after-restart", b'{"seq": 0}')])
    # The running consumer re-joins by itself; its committed offsets died with the broker, so it
    # falls back to auto_offset_reset=earliest and gets the one message written since.
    started = time.monotonic()
    after = poll_records(consumer, 1, timeout=30)
    report("consumer back after a broker restart", time.monotonic() - started)
    assert [r.key for r in after] == [b"after-restart"]
    assert all(consumer.committed(tp) is None for tp in consumer.assignment())


def test_end_offsets_undercounts_a_partition_ending_in_a_multi_record_batch(kafka_broker: KafkaBroker):
    """Documents a Tansu 0.6.0 deviation from Kafka, so that driftline never computes consumer lag
    from end_offsets(): ListOffsets(latest) answers the last batch's first offset + 1. The fetch
    high watermark is right. If this test fails, Tansu has been fixed and the note can go."""
    kafka_broker.create_topic("lag")
    kafka_broker.produce("lag", [(None, b"single")])
    # A long linger keeps the five in the producer until flush(), which sends them as one batch.
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all", linger_ms=60_000)
    for i in range(5):
        producer.send("lag", value=b"batch-%d" % i)
    producer.flush(timeout=10)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap, auto_offset_reset="earliest")
    partition = TopicPartition("lag", 0)
    consumer.assign([partition])
    try:
        records = poll_records(consumer, 6, timeout=10)
        assert [r.offset for r in records] == [0, 1, 2, 3, 4, 5]
        assert consumer.highwater(partition) == 6
        assert consumer.end_offsets([partition]) == {partition: 2}  # Kafka would answer 6
    finally:
        consumer.close()


def test_start_refuses_a_port_that_is_taken(kafka_broker: KafkaBroker, tmp_path):
    outcome = subprocess.run(
        ["bash", str(KAFKA_SCRIPT), "start", str(tmp_path / "second"), str(kafka_broker.port)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert outcome.returncode != 0
    assert "address already in use" in outcome.stderr


def test_missing_binary_fails_instead_of_skipping(monkeypatch, tmp_path):
    monkeypatch.setenv("TANSU_BIN", str(tmp_path / "no-such-tansu"))

    with pytest.raises(pytest.fail.Exception, match="missing or not executable"):
        start_kafka_broker(tmp_path / "kafka")
