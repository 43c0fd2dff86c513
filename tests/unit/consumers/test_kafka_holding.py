"""KafkaSource's pacing with held-back records, against a scripted client: a predictions topic that
fetches three times as fast as its outcomes. The side that runs ahead is held in the source, not
ingested and not checkpointed; the client pauses it only past the hold limit; everything is counted
once and joins as in time order. (The same against a real broker: tests/integration/test_kafka_pacing.py.)"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np
import orjson
import pytest

import consumers.kafka as kafka_source
from consumers.kafka import HELD_POLLS, KafkaSource
from consumers.kafka_client import PartitionRecords, Rebalance, TopicPartition
from monitor.config import KafkaConfig
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from monitor.state.factory import open_state_store
from tests.unit import stream_world as world

POLL = 50  # max_poll_records: one predictions poll spans ~30 min of this stream
TOPICS = ("predictions", "outcomes")


class ScriptedConsumer:
    """One partition of each topic; each poll brings one run of `POLL` records of one topic, three
    of predictions for each of outcomes, skipping a paused topic or one read to its end."""

    def __init__(self, logs: dict[str, list[bytes]], source: list[KafkaSource]) -> None:
        self.logs = logs
        self.position: dict[TopicPartition, int] = {}
        self.paused: set[TopicPartition] = set()
        self.pauses = 0
        self.turn = 0
        self.source = source  # to look at what it holds when it pauses
        self.held_at_pause: list[int] = []
        self.on_revoke: Rebalance = lambda _: None

    def subscribe(self, topics: Sequence[str], on_assign: Rebalance, on_revoke: Rebalance) -> None:
        self.on_revoke = on_revoke
        on_assign([(t, 0) for t in topics])

    def seek(self, tp: TopicPartition, offset: int | None) -> None:
        self.position[tp] = offset or 0

    def poll(self, timeout_s: float, max_records: int) -> list[PartitionRecords]:
        for _ in range(4):
            topic = "outcomes" if self.turn % 4 == 3 else "predictions"
            self.turn += 1
            tp = (topic, 0)
            start = self.position[tp]
            values: list[bytes | None] = list(self.logs[topic][start : start + max_records])
            if tp in self.paused or not values:
                continue
            self.position[tp] = start + len(values)
            return [PartitionRecords(topic, 0, values, lambda i, s=start: s + i)]
        return []

    def commit_async(self, offsets: dict[TopicPartition, int]) -> None:
        pass

    def pause(self, tps: Sequence[TopicPartition]) -> None:
        self.pauses += 1
        self.held_at_pause.append(len(self.source[0]._held))
        self.paused.update(tps)

    def resume(self, tps: Sequence[TopicPartition]) -> None:
        self.paused.difference_update(tps)

    def lag(self, tp: TopicPartition, position: int | None) -> int | None:
        return len(self.logs[tp[0]]) - (self.position[tp] if position is None else position)

    def close(self) -> None:
        self.on_revoke([(t, 0) for t in TOPICS])


def test_the_side_ahead_is_held_back_then_counted_once_and_joined_as_in_time_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = world.config(outcome_ttl="2h")
    baselines = {("m", "1"): world.baseline(cfg)}
    rng = np.random.default_rng(3)
    predictions, outcomes = [], []
    for hour in range(8):
        p, o = world.messages(hour, 200, rng, outcome_delay_s=600)
        predictions += [raw for _, raw in p]
        outcomes += [raw for _, raw in o]
    outcomes.sort(key=lambda raw: orjson.loads(raw)["timestamp"])  # each topic in time order

    holder: list[KafkaSource] = []
    client = ScriptedConsumer({"predictions": predictions, "outcomes": outcomes}, holder)
    monkeypatch.setattr(kafka_source, "open_consumer", lambda config: client)
    service = Service(cfg, baselines, MemoryDeadLetters())
    store = open_state_store(f"sqlite:///{tmp_path / 'state.db'}")
    config = KafkaConfig(
        bootstrap_servers=["scripted:9092"],
        dead_letter_topic=None,
        max_poll_records=POLL,
        poll_timeout=timedelta(milliseconds=1),
        checkpoint_interval=timedelta(
            0
        ),  # a checkpoint after every poll: each must cover only what was ingested
        stop_when_idle=timedelta(milliseconds=200),
        max_read_ahead=timedelta(hours=1),
    )
    source = KafkaSource(service, store, config)
    holder.append(source)
    covered: list[tuple[int, int]] = []  # (offset checkpointed, predictions ingested) at each checkpoint

    def checked(take: Callable[..., None]) -> Callable[..., None]:
        def taking(*args: object, **kwargs: object) -> None:
            if 0 in source.offsets:  # each checkpoint covers what was ingested when it was taken
                covered.append(
                    (source.offsets[0].get("predictions", 0), service.counters.total("predictions"))
                )
            take(*args, **kwargs)

        return taking

    monkeypatch.setattr(source, "checkpoint", checked(source.checkpoint))
    monkeypatch.setattr(source, "_start_checkpoint", checked(source._start_checkpoint))
    try:
        source.run(threading.Event())
    finally:
        store.close()

    assert covered and all(offset == ingested for offset, ingested in covered)
    assert covered[-1][1] == len(predictions)
    # Predictions ran ahead and waited; the client paused them only past the limit, not every time.
    assert source._pacer is not None and source._pacer.waits["predictions"] > 0
    assert 0 < client.pauses < source._pacer.waits["predictions"]
    assert all(n > HELD_POLLS * POLL for n in client.held_at_pause)

    in_order = Service(cfg, baselines, MemoryDeadLetters())
    arrivals = sorted(
        [(orjson.loads(raw)["timestamp"], 0, raw) for raw in predictions]
        + [(orjson.loads(raw)["timestamp"], 1, raw) for raw in outcomes]
    )
    for i in range(0, len(arrivals), POLL):
        chunk = arrivals[i : i + POLL]
        in_order.handle(
            RawBatch(
                predictions=[raw for _, kind, raw in chunk if kind == 0],
                outcomes=[raw for _, kind, raw in chunk if kind == 1],
            )
        )
    stored = open_state_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        restored = Service(cfg, baselines, MemoryDeadLetters())
        got = kafka_source.stored_partitions(restored, stored, config.group_id)[0].counters
    finally:
        stored.close()
    for name in ("predictions", "outcomes", "joined", "rejected", "duplicate_predictions"):
        assert got.total(name) == in_order.counters.total(name), name
    assert got.total("joined") == len(outcomes)
