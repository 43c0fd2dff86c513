"""`driftline replay` with `sinks.elasticsearch`: every replayed window, its features and the alert
events that would have fired reach a real Elasticsearch-API server (noida-db), indexed by the
history's event time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from monitor.baselines.store import BaselineStore
from tests.integration.es_fixtures import ElasticsearchServer
from tests.integration.es_stream import all_documents
from tests.unit.consumers import replay_world as world

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("task", "model"), [("classification", "clf"), ("regression", "reg")])
def test_replay_exports_windows_features_and_alert_events(
    es_server: ElasticsearchServer, tmp_path: Path, task: str, model: str
) -> None:
    cfg = world.config(tmp_path)
    store = BaselineStore(tmp_path / "baselines")
    for baseline in world.baselines(cfg).values():
        store.save(baseline)
    data = cfg.model_dump(mode="json")
    data["baselines"]["path"] = "baselines"
    data["sources"] = {"dead_letters": "dead.jsonl"}
    data["state"] = {"url": "sqlite:///state.db"}
    data["sinks"] = {"elasticsearch": {"url": es_server.url, "spill_dir": "spill", "retention_days": None}}
    data["alerts"] = {"receivers": [{"name": "log", "kind": "log"}]}
    config = tmp_path / "driftline.yaml"
    config.write_text(yaml.safe_dump(data))
    world.history(task, hours=5, per_hour=1000, shift_from=3).to_parquet(tmp_path / "history.parquet")

    history = tmp_path / "history.parquet"
    args = ["replay", "-c", str(config), "-d", str(history), "-m", model, "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    es = es_server.client()
    windows = all_documents(es, "driftline-windows-*")
    start = int(world.START.timestamp())
    assert sorted(windows) == [f"{model}|1|{start + h * 3600}|window" for h in range(5)]
    assert [doc["n_rows"] for _, doc in sorted(windows.items())] == [1000] * 5
    assert [doc["performance"]["n_pairs"] for _, doc in sorted(windows.items())] == [1000] * 5
    features = all_documents(es, "driftline-features-*")
    income = {k: d for k, d in features.items() if d["feature"] == "income"}
    assert sorted(d["drift_detected"] for d in income.values()) == [False, False, False, True, True]
    events = all_documents(es, "driftline-events-*")
    fired = [e for e in events.values() if e.get("rule") == "feature_drift" and e.get("subject") == "income"]
    assert len(fired) == 1 and fired[0]["status"] == "firing" and fired[0]["replay"] is True
    assert fired[0]["fired_at"].startswith("2026-03-02T04:")  # event time: window 3 closed at 04:01
    episodes = [
        a for a in summary["alerts"] if a["kind"] == "alert" and a["status"] == "firing" and not a["repeat"]
    ]
    assert len(episodes) == len(events)  # one document per episode (a resolution overwrites it)
    assert all(key.startswith("replay-") for key in events)  # apart from the live service's events
