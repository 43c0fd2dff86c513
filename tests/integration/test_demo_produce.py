"""`driftline demo-produce` against a real Kafka-protocol broker: it builds the demo baseline once
and produces the demo's day, keyed by prediction id, to the topics of the config."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import yaml

from monitor.demo.producer import default_start, produce_demo
from monitor.demo.run import PHASES
from tests.integration.kafka_fixtures import KafkaBroker, poll_records

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 2, 10, 42, tzinfo=UTC)
ROWS = 200


def local_config(tmp_path: Path, bootstrap: str) -> Path:
    """deploy/driftline.yml with its container paths moved into tmp_path and the test's broker."""
    config = yaml.safe_load((REPO_ROOT / "deploy" / "driftline.yml").read_text())
    config["baselines"]["path"] = "baselines"
    config["sources"]["dead_letters"] = "dead-letters.jsonl"
    config["sources"]["kafka"]["bootstrap_servers"] = [bootstrap]
    config["state"]["url"] = "sqlite:///state.db"
    config["sinks"]["elasticsearch"]["spill_dir"] = "spill"
    path = tmp_path / "driftline.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_demo_produce_builds_the_baseline_once_and_produces_the_day(
    kafka_broker: KafkaBroker, kafka_group_id: str, tmp_path: Path
) -> None:
    config = local_config(tmp_path, kafka_broker.bootstrap)
    first = produce_demo(config, None, NOW, rows=ROWS, baseline_only=True)
    assert first.baseline_built and first.predictions == 0
    assert (tmp_path / "baselines" / "churn" / "1" / f"{first.baseline_id}.json").is_file()

    produced = produce_demo(config, None, NOW, rows=ROWS)
    assert not produced.baseline_built and produced.baseline_id == first.baseline_id
    windows = sum(count for *_, count in PHASES)
    assert produced.predictions == windows * ROWS
    assert 0.8 * produced.predictions < produced.outcomes < produced.predictions  # ~10 % never arrive

    consumer = kafka_broker.new_consumer("predictions", "outcomes", group_id=kafka_group_id)
    total = produced.predictions + produced.outcomes + produced.malformed
    records = poll_records(consumer, total, timeout=60)
    consumer.close()
    assert len(records) == total
    by_topic = Counter(r.topic for r in records)
    assert by_topic == {
        "predictions": produced.predictions + produced.malformed,
        "outcomes": produced.outcomes,
    }
    keyed = [r for r in records if r.key is not None]
    assert all(orjson.loads(r.value)["prediction_id"] == r.key.decode() for r in keyed)
    stamps = sorted(orjson.loads(r.value)["timestamp"] for r in keyed if r.topic == "predictions")
    start = default_start(NOW)
    assert start == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert stamps[0] >= "2026-03-01T10:00:00" and stamps[-1] < "2026-03-02T10:00:00"


def test_demo_produce_command_builds_the_baseline_and_names_a_missing_model(tmp_path: Path) -> None:
    config = local_config(tmp_path, "127.0.0.1:9")
    driftline = [sys.executable, "-m", "monitor.cli", "demo-produce", "--config"]
    done = subprocess.run(
        [*driftline, str(config), "--baseline-only"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "baselines" / "churn" / "1").glob("*.json"))) == 1

    other = yaml.safe_load(config.read_text())
    other["models"][0]["name"] = "fraud"
    config.write_text(yaml.safe_dump(other))
    refused = subprocess.run(
        [*driftline, str(config), "--baseline-only"], capture_output=True, text=True, timeout=300
    )
    assert refused.returncode == 2
    assert "unknown model 'churn'" in refused.stderr
