"""Two `driftline run` instances of one consumer group on a shared PostgreSQL store: one holds the
evaluation lock and stores the windows it evaluates; the other's API shows the same windows (it
refreshes them from the store on its evaluation tick), evaluation times included."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import find_free_port
from tests.integration import kafka_pipeline as kp
from tests.integration.test_state_postgres import admin, pg_url, schema  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration
PREDICTIONS = 12_000  # six hours of 2,000; the last hour stays open
WAIT_S = 180  # generous: two cores shared with other work, Tansu's group joins; a wait, not an assertion


def instance_config(folder: Path, bootstrap: str, group: str, state_url: str, port: int) -> Path:
    path = kp.write_config(folder, bootstrap, group, state_url, client="confluent", stop_when_idle=None)
    data = yaml.safe_load(path.read_text())
    data["api"] = {"port": port}
    data["evaluation"] = {"interval": "300ms"}
    path.write_text(yaml.safe_dump(data))
    return path


def windows(port: int) -> list[dict[str, Any]] | None:
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/v1/models/m/windows?limit=100", timeout=10
        ) as r:
            found: list[dict[str, Any]] = json.loads(r.read())["windows"]
            return found
    except (OSError, urllib.error.URLError, KeyError):
        return None


def complete(found: list[dict[str, Any]] | None) -> bool:
    per_hour = PREDICTIONS // 6
    return (
        found is not None
        and len(found) == 5
        and all(
            w["drift"]["n_rows"] == per_hour and w["performance"]["n_pairs"] == per_hour // 2 for w in found
        )
    )


def test_the_instance_that_does_not_evaluate_serves_the_same_windows(
    kafka_broker: Any,
    kafka_group_id: str,
    tmp_path: Path,
    pg_url: str,  # noqa: F811
) -> None:
    predictions, outcomes = kp.stream(PREDICTIONS)
    for name in ("predictions", "outcomes", "dead-letters"):
        kafka_broker.create_topic(name, kp.PARTITIONS)
    ports = find_free_port(), find_free_port()
    configs = [
        instance_config(tmp_path / name, kafka_broker.bootstrap, kafka_group_id, pg_url, port)
        for name, port in zip(("first", "second"), ports, strict=True)
    ]
    instances = [kp.start(config, name) for config, name in zip(configs, ("first", "second"), strict=True)]
    try:
        kafka_broker.produce("predictions", predictions)
        kafka_broker.produce("outcomes", outcomes)
        deadline = time.monotonic() + WAIT_S
        seen: tuple[list[dict[str, Any]] | None, ...] = (None, None)
        while time.monotonic() < deadline:
            for instance in instances:
                assert instance.process.poll() is None, instance.log.read_text()[-3000:]
            seen = tuple(windows(port) for port in ports)
            if all(complete(found) for found in seen) and seen[0] == seen[1]:
                break
            time.sleep(0.3)
        logs = "\n".join(i.log.read_text()[-2000:] for i in instances)
        assert all(complete(found) for found in seen), logs
        assert seen[0] == seen[1], logs
        assert [w["drift"]["drifted_features"] for w in seen[0] or []] == [[], [], [], [], ["x1"]]
    finally:
        for instance in instances:
            if instance.process.poll() is None:
                instance.stop()
    for instance in instances:
        assert instance.process.returncode == 0, instance.log.read_text()[-3000:]
