"""The Kafka source's pacing with the client pauses (consumers/kafka.py `_pace`): a side paused in the
client while it waited goes on once it no longer waits, however many records other sides hold back.

The case that stalled (found by tests/integration/test_kafka_shadow.py, polls of 5 records): a
partition's predictions were paused in the client while they waited; then its outcomes ran ahead
and waited for them, holding back more records than the limit. The predictions no longer waited but
were resumed only once the held records fell under the limit, and those were the outcomes waiting
for the predictions: nothing was read from the partition again (`stop_when_idle` ended the run
with most of the topics unread)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from consumers.kafka import KafkaSource
from consumers.kafka_client import PartitionRecords, TopicPartition
from monitor.config import KafkaConfig
from monitor.pipeline.monitor import Monitor
from monitor.state.sqlite import SqliteStateStore
from tests.unit import canary_world as world

H = 3_600_000


class PausingConsumer:
    """Just what `_pace` asks of a consumer: lags, pause and resume."""

    def __init__(self, lag: int) -> None:
        self.paused: set[TopicPartition] = set()
        self._lag = lag

    def lag(self, tp: TopicPartition, position: int | None) -> int | None:
        return self._lag

    def pause(self, tps: Sequence[TopicPartition]) -> None:
        self.paused.update(tps)

    def resume(self, tps: Sequence[TopicPartition]) -> None:
        self.paused.difference_update(tps)


def test_a_side_paused_while_it_waited_goes_on_while_the_other_holds_over_the_limit(
    tmp_path: Path,
) -> None:
    cfg = world.config(mode="shadow")
    service = world.service(cfg, world.baselines(cfg))
    store = SqliteStateStore(tmp_path / "state.db")
    try:
        config = KafkaConfig(bootstrap_servers=["broker:9092"], max_poll_records=5, max_read_ahead="1m")
        source = KafkaSource(service, store, config)
        consumer = PausingConsumer(lag=100)
        source._consumer = consumer  # type: ignore[assignment]
        monitor = Monitor(cfg, service.baselines, 0)
        service.partitions[0] = monitor
        source.owned, source.offsets = {0}, {0: {"predictions": 10, "outcomes": 40}}
        predictions, outcomes = ("predictions", 0), ("outcomes", 0)
        # The predictions waited before and were paused in the client then; now the outcomes are
        # two hours ahead and hold back more than the limit (4 polls of 5 records).
        join = monitor.joins["m"]
        join.watermark, join.outcome_watermark = world.START_MS, world.START_MS + 2 * H
        source._held.hold(PartitionRecords("outcomes", 0, [b"{}"] * 25, lambda i: 40 + i))
        consumer.pause([predictions, outcomes])
        source._client_paused = {predictions, outcomes}
        source._waiting = {outcomes}
        assert source._held.over_limit()

        source._pace()
        assert source._waiting == {outcomes}
        assert predictions not in consumer.paused  # read again: the gap can close
        assert consumer.paused == source._client_paused == {outcomes}
        assert len(source._held) == 25

        # Its predictions read up to the outcomes, the partition's outcomes go on too: from the
        # next pass on, one poll's worth at a time (all invalid here: dead letters).
        join.watermark = world.START_MS + 2 * H
        source._pace()
        assert source._waiting == set() and len(source._held) == 25
        source._pace()
        assert len(source._held) == 20
        assert source.offsets[0]["outcomes"] == 45
        source._pace()
        assert not source._held.over_limit() and consumer.paused == set()
    finally:
        store.close()
