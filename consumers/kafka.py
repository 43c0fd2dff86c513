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
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from monitor.config import KafkaConfig
from monitor.pipeline.events import Rejected
from monitor.pipeline.monitor import Monitor
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service
from monitor.state.partitions import PeerPartitions, restore_partition, save_partitions
from monitor.state.store import StateStore

log = logging.getLogger("driftline.kafka")


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, source: KafkaSource) -> None:
        self.source = source

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self.source.release({tp.partition for tp in revoked})

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.source.acquire({tp.partition for tp in assigned})


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
        self._consumer: KafkaConsumer | None = None
        self._producer: KafkaProducer | None = None
        self._last_checkpoint = time.monotonic()
        self._last_probe = 0.0
        self._peers = PeerPartitions(
            store, config.group_id, lambda: Monitor(service.config, service.baselines)
        )

    # ------------------------------------------------------------------ clients

    def _client_options(self) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.config.bootstrap_servers,
            "reconnect_backoff_max_ms": self.config.reconnect_backoff_max_ms,
            **self.config.client_options,
        }

    def _consumer_for(self) -> KafkaConsumer:
        return KafkaConsumer(
            group_id=self.config.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            partition_assignment_strategy=[RangePartitionAssignor],
            max_poll_records=self.config.max_poll_records,
            session_timeout_ms=self.config.session_timeout_ms,
            heartbeat_interval_ms=self.config.heartbeat_interval_ms,
            max_poll_interval_ms=self.config.max_poll_interval_ms,
            **self._client_options(),
        )

    def _dead_letter_producer(self) -> KafkaProducer | None:
        if self.config.dead_letter_topic is None:
            return None
        # Not idempotent: an idempotent producer cannot recover its producer id after a broker
        # restart on some brokers; dead letters are at-least-once anyway.
        return KafkaProducer(acks="all", enable_idempotence=False, **self._client_options())

    # ------------------------------------------------------------------ partitions

    def acquire(self, partitions: set[int]) -> None:
        """Load the checkpoints of newly assigned partitions and seek to their offsets."""
        assert self._consumer is not None
        stored = self.store.load(self.config.group_id, partitions)
        for p in sorted(partitions):
            monitor = Monitor(self.service.config, self.service.baselines)
            offsets = {}
            if p in stored:
                restore_partition(self.store, self.config.group_id, stored[p], monitor)
                offsets = dict(stored[p].offsets)
            with self.service.lock:
                self.service.partitions[p] = monitor
            self.offsets[p] = offsets
            for topic in self.topics:
                tp = TopicPartition(topic, p)
                if topic in offsets:
                    self._consumer.seek(tp, offsets[topic])
                else:
                    self._consumer.seek_to_beginning(tp)
            self.owned.add(p)
        log.info("assigned partitions %s (%d from checkpoints)", sorted(partitions), len(stored))

    def release(self, partitions: set[int]) -> None:
        """Checkpoint revoked partitions and forget them: their next owner resumes from there."""
        mine = partitions & self.owned
        if not mine:
            return
        # This runs on kafka-python's IO thread, where a blocking commit is not allowed; the
        # store is the source of truth, and the next owner seeks to its offsets anyway.
        self.checkpoint(mine, commit=False)
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
            commits = {
                TopicPartition(topic, p): OffsetAndMetadata(offset, "", -1)
                for p in chosen
                for topic, offset in offsets[p].items()
            }
            # Asynchronous: a synchronous commit blocks the loop for as long as the broker is away.
            # The store already holds the truth; Kafka's copy catches up at the next checkpoint.
            self._consumer.commit_async(commits, callback=_log_commit_failure)

    # ------------------------------------------------------------------ the loop

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set (or the input stays idle for `stop_when_idle`)."""
        self._consumer = self._consumer_for()
        self._producer = self._dead_letter_producer()
        self._consumer.subscribe(list(self.topics), listener=_Rebalance(self))
        idle_since = time.monotonic()
        timeout_ms = int(self.config.poll_timeout.total_seconds() * 1000)
        try:
            while not stop.is_set():
                try:
                    records = self._consumer.poll(
                        timeout_ms=timeout_ms, max_records=self.config.max_poll_records
                    )
                except KafkaError as err:
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
        /readyz). kafka-python reconnects with backoff on its own; this only reports it."""
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

    def _handle(self, records: dict[TopicPartition, list[Any]]) -> None:
        by_partition: dict[int, RawBatch] = {}
        # (partition, "predictions"/"outcomes") -> its records: a poll returns one list per topic
        # partition, so a reject's position in the batch is its index there (for dead letters).
        polled: dict[tuple[int, str], list[Any]] = {}
        for tp, messages in records.items():
            if tp.partition not in self.owned:
                continue  # revoked while this batch was in flight
            batch = by_partition.setdefault(tp.partition, RawBatch())
            values = [m.value for m in messages]
            kind = "predictions" if tp.topic == self.config.predictions_topic else "outcomes"
            getattr(batch, kind).extend(values)
            polled[(tp.partition, kind)] = messages
            self.offsets[tp.partition][tp.topic] = messages[-1].offset + 1
        for partition, batch in sorted(by_partition.items()):
            rejected = self.service.handle(batch, partition)
            self._dead_letter(rejected, partition, polled)

    def _dead_letter(
        self, rejected: list[Rejected], partition: int, polled: dict[tuple[int, str], list[Any]]
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
            offset = polled[(partition, reject.topic)][reject.position].offset
            headers = [
                ("reason", reject.reason.encode()),
                ("detail", reject.detail.encode()[:1000]),
                ("topic", topic.encode()),
                ("partition", str(partition).encode()),
                ("offset", str(offset).encode()),
            ]
            key = f"{topic}/{partition}/{offset}".encode()
            self._producer.send(self.config.dead_letter_topic, key=key, value=reject.raw, headers=headers)

    def _close(self) -> None:
        if self._producer is not None:
            self._producer.flush()
            self._producer.close()
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
        self.connected.clear()


def stored_partitions(service: Service, store: StateStore, group: str) -> dict[int, Monitor]:
    """Every partition of the group as of its last checkpoint (windows, detectors, counters)."""
    return PeerPartitions(store, group, lambda: Monitor(service.config, service.baselines)).refresh()


def _log_commit_failure(offsets: Any, error: Any) -> None:
    if isinstance(error, Exception):
        log.warning("offset commit after checkpoint failed (the state store has them): %s", error)
