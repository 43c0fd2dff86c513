"""`attach_sinks` stores every evaluated window in the state store and loads them back when a
service starts: a new Service over the same store (a restart) serves the same windows on the
API, the same drift and performance on /metrics, and reports from the stored row samples. For
the classifier with scores and the regressor of tests/unit/results_world.py."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from consumers.runner import attach_sinks
from monitor.api.app import create_app
from monitor.config import DriftlineConfig
from monitor.service import Service
from monitor.state.durable_results import DurableResults
from monitor.state.factory import open_state_store
from monitor.state.store import StateStore
from tests.unit import results_world as world
from tests.unit.api.test_reports import evidently_verdicts

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

# Metric families computed from the stream's live state (counters, label delay), which a real
# restart restores from the checkpoint rather than from the stored results.
LIVE = ("_total", "_created", "driftline_label_delay_seconds", "driftline_concept_drift_detected")


def served(service: Service) -> dict[str, Any]:
    """What a user sees of the results: windows of both models, one window, the models, /metrics."""
    with TestClient(create_app(service), raise_server_exceptions=False) as client:
        windows = {
            m: client.get(f"/api/v1/models/{m}/windows", params={"limit": 1000}).json() for m in world.MODELS
        }
        one = client.get(f"/api/v1/models/price/windows/{world.START_S + 2 * world.HOUR_S}").json()
        models = client.get("/api/v1/models").json()
        metrics = client.get("/metrics").text
    result_lines = sorted(
        line for line in metrics.splitlines() if not line.startswith("#") and not any(k in line for k in LIVE)
    )
    return {"windows": windows, "one": one, "models": models, "metrics": result_lines}


def restart_wiring(service: Service, cfg: DriftlineConfig) -> StateStore:
    """What the runners wire besides the sinks: the concept-drift state kept in the store."""
    attach_sinks(service, cfg)
    store = open_state_store(cfg.state.url)
    service.evaluator.concept.attach(store)
    return store


def test_a_restarted_service_shows_every_window_metrics_and_reports(tmp_path: Path) -> None:
    cfg = world.config(tmp_path, api={"report_windows": 3})
    first = world.service(cfg)
    first_store = restart_wiring(first, cfg)
    world.feed(first, range(6), 300, drift_from=3)
    first.evaluate(flush=True)
    before = served(first)
    first.close_sinks()
    first_store.close()
    assert [len(before["windows"][m]["windows"]) for m in world.MODELS] == [6, 6]
    assert any(line.startswith("driftline_mae{") for line in before["metrics"])
    assert any(line.startswith("driftline_roc_auc_ratio{") for line in before["metrics"])

    restarted = world.service(cfg)  # a new process: nothing in memory, nothing ingested
    restarted_store = restart_wiring(restarted, cfg)
    assert isinstance(restarted.sinks[0], DurableResults)
    after = served(restarted)
    assert after == before
    with TestClient(create_app(restarted), raise_server_exceptions=False) as client:
        for model in world.MODELS:
            newest = before["windows"][model]["windows"][-1]["window_id"]
            page = client.get(f"/api/v1/models/{model}/windows/{newest}/report")
            assert page.status_code == 200, page.text
            assert evidently_verdicts(page.text)[world.DRIFTED[model]] is True
        oldest = before["windows"]["churn"]["windows"][0]["window_id"]
        gone = client.get(f"/api/v1/models/churn/windows/{oldest}/report")
        assert gone.status_code == 409 and "no row sample left" in gone.json()["error"]["message"]
    restarted.close_sinks()
    restarted_store.close()
