"""Records polled from a topic-partition that the pacer holds back: kept here, not paused in the client.

Pausing a partition in librdkafka purges the messages it has fetched ahead (librdkafka issue #5343),
so the resumed partition waits for a new fetch, and that fetch can queue behind one that long-polls
caught-up partitions for `fetch.wait.max.ms`. A poll of 5,000 records spans more event time than
`max_read_ahead` in a backlog, so the pacer flips a side every poll or two: in bench_kafka.py the
refetches after 35 pauses took half of driftline's wall time. So a side that must wait first keeps
what it polls here, and is paused in the client only while more than `limit` records or
`limit_bytes` bytes of values (all topic-partitions together) are held; its local queue is then
purged, but what was polled before is kept, so the client resumes after it.

Held records are not handed to the service, and the source does not advance their offsets, so a
checkpoint never covers them: after a crash or a rebalance they are read again. Order is kept per
topic-partition: while one holds records, newly polled ones go behind them, and they go to the
service a `take` at a time in offset order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consumers.kafka_client import PartitionRecords, TopicPartition


def joined(first: PartitionRecords, second: PartitionRecords) -> PartitionRecords:
    """`second`'s records after `first`'s (the same topic-partition, in offset order)."""
    n = len(first.values)
    at_first, at_second = first.offset_at, second.offset_at
    return PartitionRecords(
        first.topic,
        first.partition,
        first.values + second.values,
        lambda i: at_first(i) if i < n else at_second(i - n),
    )


def sliced(records: PartitionRecords, start: int, stop: int) -> PartitionRecords:
    """records.values[start:stop] with their offsets."""
    at = records.offset_at
    return PartitionRecords(
        records.topic, records.partition, records.values[start:stop], lambda i: at(i + start)
    )


@dataclass
class HeldRecords:
    """What the pacer held back, per topic-partition, and whether that is over the limit."""

    limit: int  # records held over all topic-partitions before the newest one is paused in the client
    limit_bytes: int  # the same in bytes of the values: big records pause sooner
    _held: dict[TopicPartition, PartitionRecords] = field(default_factory=dict)
    _count: int = 0
    _bytes: int = 0

    def __contains__(self, tp: TopicPartition) -> bool:
        return tp in self._held

    def __len__(self) -> int:
        """Records held over all topic-partitions."""
        return self._count

    def hold(self, records: PartitionRecords) -> None:
        """Keep these records behind any held before them of the same topic-partition."""
        if not records.values:
            return
        tp = (records.topic, records.partition)
        before = self._held.get(tp)
        self._held[tp] = records if before is None else joined(before, records)
        self._count += len(records.values)
        self._bytes += _size(records)

    def over_limit(self) -> bool:
        return self._count > self.limit or self._bytes > self.limit_bytes

    def holding(self) -> list[TopicPartition]:
        return sorted(self._held)

    def first_offset(self, tp: TopicPartition) -> int | None:
        """The offset of `tp`'s oldest held record: the next one the service is to get."""
        records = self._held.get(tp)
        return None if records is None else records.offset_at(0)

    def take(self, tp: TopicPartition, most: int) -> PartitionRecords | None:
        """Up to `most` of `tp`'s held records, the oldest first; the rest stay held."""
        records = self._held.pop(tp, None)
        if records is None:
            return None
        n = len(records.values)
        if n > most:
            self._held[tp] = sliced(records, most, n)
            records = sliced(records, 0, most)
        self._count -= len(records.values)
        self._bytes -= _size(records)
        return records

    def drop(self, partitions: set[int]) -> None:
        """Forget the held records of revoked partitions: their next owner reads them again."""
        for tp in [tp for tp in self._held if tp[1] in partitions]:
            records = self._held.pop(tp)
            self._count -= len(records.values)
            self._bytes -= _size(records)


def _size(records: PartitionRecords) -> int:
    return sum(map(len, filter(None, records.values)))  # a tombstone (None) has no value
