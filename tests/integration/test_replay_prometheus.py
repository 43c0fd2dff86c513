"""`driftline replay --openmetrics`: every replayed window reaches a real Prometheus as history,
one point per window at its end, through `promtool tsdb create-blocks-from openmetrics` (the
Debian package's promtool), so Grafana shows the replay's windows, not one point."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from monitor.baselines.store import BaselineStore
from tests.unit.consumers import replay_world as world

pytestmark = pytest.mark.integration
HOURS = 5


def recent(history: pd.DataFrame) -> pd.DataFrame:
    """The history moved to four days ago: Prometheus drops blocks older than its retention (15 d)."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    shift = (now - timedelta(days=4)) - world.START
    for column in ("timestamp", "outcome_timestamp"):
        history[column] = [
            (datetime.fromisoformat(t.replace("Z", "+00:00")) + shift).isoformat().replace("+00:00", "Z")
            for t in history[column]
        ]
    return history


def test_replayed_windows_become_prometheus_history(prometheus_server: Any, tmp_path: Path) -> None:
    cfg = world.config(tmp_path)
    for baseline in world.baselines(cfg).values():
        BaselineStore(tmp_path / "baselines").save(baseline)
    data = cfg.model_dump(mode="json")
    data["baselines"]["path"] = "baselines"
    data["sources"] = {"dead_letters": "dead.jsonl"}
    data["state"] = {"url": "sqlite:///state.db"}
    config = tmp_path / "driftline.yaml"
    config.write_text(yaml.safe_dump(data))
    recent(world.history("classification", hours=HOURS, per_hour=1000, shift_from=3)).to_parquet(
        tmp_path / "history.parquet"
    )
    history = tmp_path / "history.om"
    done = subprocess.run(
        [
            sys.executable, "-m", "monitor.cli", "replay", "-c", str(config),
            "-d", str(tmp_path / "history.parquet"), "-m", "clf", "--openmetrics", str(history),
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{HOURS} windows written" in done.stderr
    assert history.read_text().rstrip().endswith("# EOF")

    blocks = tmp_path / "blocks"
    made = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(history), str(blocks)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    prometheus = prometheus_server([], blocks=blocks)

    def value(promql: str) -> float:
        (sample,) = prometheus.query(promql)
        return float(sample["value"][1])

    clf = '{model="clf",model_version="1"}'
    assert value(f"count_over_time(driftline_window_rows{clf}[30d])") == HOURS
    assert value(f"sum_over_time(driftline_window_rows{clf}[30d])") == HOURS * 1000
    income = '{model="clf",model_version="1",feature="income"}'
    assert value(f"sum_over_time(driftline_feature_drift_detected{income}[30d])") == 2  # hours 3 and 4
    assert value('count_over_time(driftline_accuracy_ratio{model="clf",window="latest"}[30d])') == HOURS
