"""Pacing against a real broker: a predictions topic filled with days of data before the outcomes
topic is read joins as many pairs as reading both in time order (a classifier with scores and a
regressor on the same topics; each Kafka client), also when the instance is killed while it holds
polled records back."""

import re
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
    kp.produce_events(kafka_broker, stream)
    config = _paced_config(kafka_broker, kafka_group_id, kafka_client, tmp_path)
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
    waits = re.search(r"pacing: predictions waited (\d+) times for outcomes", instance.log.read_text())
    assert waits is not None and int(waits.group(1)) > 0


def test_kill_9_while_records_are_held_back_loses_and_doubles_nothing(
    kafka_broker, kafka_group_id, kafka_client, tmp_path: Path
) -> None:
    # Killed at two checkpoints while the predictions, days ahead, are being held back (polled,
    # not ingested, offsets not covered) and paused in the client; the restarts read them again.
    stream = world.events(days=2, every_s=30, outcome_delay_ms=2 * world.H)
    config = _paced_config(kafka_broker, kafka_group_id, kafka_client, tmp_path)
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    kp.crash_then_finish(kafka_broker, config, state_url, kafka_group_id, stream, (0.3, 0.6))

    with kp.stored_service(config, kafka_group_id) as (_, partitions):
        counters = Counters()
        for monitor in partitions.values():
            counters = counters.merge(monitor.counters)
    assert counters.total("predictions") == sum(1 for _, t, _, _ in stream if t == "predictions")
    assert world.join_counts(counters) == world.read_in_time_order(config, stream)


def _paced_config(kafka_broker, group: str, client: str, folder: Path) -> Path:
    """A config that paces at 1 h, TTL 12 h (kp.produce_events produces every prediction of a
    stream, or of its head, before any outcome)."""
    kafka = {
        "bootstrap_servers": [kafka_broker.bootstrap],
        "client": client,
        "group_id": group,
        "max_poll_records": 100,  # a batch of one partition spans under 2 h of this stream
        "checkpoint_interval": "1s",
        **kp.QUICK_GROUP,
        "max_read_ahead": "1h",
    }
    return world.write_config(folder, kafka, "sqlite:///state.db", outcome_ttl="12h")
