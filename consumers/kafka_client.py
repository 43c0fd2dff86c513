"""The one interface `KafkaSource` uses to talk to Kafka, with two implementations behind it:
confluent-kafka (librdkafka: records are parsed in C on librdkafka's threads; the default when it
is installed) in `consumers/confluent_client.py`, and kafka-python (pure Python record parsing) in
`consumers/kafka_python_client.py`. `sources.kafka.client` picks one
(`consumers/kafka_client_choice.py`).

Both clients call the rebalance callbacks on the thread that polls, from inside `poll()`, so the
source restores and checkpoints partitions on its own thread. A topic-partition is written
(topic, partition) here, never as either client's own TopicPartition type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from monitor.errors import DriftlineError

TopicPartition = tuple[str, int]
Rebalance = Callable[[list[TopicPartition]], None]
Headers = list[tuple[str, bytes]]


class KafkaClientError(DriftlineError):
    """The broker could not be reached or answered with an error the client does not retry itself."""


@dataclass(frozen=True, slots=True)
class PartitionRecords:
    """The records one poll brought of one topic-partition, in offset order. The values are
    handed over as one list; offsets are looked up one at a time (`offset_at`) because only the
    last one and those of dead letters are needed, which saves a Python call per record."""

    topic: str
    partition: int
    values: list[bytes | None]
    offset_at: Callable[[int], int]  # the offset of values[i]

    @property
    def next_offset(self) -> int:
        return self.offset_at(len(self.values) - 1) + 1


class ConsumerClient(Protocol):
    def subscribe(self, topics: Sequence[str], on_assign: Rebalance, on_revoke: Rebalance) -> None:
        """Join the group; the callbacks run inside `poll()` on the polling thread."""

    def poll(self, timeout_s: float, max_records: int) -> list[PartitionRecords]:
        """Up to `max_records` records, one entry per topic-partition; raises KafkaClientError."""

    def seek(self, tp: TopicPartition, offset: int | None) -> None:
        """Read `tp` from `offset` on (None: from its first record); also inside `on_assign`."""

    def commit_async(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit the next offsets to read without waiting; a failure is logged, not raised."""

    def pause(self, tps: Sequence[TopicPartition]) -> None: ...

    def resume(self, tps: Sequence[TopicPartition]) -> None:
        """Fetch paused topic-partitions again; ones no longer assigned are skipped."""

    def lag(self, tp: TopicPartition, position: int | None) -> int | None:
        """Records of `tp` after `position` (None: the client's own position), from the high
        watermark of the last fetch; 0 for a partition not assigned here; None while an assigned
        one has not been fetched yet."""

    def close(self) -> None:
        """Leave the group without committing."""


class ProducerClient(Protocol):
    def send(self, topic: str, key: bytes, value: bytes | None, headers: Headers) -> None: ...

    def flush(self) -> None:
        """Wait until every record sent so far is acknowledged (or failed, which is logged)."""

    def close(self) -> None: ...
