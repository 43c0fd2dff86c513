"""Kafka ingestion with durable state: poll, ingest, checkpoint, then commit.

Exactly-once counting rests on one rule: the state store holds, in one transaction, each
partition's state *and* the next offsets to read of its two topic-partitions (predictions
and outcomes). After a crash or a rebalance a partition resumes from that checkpoint and
seeks to those offsets, so every message is counted once whatever happened after the
checkpoint. Kafka's own committed offsets follow the checkpoint (for lag monitoring and
tools); the store, not Kafka, is the source of truth.

The periodic checkpoints are saved on a thread of their own while the loop goes on
(`CheckpointWriter`): the loop only takes what changed, under the service lock, and later marks it
saved and commits its offsets. A revoke's checkpoint and the last one wait for the one in flight
and are saved in place.

Partitions are the unit of state: predictions-p and outcomes-p are assigned together (the
range assignor gives the same partition numbers of co-partitioned topics to one member),
so the join is local to a partition and to an instance.

The Kafka client is either confluent-kafka or kafka-python (`sources.kafka.client`), behind the
interface of `consumers/kafka_client.py`. After each batch, a partition's predictions or outcomes
that run too far ahead of the other in event time wait (`consumers/pacing.py`): what they poll is
held back in the source, unhandled and with its offsets not advanced, and the client pauses them
only while too much is held (`consumers/held_records.py`).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable

from consumers.held_records import HeldRecords
from consumers.kafka_client import (
    ConsumerClient,
    KafkaClientError,
    PartitionRecords,
    ProducerClient,
    TopicPartition,
)
from consumers.kafka_client_choice import open_consumer, open_dead_letter_producer
from consumers.pacing import Pacer, partition_event_times
from monitor.config import KafkaConfig
from monitor.pipeline.events import Rejected
from monitor.pipeline.monitor import Monitor
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service
from monitor.state.partitions import CheckpointWriter, PeerPartitions, restore_partition, save_partitions
from monitor.state.store import StateStore

log = logging.getLogger("driftline.kafka")
# What pacing holds back over all partitions before the client pauses a side: polls' worth of records,
# or librdkafka's own default bound of its fetch queue (queued.max.messages.kbytes) in bytes.
HELD_POLLS = 4
HELD_BYTES = 64 * 1024 * 1024


class KafkaSource:
    """Runs the consume loop of one instance of the consumer group."""

    def __init__(self, service: Service, store: StateStore, config: KafkaConfig) -> None:
        self.service = service
        service.partitions.clear()  # partitions come and go with the group's assignment
        service.peers = self.peers
        service.may_evaluate = self.may_evaluate
        self.store = store
        self.config = config
        self.topics = (config.predictions_topic, config.outcomes_topic)
        self.owned: set[int] = set()
        self.offsets: dict[int, dict[str, int]] = {}  # partition -> topic -> next offset
        self.connected = threading.Event()
        self._consumer: ConsumerClient | None = None
        self._producer: ProducerClient | None = None
        ahead = config.max_read_ahead
        self._pacer = None if ahead is None else Pacer(int(ahead.total_seconds() * 1000))
        self._waiting: set[TopicPartition] = set()  # sides the pacer holds back
        self._held = HeldRecords(limit=HELD_POLLS * config.max_poll_records, limit_bytes=HELD_BYTES)
        self._client_paused: set[TopicPartition] = set()  # held too much: paused in the client too
        self._client_pauses: Counter[str] = Counter()  # per topic, for the log
        self._writer = CheckpointWriter(store, config.group_id)
        self._last_checkpoint = time.monotonic()
        self._last_probe = 0.0
        self._peers = PeerPartitions(
            store, config.group_id, lambda p: Monitor(service.config, service.baselines, p)
        )

    # ------------------------------------------------------------------ partitions

    def acquire(self, partitions: set[int]) -> None:
        """Load the checkpoints of newly assigned partitions and seek to their offsets."""
        assert self._consumer is not None
        stored = self.store.load(self.config.group_id, partitions)
        for p in sorted(partitions):
            monitor = Monitor(self.service.config, self.service.baselines, p)
            offsets = {}
            if p in stored:
                restore_partition(self.store, self.config.group_id, stored[p], monitor)
                offsets = dict(stored[p].offsets)
            with self.service.lock:
                self.service.partitions[p] = monitor
            self.offsets[p] = offsets
            for topic in self.topics:
                self._consumer.seek((topic, p), offsets.get(topic))  # None: from the beginning
            self.owned.add(p)
        log.info("assigned partitions %s (%d from checkpoints)", sorted(partitions), len(stored))

    def release(self, partitions: set[int]) -> None:
        """Checkpoint revoked partitions and forget them: their next owner resumes from there."""
        mine = partitions & self.owned
        if not mine:
            return
        # No commit here: inside a rebalance a blocking commit is not allowed (kafka-python); the
        # store is the source of truth, and the next owner seeks to its offsets anyway.
        self.checkpoint(mine, commit=False)
        self._unpace(mine)
        with self.service.lock:
            for p in mine:
                self.service.partitions.pop(p, None)
        for p in mine:
            self.offsets.pop(p, None)
        self.owned -= mine
        log.info("released partitions %s", sorted(mine))

    def peers(self) -> list[Monitor]:
        """Partitions owned by other instances, as of their last checkpoint (windows, streams and
        counters; refreshed by what changed since the last call)."""
        stored = self._peers.refresh()
        return [monitor for p, monitor in sorted(stored.items()) if p not in self.owned]

    def may_evaluate(self) -> bool:
        """Only one instance of the group evaluates at a time (the store's lock)."""
        return self.store.try_lock_evaluation(self.config.group_id)

    # ------------------------------------------------------------------ checkpoints

    def checkpoint(self, partitions: Iterable[int] | None = None, commit: bool = True) -> None:
        """Make the dead letters durable, save state and offsets atomically, then commit to Kafka;
        in place, once the checkpoint in flight (if any) is saved."""
        self._finish_checkpoint(wait=True, commit=commit)
        chosen = sorted(self.owned if partitions is None else set(partitions) & self.owned)
        if not chosen:
            return
        self._flush_dead_letters()
        # Under the lock: what changed since the last checkpoint is written, then marked saved.
        with self.service.lock:
            offsets = {p: dict(self.offsets[p]) for p in chosen}
            save_partitions(
                self.store,
                self.config.group_id,
                [(p, offsets[p], self.service.partitions[p]) for p in chosen],
            )
        self._last_checkpoint = time.monotonic()
        if commit:
            self._commit(offsets)

    def _start_checkpoint(self) -> None:
        """Take a checkpoint of every owned partition and start saving it on its own thread."""
        chosen = sorted(self.owned)
        if not chosen:
            return
        self._flush_dead_letters()
        with self.service.lock:
            self._writer.start([(p, dict(self.offsets[p]), self.service.partitions[p]) for p in chosen])
        self._last_checkpoint = time.monotonic()

    def _finish_checkpoint(self, wait: bool, commit: bool = True) -> None:
        """Mark the checkpoint in flight saved once its save is done (`wait`: wait for it) and
        commit its offsets. A failed save raises here, as a checkpoint in place would."""
        if not self._writer.busy:
            return
        if wait:
            self._writer.wait()
        elif not self._writer.done():
            return
        with self.service.lock:
            offsets = self._writer.finish()
        if commit and offsets:
            self._commit({p: o for p, o in offsets.items() if p in self.owned})

    def _flush_dead_letters(self) -> None:
        """Before a checkpoint covers a reject, its dead letter is durable."""
        if self._producer is not None:
            self._producer.flush()
        self.service.dead_letters.flush()

    def _commit(self, offsets: dict[int, dict[str, int]]) -> None:
        if self._consumer is not None and offsets:
            commits = {(t, p): offset for p, by_topic in offsets.items() for t, offset in by_topic.items()}
            # Asynchronous: a synchronous commit blocks the loop for as long as the broker is away.
            # The store already holds the truth; Kafka's copy catches up at the next checkpoint.
            self._consumer.commit_async(commits)

    # ------------------------------------------------------------------ the loop

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set (or the input stays idle for `stop_when_idle`)."""
        self._consumer = open_consumer(self.config)
        self._producer = open_dead_letter_producer(self.config)
        self._consumer.subscribe(
            self.topics,
            on_assign=lambda tps: self.acquire({p for _, p in tps}),
            on_revoke=lambda tps: self.release({p for _, p in tps}),
        )
        idle_since = time.monotonic()
        timeout_s = self.config.poll_timeout.total_seconds()
        try:
            while not stop.is_set():
                try:
                    records = self._consumer.poll(timeout_s, self.config.max_poll_records)
                except KafkaClientError as err:
                    self.connected.clear()
                    log.warning("poll failed (%s); retrying", err)
                    stop.wait(1.0)
                    continue
                self._update_connected()
                if records:
                    idle_since = time.monotonic()
                    self._sort(records)
                elif self._idle_long_enough(idle_since):
                    break
                self._pace()
                self._finish_checkpoint(wait=False)
                if (
                    not self._writer.busy
                    and time.monotonic() - self._last_checkpoint
                    >= self.config.checkpoint_interval.total_seconds()
                ):
                    self._start_checkpoint()
            self.checkpoint()
        finally:
            self._close()

    def _idle_long_enough(self, idle_since: float) -> bool:
        limit = self.config.stop_when_idle
        return (
            limit is not None and bool(self.owned) and time.monotonic() - idle_since >= limit.total_seconds()
        )

    def _update_connected(self) -> None:
        """Whether a bootstrap broker accepts connections, probed at most once a second (for
        /readyz). Both clients reconnect with backoff on their own; this only reports it."""
        now = time.monotonic()
        if now - self._last_probe < 1.0:
            return
        self._last_probe = now
        for server in self.config.bootstrap_servers:
            host, _, port = server.rpartition(":")
            try:
                socket.create_connection((host or "localhost", int(port or 9092)), timeout=0.5).close()
            except OSError:
                continue
            self.connected.set()
            return
        self.connected.clear()

    def _sort(self, records: list[PartitionRecords]) -> None:
        """Hand a poll's records to the service, except those of sides that wait (or still hold
        records from before: order is kept), which are held back."""
        ready = []
        for fetched in records:
            if fetched.partition not in self.owned:
                continue  # revoked while this batch was in flight
            tp = (fetched.topic, fetched.partition)
            if tp not in self._waiting and tp not in self._held:
                ready.append(fetched)
                continue
            self._held.hold(fetched)
            if self._held.over_limit() and tp not in self._client_paused:
                assert self._consumer is not None
                self._consumer.pause([tp])
                self._client_paused.add(tp)
                self._client_pauses[fetched.topic] += 1
        if ready:
            self._handle(ready)

    def _handle(self, records: list[PartitionRecords]) -> None:
        """Ingest records (at most one entry per topic-partition) and advance their offsets."""
        by_partition: dict[int, RawBatch] = {}
        # (partition, "predictions"/"outcomes") -> its records: one entry per topic-partition, so a
        # reject's position in the batch is its index there (for dead letters).
        polled: dict[tuple[int, str], PartitionRecords] = {}
        for fetched in records:
            batch = by_partition.setdefault(fetched.partition, RawBatch())
            kind = "predictions" if fetched.topic == self.config.predictions_topic else "outcomes"
            getattr(batch, kind).extend(fetched.values)
            polled[(fetched.partition, kind)] = fetched
            self.offsets[fetched.partition][fetched.topic] = fetched.next_offset
        for partition, batch in sorted(by_partition.items()):
            rejected = self.service.handle(batch, partition)
            self._dead_letter(rejected, partition, polled)

    def _dead_letter(
        self, rejected: list[Rejected], partition: int, polled: dict[tuple[int, str], PartitionRecords]
    ) -> None:
        """Each reject to the dead-letter topic: the original bytes, the reason and where it came from
        (topic, partition, offset headers; the key repeats them, so a consumer of the dead-letter
        topic can drop the copies a replay after a crash sends again)."""
        if self._producer is None or self.config.dead_letter_topic is None:
            return
        for reject in rejected:
            if reject.reason == "empty":
                continue
            topic = self.topics[0] if reject.topic == "predictions" else self.topics[1]
            offset = polled[(partition, reject.topic)].offset_at(reject.position)
            headers = [
                ("reason", reject.reason.encode()),
                ("detail", reject.detail.encode()[:1000]),
                ("topic", topic.encode()),
                ("partition", str(partition).encode()),
                ("offset", str(offset).encode()),
            ]
            key = f"{topic}/{partition}/{offset}".encode()
            self._producer.send(self.config.dead_letter_topic, key, reject.raw, headers)

    # ------------------------------------------------------------------ pacing

    def _pace(self) -> None:
        """Hand the service one poll's worth of each held side that may go on, then hold back the
        predictions or the outcomes of partitions where one runs too far ahead of the other and let
        them go on once the gap closes or the other is caught up (consumers/pacing.py).

        Releasing before the check keeps what a side gets between two checks to one poll's worth:
        a side holding records gets nothing from a poll (its records go behind the held ones), and
        one holding none gets nothing from the release."""
        if self._pacer is None or self._consumer is None:
            return
        most = self.config.max_poll_records
        released = [self._held.take(tp, most) for tp in self._held.holding() if tp not in self._waiting]
        ready = [records for records in released if records is not None]
        if ready:
            self._handle(ready)
        predictions, outcomes = self.topics
        with self.service.lock:
            times = {p: partition_event_times(self.service.partitions[p]) for p in self.owned}
        for p, (predictions_ms, outcomes_ms) in sorted(times.items()):
            lags = {t: self._consumer.lag((t, p), self._next_to_handle(t, p)) for t in self.topics}
            changes = self._pacer.update(p, predictions_ms, outcomes_ms, lags[predictions], lags[outcomes])
            for side, wait in changes:
                topic, other = (predictions, outcomes) if side == "predictions" else (outcomes, predictions)
                (self._waiting.add if wait else self._waiting.discard)((topic, p))
                log.debug(
                    "%s %s-%d: %.1f h ahead of %s, %s records of it to read",
                    "holding" if wait else "released",
                    topic,
                    p,
                    abs(predictions_ms - outcomes_ms) / 3_600_000,
                    other,
                    lags[other],
                )
        # A side that does not wait and holds nothing adds nothing to the held records, so it goes
        # on whatever is held. Waiting for the count to drop could wait forever: the records held
        # may be those of sides that wait for this one (its partition's other side).
        over = self._held.over_limit()
        self._resume(
            [tp for tp in self._client_paused if tp not in self._waiting and not (over and tp in self._held)]
        )

    def _next_to_handle(self, topic: str, partition: int) -> int | None:
        """The offset the service gets next from this topic-partition: its held records count as
        still to read (the client's own position is past them). None: nothing handled or held yet."""
        held = self._held.first_offset((topic, partition))
        return self.offsets[partition].get(topic) if held is None else held

    def _resume(self, tps: Iterable[TopicPartition]) -> None:
        chosen = sorted(tps)
        if chosen and self._consumer is not None:
            self._consumer.resume(chosen)
            self._client_paused.difference_update(chosen)

    def _unpace(self, partitions: set[int]) -> None:
        """Revoked partitions: forget their waits and held records (their next owner reads them
        again) and resume them in the client, so one assigned again later does not start paused."""
        if self._pacer is not None:
            self._pacer.forget(partitions)
        self._waiting = {tp for tp in self._waiting if tp[1] not in partitions}
        self._held.drop(partitions)
        self._resume([tp for tp in self._client_paused if tp[1] in partitions])

    def _close(self) -> None:
        # The consumer first: leaving the group revokes the partitions, whose checkpoint flushes
        # the dead-letter producer.
        if self._consumer is not None:
            self._consumer.close()
        if self._producer is not None:
            self._producer.close()
        if self._pacer is not None:
            topic = {"predictions": self.topics[0], "outcomes": self.topics[1]}
            for side, n in sorted(self._pacer.waits.items()):
                other = "outcomes" if side == "predictions" else "predictions"
                paused = self._client_pauses[topic[side]]
                log.info(
                    "pacing: %s waited %d times for %s (paused in the client %d times)",
                    side,
                    n,
                    other,
                    paused,
                )
        self.connected.clear()


def stored_partitions(service: Service, store: StateStore, group: str) -> dict[int, Monitor]:
    """Every partition of the group as of its last checkpoint (windows, error buckets, counters)."""
    return PeerPartitions(store, group, lambda p: Monitor(service.config, service.baselines, p)).refresh()
