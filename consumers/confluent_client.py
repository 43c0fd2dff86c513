"""confluent-kafka behind `consumers/kafka_client.py`'s interface (`sources.kafka.client: confluent`,
the default when it is installed).

librdkafka fetches, decompresses and parses records in C on its own threads; what is left in Python
is one `consume()` per batch and grouping its messages by topic-partition. That grouping calls the
Message accessors through `map()` (a C loop) rather than in a Python expression per message, and
finds where one topic-partition's run ends in numpy: a batch holds long runs of one
topic-partition, as librdkafka queues whole fetched message sets.

Rebalances: the callbacks run inside `consume()` on the calling thread. Offsets chosen by the
`on_assign` callback (`seek` while it runs) go into the `assign()` that ends the callback, since
librdkafka cannot seek a partition before it is assigned.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition

from consumers.kafka_client import Headers, KafkaClientError, PartitionRecords, Rebalance, TopicPartition
from consumers.kafka_options import librdkafka_options
from monitor.config import KafkaConfig
from monitor.errors import ConfigError

log = logging.getLogger("driftline.kafka")
_librdkafka_log = logging.getLogger("driftline.kafka.librdkafka")


def _common(config: KafkaConfig) -> dict[str, Any]:
    return {
        "bootstrap.servers": ",".join(config.bootstrap_servers),
        "reconnect.backoff.max.ms": config.reconnect_backoff_max_ms,
        **librdkafka_options(config.client_options),
    }


def consumer_settings(config: KafkaConfig) -> dict[str, Any]:
    return {
        "group.id": config.group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        # Range: the same partition numbers of the two co-partitioned topics go to one member.
        "partition.assignment.strategy": "range",
        "session.timeout.ms": config.session_timeout_ms,
        "heartbeat.interval.ms": config.heartbeat_interval_ms,
        "max.poll.interval.ms": config.max_poll_interval_ms,
        "enable.partition.eof": False,
        # Once its fetch queue is full, librdkafka waits this long before fetching again (default
        # 1 s). A loop that drains the queue in well under a second then polls an empty queue:
        # bench_kafka.py measured 0.2-0.5 s such waits in a 3.3 s run, none at 50 ms.
        "fetch.queue.backoff.ms": 50,
        **_common(config),
    }


def producer_settings(config: KafkaConfig) -> dict[str, Any]:
    # Not idempotent: an idempotent producer cannot recover its producer id after a broker restart
    # on some brokers; dead letters are at-least-once anyway.
    return {"acks": "all", "enable.idempotence": False, **_common(config)}


def _made(factory: Callable[[dict[str, Any]], Any], settings: dict[str, Any]) -> Any:
    """The client, or a ConfigError when librdkafka refuses a property (its message names it)."""
    try:
        return factory({**settings, "error_cb": _log_client_error, "logger": _librdkafka_log})
    except KafkaException as err:
        raise ConfigError(f"sources.kafka.client_options (librdkafka): {err.args[0].str()}") from err


def check_settings(config: KafkaConfig) -> None:
    """librdkafka checks property names and values when a client is made, so making both and
    closing them at once is the check (the bootstrap servers may see a connection attempt)."""
    _made(Consumer, consumer_settings(config)).close()
    _made(Producer, producer_settings(config)).close()


def _tp(tp: TopicPartition, offset: int | None = None) -> KafkaTopicPartition:
    if offset is None:
        return KafkaTopicPartition(tp[0], tp[1])
    return KafkaTopicPartition(tp[0], tp[1], offset)


class ConfluentConsumer:
    def __init__(self, config: KafkaConfig) -> None:
        self._consumer: Consumer = _made(
            Consumer, {**consumer_settings(config), "on_commit": _log_commit_failure}
        )
        self._on_assign: Rebalance = lambda _: None
        self._on_revoke: Rebalance = lambda _: None
        self._seeks: dict[TopicPartition, int | None] | None = None  # set while on_assign runs
        self._topics: list[str] = []
        self._topic_index: dict[str | None, int] = {}  # topic() is typed Optional; consumed records have one

    def subscribe(self, topics: Sequence[str], on_assign: Rebalance, on_revoke: Rebalance) -> None:
        self._on_assign, self._on_revoke = on_assign, on_revoke
        self._topics = list(topics)
        self._topic_index = {topic: i for i, topic in enumerate(self._topics)}
        self._consumer.subscribe(list(topics), on_assign=self._assigned, on_revoke=self._revoked)

    def _assigned(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        self._seeks = {}
        try:
            self._on_assign([(p.topic, p.partition) for p in partitions])
            for p in partitions:
                where = (p.topic, p.partition)
                if where in self._seeks:
                    offset = self._seeks[where]
                    p.offset = OFFSET_BEGINNING if offset is None else offset
        finally:
            self._seeks = None
        consumer.assign(partitions)

    def _revoked(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        self._on_revoke([(p.topic, p.partition) for p in partitions])

    def poll(self, timeout_s: float, max_records: int) -> list[PartitionRecords]:
        try:
            messages = self._arrived(timeout_s, max_records)
        except KafkaException as err:
            raise KafkaClientError(str(err)) from err
        if not messages:
            return []
        if any(map(Message.error, messages)):
            messages = self._without_errors(messages)
            if not messages:
                return []
        return [
            PartitionRecords(
                self._topics[code >> 32], code & 0xFFFFFFFF, list(map(Message.value, run)), _offsets(run)
            )
            for code, run in self._runs(messages).items()
        ]

    def _arrived(self, timeout_s: float, max_records: int) -> list[Message]:
        """Up to `max_records` messages: those already fetched, at once; when there are none, the
        first to arrive within `timeout_s` and whatever came with it. `consume(n, timeout)` alone
        waits until n have arrived or the timeout passes, and n do not come while the pacer holds
        partitions back: bench_kafka.py measured ~1 s of a 3.4 s run in such waits."""
        messages = self._consumer.consume(max_records, 0)
        if messages:
            return messages
        messages = self._consumer.consume(1, timeout_s)
        if messages and max_records > 1:
            messages += self._consumer.consume(max_records - 1, 0)
        return messages

    def _runs(self, messages: list[Message]) -> dict[int, list[Message]]:
        """The messages by topic-partition, each code = topic index << 32 | partition. The codes
        are compared in numpy: a (topic, partition) tuple per message measured ~800 ns a message
        on 150k messages, this whole function with the values ~190 ns."""
        n = len(messages)
        codes = np.fromiter(map(self._topic_index.__getitem__, map(Message.topic, messages)), np.int64, n)
        codes <<= 32
        codes += np.fromiter(map(Message.partition, messages), np.int64, n)
        bounds = [0, *(np.flatnonzero(codes[1:] != codes[:-1]) + 1).tolist(), n]
        runs: dict[int, list[Message]] = {}
        for start, end in itertools.pairwise(bounds):
            code = int(codes[start])
            if code in runs:
                runs[code] += messages[start:end]
            else:
                runs[code] = messages[start:end]
        return runs

    @staticmethod
    def _without_errors(messages: list[Message]) -> list[Message]:
        kept = []
        for message in messages:
            error = message.error()
            if error is None:
                kept.append(message)
            elif error.fatal():
                raise KafkaClientError(error.str())
            else:  # librdkafka retries these itself (a partition without a leader, a lost broker)
                log.warning("consume: %s", error.str())
        return kept

    def seek(self, tp: TopicPartition, offset: int | None) -> None:
        if self._seeks is not None:  # inside on_assign: the assign() that follows takes it
            self._seeks[tp] = offset
            return
        self._consumer.seek(_tp(tp, OFFSET_BEGINNING if offset is None else offset))

    def commit_async(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            self._consumer.commit(
                offsets=[_tp(tp, offset) for tp, offset in offsets.items()], asynchronous=True
            )
        except KafkaException as err:  # e.g. no longer in the group: the store has the offsets
            log.warning("offset commit after checkpoint failed (the state store has them): %s", err)

    def pause(self, tps: Sequence[TopicPartition]) -> None:
        self._consumer.pause([_tp(tp) for tp in tps])

    def resume(self, tps: Sequence[TopicPartition]) -> None:
        try:
            self._consumer.resume([_tp(tp) for tp in tps])
        except KafkaException as err:  # no longer assigned: nothing left to resume
            log.debug("resume %s: %s", tps, err)

    def lag(self, tp: TopicPartition, position: int | None) -> int | None:
        try:
            if not any((p.topic, p.partition) == tp for p in self._consumer.assignment()):
                return 0  # not this consumer's to read
            # cached: the watermarks of the last fetch response, no request to the broker
            low, high = self._consumer.get_watermark_offsets(_tp(tp), cached=True)
            if position is None:
                position = self._consumer.position([_tp(tp)])[0].offset
        except KafkaException:
            return None
        if position < 0:  # nothing consumed yet: the partition's start
            position = low
        if high < 0 or position < 0:
            return None
        return max(0, high - position)

    def close(self) -> None:
        self._consumer.close()


def _offsets(run: list[Message]) -> Callable[[int], int]:
    return lambda i: run[i].offset()  # type: ignore[return-value]  # set on every consumed record


class ConfluentProducer:
    def __init__(self, config: KafkaConfig) -> None:
        self._producer: Producer = _made(Producer, producer_settings(config))

    def send(self, topic: str, key: bytes, value: bytes | None, headers: Headers) -> None:
        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, headers=list(headers), on_delivery=_delivered
                )
                break
            except BufferError:  # the local queue is full: serve delivery reports, then retry
                self._producer.poll(0.1)
        self._producer.poll(0)

    def flush(self) -> None:
        self._producer.flush()

    def close(self) -> None:
        self._producer.flush()
        self._producer.close()


def _delivered(error: KafkaError | None, message: Message) -> None:
    if error is not None:
        log.warning("dead letter to %s not delivered: %s", message.topic(), error.str())


def _log_client_error(error: KafkaError) -> None:
    # librdkafka reconnects on its own; these say why it had to (a broker down, a refused login).
    log.warning("kafka client: %s", error.str())


def _log_commit_failure(error: KafkaError | None, partitions: list[KafkaTopicPartition]) -> None:
    if error is not None:
        log.warning("offset commit after checkpoint failed (the state store has them): %s", error.str())
