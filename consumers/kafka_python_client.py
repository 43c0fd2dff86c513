"""kafka-python behind `consumers/kafka_client.py`'s interface (`sources.kafka.client: kafka-python`).

kafka-python parses every record in Python (with the crc32c package for checksums), which makes it
the slower client; it is kept for platforms without a confluent-kafka wheel and as a second,
independent implementation the integration tests run everything against.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaTopicPartition
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.errors import IllegalStateError, KafkaError
from kafka.structs import OffsetAndMetadata

from consumers.kafka_client import Headers, KafkaClientError, PartitionRecords, Rebalance, TopicPartition
from consumers.kafka_options import kafka_python_options
from monitor.config import KafkaConfig

log = logging.getLogger("driftline.kafka")


def _split_options(config: KafkaConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    return kafka_python_options(
        config.client_options, set(KafkaConsumer.DEFAULT_CONFIG), set(KafkaProducer.DEFAULT_CONFIG)
    )


def consumer_settings(config: KafkaConfig) -> dict[str, Any]:
    return {
        "bootstrap_servers": config.bootstrap_servers,
        "reconnect_backoff_max_ms": config.reconnect_backoff_max_ms,
        "group_id": config.group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        # Range: the same partition numbers of the two co-partitioned topics go to one member.
        "partition_assignment_strategy": [RangePartitionAssignor],
        "max_poll_records": config.max_poll_records,
        "session_timeout_ms": config.session_timeout_ms,
        "heartbeat_interval_ms": config.heartbeat_interval_ms,
        "max_poll_interval_ms": config.max_poll_interval_ms,
        **_split_options(config)[0],
    }


def producer_settings(config: KafkaConfig) -> dict[str, Any]:
    return {
        "bootstrap_servers": config.bootstrap_servers,
        "reconnect_backoff_max_ms": config.reconnect_backoff_max_ms,
        # Not idempotent: an idempotent producer cannot recover its producer id after a broker
        # restart on some brokers; dead letters are at-least-once anyway.
        "acks": "all",
        "enable_idempotence": False,
        **_split_options(config)[1],
    }


def check_settings(config: KafkaConfig) -> None:
    consumer_settings(config)
    producer_settings(config)


def _tp(tp: TopicPartition) -> KafkaTopicPartition:
    return KafkaTopicPartition(tp[0], tp[1])


class _Listener(ConsumerRebalanceListener):
    def __init__(self, on_assign: Rebalance, on_revoke: Rebalance) -> None:
        self.on_assign, self.on_revoke = on_assign, on_revoke

    def on_partitions_revoked(self, revoked: Iterable[KafkaTopicPartition]) -> None:
        self.on_revoke([(tp.topic, tp.partition) for tp in revoked])

    def on_partitions_assigned(self, assigned: Iterable[KafkaTopicPartition]) -> None:
        self.on_assign([(tp.topic, tp.partition) for tp in assigned])


class KafkaPythonConsumer:
    def __init__(self, config: KafkaConfig) -> None:
        self._consumer = KafkaConsumer(**consumer_settings(config))

    def subscribe(self, topics: Sequence[str], on_assign: Rebalance, on_revoke: Rebalance) -> None:
        self._consumer.subscribe(list(topics), listener=_Listener(on_assign, on_revoke))

    def poll(self, timeout_s: float, max_records: int) -> list[PartitionRecords]:
        try:
            polled = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        except KafkaError as err:
            raise KafkaClientError(str(err)) from err
        return [
            PartitionRecords(tp.topic, tp.partition, [r.value for r in records], _offsets(records))
            for tp, records in polled.items()
            if records
        ]

    def seek(self, tp: TopicPartition, offset: int | None) -> None:
        if offset is None:
            self._consumer.seek_to_beginning(_tp(tp))
        else:
            self._consumer.seek(_tp(tp), offset)

    def commit_async(self, offsets: dict[TopicPartition, int]) -> None:
        commits = {_tp(tp): OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()}
        self._consumer.commit_async(commits, callback=_log_commit_failure)

    def pause(self, tps: Sequence[TopicPartition]) -> None:
        self._consumer.pause(*[_tp(tp) for tp in tps])

    def resume(self, tps: Sequence[TopicPartition]) -> None:
        assigned = self._consumer.assignment()
        resumed = [_tp(tp) for tp in tps if _tp(tp) in assigned]  # resume() raises on others
        self._consumer.resume(*resumed)
        # kafka-python 3.0.12 parks the records a paused partition had buffered and does not fetch
        # it while they are parked; it hands them back one partition at a time, and only while
        # its in-line slot is None, which a drained batch (falsy, not None) blocks until another
        # partition's fetch arrives. With no other traffic a resumed partition was never read
        # again (the pacing stalled). Dropping the parked records makes the partition fetchable
        # again from its position, which they did not move. Guarded: a version without these
        # attributes skips it.
        fetcher = getattr(self._consumer, "_fetcher", None)
        for parked in ("_paused_partition_records", "_paused_completed_fetches"):
            records = getattr(fetcher, parked, None)
            if isinstance(records, dict):
                for tp in resumed:
                    records.pop(tp, None)

    def lag(self, tp: TopicPartition, position: int | None) -> int | None:
        if _tp(tp) not in self._consumer.assignment():
            return 0  # not this consumer's to read
        highwater = self._consumer.highwater(_tp(tp))  # from the last fetch response parsed
        if highwater is None:
            return None
        if position is None:
            try:  # known without a request once the partition was fetched (timeout 0: never waits)
                position = self._consumer.position(_tp(tp), timeout_ms=0)
            except IllegalStateError:  # revoked meanwhile
                return 0
            if position is None:
                return None
        return max(0, int(highwater) - position)

    def close(self) -> None:
        self._consumer.close(autocommit=False)


def _offsets(records: list[Any]) -> Any:
    return lambda i: records[i].offset


class KafkaPythonProducer:
    def __init__(self, config: KafkaConfig) -> None:
        self._producer = KafkaProducer(**producer_settings(config))

    def send(self, topic: str, key: bytes, value: bytes | None, headers: Headers) -> None:
        self._producer.send(topic, key=key, value=value, headers=headers)

    def flush(self) -> None:
        self._producer.flush()

    def close(self) -> None:
        self._producer.close()


def _log_commit_failure(offsets: Any, error: Any) -> None:
    if isinstance(error, Exception):
        log.warning("offset commit after checkpoint failed (the state store has them): %s", error)
