"""Kafka ingestion with durable state: poll, ingest, checkpoint, then commit.

Exactly-once counting rests on one rule: the state store holds, in one transaction, each
partition's state *and* the next offsets to read of its two topic-partitions (predictions
and outcomes). After a crash or a rebalance a partition resumes from that checkpoint and
seeks to those offsets, so every message is counted once whatever happened after the
checkpoint. Kafka's own committed offsets follow the checkpoint (for lag monitoring and
tools); the store, not Kafka, is the source of truth.

Partitions are the unit of state: predictions-p and outcomes-p are assigned together (the
range assignor gives the same partition numbers of co-partitioned topics to one member),
so the join is local to a partition and to an instance.

The Kafka client is either confluent-kafka or kafka-python (`sources.kafka.client`), behind the
interface of `consumers/kafka_client.py`. After each batch, a partition's predictions or outcomes
that run too far ahead of the other in event time are paused (`consumers/pacing.py`).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterable

from consumers.kafka_client import ConsumerClient, KafkaClientError, PartitionRecords, ProducerClient
from consumers.kafka_client_choice import open_consumer, open_dead_letter_producer
from consumers.pacing import Pacer, Side, partition_event_times
from monitor.config import KafkaConfig
from monitor.pipeline.events import Rejected
from monitor.pipeline.monitor import Monitor
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service
from monitor.state.partitions import PeerPartitions, restore_partition, save_partitions
from monitor.state.store import StateStore

log = logging.getLogger("driftline.kafka")


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
        """Make the dead letters durable, save state and offsets atomically, then commit to Kafka."""
        chosen = sorted(self.owned if partitions is None else set(partitions) & self.owned)
        if not chosen:
            return
        if self._producer is not None:
            self._producer.flush()
        self.service.dead_letters.flush()
        # Under the lock: what changed since the last checkpoint is written, then marked saved.
        with self.service.lock:
            offsets = {p: dict(self.offsets[p]) for p in chosen}
            save_partitions(
                self.store,
                self.config.group_id,
                [(p, offsets[p], self.service.partitions[p]) for p in chosen],
            )
        self._last_checkpoint = time.monotonic()
        if commit and self._consumer is not None:
            commits = {(t, p): offset for p in chosen for t, offset in offsets[p].items()}
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
                    self._handle(records)
                elif self._idle_long_enough(idle_since):
                    break
                self._pace()
                if (
                    time.monotonic() - self._last_checkpoint
                    >= self.config.checkpoint_interval.total_seconds()
                ):
                    self.checkpoint()
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

    def _handle(self, records: list[PartitionRecords]) -> None:
        by_partition: dict[int, RawBatch] = {}
        # (partition, "predictions"/"outcomes") -> its records: a poll returns one list per topic
        # partition, so a reject's position in the batch is its index there (for dead letters).
        polled: dict[tuple[int, str], PartitionRecords] = {}
        for fetched in records:
            if fetched.partition not in self.owned:
                continue  # revoked while this batch was in flight
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
        """Pause the predictions or the outcomes of partitions where one runs too far ahead of the
        other, resume them once the gap closes or the other is caught up (consumers/pacing.py)."""
        if self._pacer is None or self._consumer is None:
            return
        predictions, outcomes = self.topics
        with self.service.lock:
            times = {p: partition_event_times(self.service.partitions[p]) for p in self.owned}
        for p, (predictions_ms, outcomes_ms) in sorted(times.items()):
            lags = {t: self._consumer.lag((t, p), self.offsets[p].get(t)) for t in self.topics}
            changes = self._pacer.update(p, predictions_ms, outcomes_ms, lags[predictions], lags[outcomes])
            for side, pause in changes:
                topic, other = (predictions, outcomes) if side == "predictions" else (outcomes, predictions)
                (self._consumer.pause if pause else self._consumer.resume)([(topic, p)])
                log.debug(
                    "%s %s-%d: %.1f h ahead of %s, %s records of it to read",
                    "paused" if pause else "resumed",
                    topic,
                    p,
                    abs(predictions_ms - outcomes_ms) / 3_600_000,
                    other,
                    lags[other],
                )

    def _unpace(self, partitions: set[int]) -> None:
        if self._pacer is not None and self._consumer is not None:
            paused = self._pacer.forget(partitions)
            if paused:  # a partition assigned again later must not start paused
                topic = {"predictions": self.topics[0], "outcomes": self.topics[1]}
                self._consumer.resume([(topic[side], p) for side, p in sorted(paused)])

    def _close(self) -> None:
        # The consumer first: leaving the group revokes the partitions, whose checkpoint flushes
        # the dead-letter producer.
        if self._consumer is not None:
            self._consumer.close()
        if self._producer is not None:
            self._producer.close()
        if self._pacer is not None:
            sides: tuple[tuple[Side, Side], ...] = (("predictions", "outcomes"), ("outcomes", "predictions"))
            for side, other in sides:
                if self._pacer.pauses[side]:
                    n = self._pacer.pauses[side]
                    log.info("pacing: %s paused %d times to wait for %s", side, n, other)
        self.connected.clear()


def stored_partitions(service: Service, store: StateStore, group: str) -> dict[int, Monitor]:
    """Every partition of the group as of its last checkpoint (windows, error buckets, counters)."""
    return PeerPartitions(store, group, lambda p: Monitor(service.config, service.baselines, p)).refresh()
