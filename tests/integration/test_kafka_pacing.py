"""Pacing against a real broker: a predictions topic filled with days of data before the outcomes
topic is read joins as many pairs as reading both in time order (a classifier with scores and a
regressor on the same topics; each Kafka client)."""

from pathlib import Path

import pytest

from monitor.pipeline.counters import Counters
from tests.integration import kafka_pipeline as kp
from tests.integration import pacing_world as world

pytestmark = pytest.mark.integration


def test_predictions_read_days_ahead_wait_for_their_outcomes(
    kafka_broker, kafka_group_id, kafka_client, tmp_path: Path
) -> None:
    # 3 days; outcomes 2 h late and ~2 KB each, so a free-running consumer reads predictions days
    # ahead. TTL 12 h: in time order every outcome finds its prediction; days ahead, most expire.
    stream = world.events(days=3, every_s=30, outcome_delay_ms=2 * world.H)
    for name in ("predictions", "outcomes", "dead-letters"):
        kafka_broker.create_topic(name, kp.PARTITIONS)
    for topic in ("predictions", "outcomes"):  # every prediction is in before any outcome
        kafka_broker.produce(topic, [(key, value) for _, t, key, value in stream if t == topic])
    kafka = {
        "bootstrap_servers": [kafka_broker.bootstrap],
        "client": kafka_client,
        "group_id": kafka_group_id,
        "max_poll_records": 100,  # a batch of one partition spans under 2 h of this stream
        "checkpoint_interval": "1s",
        **kp.QUICK_GROUP,
        "max_read_ahead": "1h",
    }
    config = world.write_config(tmp_path, kafka, "sqlite:///state.db", outcome_ttl="12h")
    instance = kp.start(config, "paced")
    assert instance.wait() == 0, instance.log.read_text()[-3000:]

    in_time_order = world.read_in_time_order(config, stream)
    outcomes = {
        model: sum(1 for _, t, key, _ in stream if t == "outcomes" and key.startswith(model.encode()))
        for model in world.MODELS
    }
    assert in_time_order == {
        "outcomes": sum(outcomes.values()),
        "rejected": 0,
        **{f"joined {model}": n for model, n in outcomes.items()},
        "unmatched outcomes": 0,
    }
    with kp.stored_service(config, kafka_group_id) as (_, partitions):
        counters = Counters()
        for monitor in partitions.values():
            counters = counters.merge(monitor.counters)
    assert world.join_counts(counters) == in_time_order
    assert "pacing: predictions paused" in instance.log.read_text()
