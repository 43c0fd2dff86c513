"""Read endpoints against a real service: health, readiness, metrics, models, windows, alerts,
and the errors for unknown models, versions and windows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from monitor.pipeline.events import PredictionBatch
from monitor.pipeline.monitor import Batch
from monitor.service import Service
from tests.unit.api import api_world as world
from tests.unit.api.conftest import WRITE


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert body["status"] == status
    return body


def test_healthz_and_readyz(client: Any, day: Service) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "checks": {"baselines_loaded": True}}
    day.readiness_checks["state_store"] = lambda: False
    try:
        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"] == {"baselines_loaded": True, "state_store": False}
    finally:
        del day.readiness_checks["state_store"]


def test_metrics_serves_the_driftline_collector(client: Any) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert (
        'driftline_feature_drift_detected{feature="spend",model="churn",model_version="1"} 1.0'
        in response.text
    )
    assert (
        'driftline_feature_drift_detected{feature="spend",model="fraud",model_version="1"} 0.0'
        in response.text
    )


def test_models_lists_versions_baselines_last_window_and_state(client: Any, day: Service) -> None:
    models = {m["name"]: m for m in client.get("/api/v1/models").json()["models"]}
    assert set(models) == {"churn", "fraud"}
    churn = models["churn"]
    assert churn["task"] == "classification"
    assert [f["name"] for f in churn["features"]] == ["age", "spend", "plan"]
    (version,) = churn["versions"]
    assert version["version"] == "1"
    assert version["baseline"]["id"] == day.baselines[("churn", "1")].id
    assert version["windows"] == 6
    last = version["last_window"]
    assert last["window_id"] == str(world.START_S + 5 * world.HOUR_S)
    assert last["dataset_drift"] is True
    assert sorted(last["drifted_features"]) == sorted(world.DRIFTED)
    assert churn["state"] == version["state"] == "red"
    assert any("dataset drift" in r for r in version["reasons"])
    assert models["fraud"]["state"] == "green"
    assert models["fraud"]["versions"][0]["reasons"] == []


def test_windows_lists_window_documents_oldest_first(client: Any) -> None:
    body = client.get("/api/v1/models/churn/windows").json()
    assert body["model_version"] == "1"
    ids = [w["window_id"] for w in body["windows"]]
    assert ids == [str(world.START_S + h * world.HOUR_S) for h in range(6)]
    assert [w["drift"]["dataset_drift"] for w in body["windows"]] == [False] * 3 + [True] * 3
    assert body["windows"][0]["performance"]["n_pairs"] == 400
    limited = client.get("/api/v1/models/churn/windows", params={"limit": 2, "version": "1"}).json()
    assert [w["window_id"] for w in limited["windows"]] == ids[-2:]


def test_one_window_has_drift_quality_performance_and_report_link(client: Any) -> None:
    wid = str(world.START_S + 4 * world.HOUR_S)
    doc = client.get(f"/api/v1/models/churn/windows/{wid}").json()
    assert doc["window_id"] == wid
    assert doc["window_start"] == "2026-03-02T04:00:00Z"
    assert {f["column"] for f in doc["drift"]["features"]} == set(world.FEATURES)
    assert {q["column"] for q in doc["drift"]["quality"]} == set(world.FEATURES)
    assert doc["performance"]["metrics"]["accuracy"] == pytest.approx(0.9, abs=0.05)
    assert doc["report_url"] == f"/api/v1/models/churn/windows/{wid}/report?version=1"


def test_a_window_that_cannot_be_evaluated_is_listed_and_counted(make_client: Any) -> None:
    # +-1e308 in one window (fed to the monitor directly: the decoder rejects them), on the binned
    # path (more rows than window_sample): its evaluation raises, the other windows' do not.
    service, client = make_client(api_key=world.KEY)
    rng = np.random.default_rng(4)
    for hour in range(2):
        world.feed(service, "fraud", hour, 600, rng)
        world.feed(service, "churn", hour, 100, rng)
    n, start_ms = 2, (world.START_S + world.HOUR_S) * 1000
    batch = PredictionBatch(
        model="fraud",
        model_version="1",
        prediction_id=np.array(["x-1", "x-2"], dtype=object),
        timestamp=np.full(n, start_ms + 1000, dtype=np.int64),
        features={
            "age": np.full(n, 40.0),
            "spend": np.array([1e308, -1e308]),
            "plan": np.full(n, "pro", object),
        },
        prediction=np.full(n, "1", dtype=object),
        score=np.full(n, np.nan),
        segment=np.full(n, None, dtype=object),
    )
    assert service.monitor.ingest(Batch(predictions={("fraud", "1"): batch})) == []
    results = service.evaluate(flush=True)
    assert len(results) == 3  # fraud hour 0, churn hours 0 and 1
    models = {m["name"]: m for m in client.get("/api/v1/models").json()["models"]}
    (fraud,) = models["fraud"]["versions"]
    (failed,) = fraud["evaluation_errors"]
    assert failed["window_id"] == str(world.START_S + world.HOUR_S) and failed["reason"] == "invalid_data"
    assert fraud["state"] == "amber" and "1 window(s) could not be evaluated" in fraud["reasons"]
    assert models["churn"]["versions"][0]["evaluation_errors"] == []
    windows = client.get("/api/v1/models/fraud/windows").json()
    assert windows["evaluation_errors"] == [failed] and len(windows["windows"]) == 1
    metrics = client.get("/metrics").text
    assert 'driftline_evaluation_errors_total{model="fraud",reason="invalid_data"} 1.0' in metrics


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/api/v1/models/nope/windows", {}, 404, "path.model"),
        ("/api/v1/models/churn/windows", {"version": "9"}, 404, "query.version"),
        ("/api/v1/models/churn/windows/123", {}, 404, "path.window_id"),
        ("/api/v1/models/churn/windows/not-a-window", {}, 404, "path.window_id"),
        ("/api/v1/models/churn/windows/123/report", {}, 404, "path.window_id"),
        ("/api/v1/models/churn/windows", {"limit": "0"}, 422, "query.limit"),
        ("/api/v1/models/churn/windows", {"limit": "many"}, 422, "query.limit"),
    ],
)
def test_unknown_things_and_bad_parameters_are_4xx_naming_the_field(
    client: Any, path: str, params: dict[str, str], status: int, field: str
) -> None:
    assert error(client.get(path, params=params), status)["field"] == field


def test_unknown_endpoint_and_method_are_json_errors(client: Any) -> None:
    assert "see /docs" in error(client.get("/api/v1/nothing"), 404)["message"]
    error(client.delete("/api/v1/models"), 405)


def test_a_model_with_several_versions_needs_the_version(make_client: Any) -> None:
    service, client = make_client(run_day=True, api_key=world.KEY)
    second = world.baseline(service.config, "churn", version="2", seed=5)
    created = client.post(
        "/api/v1/models/churn/baselines",
        content=_artifact(second),
        headers={**WRITE, "content-type": "application/json"},
    )
    assert created.status_code == 201, created.text
    body = error(client.get("/api/v1/models/churn/windows"), 422)
    assert body["field"] == "query.version"
    assert "1, 2" in body["message"]
    assert client.get("/api/v1/models/churn/windows", params={"version": "2"}).json()["windows"] == []
    versions = [v["version"] for v in client.get("/api/v1/models").json()["models"][0]["versions"]]
    assert versions == ["1", "2"]


def _artifact(baseline: Any) -> bytes:
    import orjson

    return orjson.dumps(baseline.to_state(), option=orjson.OPT_SERIALIZE_NUMPY)


def test_alerts_come_from_the_alert_engines_snapshot_and_colour_the_model(make_client: Any) -> None:
    service, client = make_client(run_day=True)
    assert client.get("/api/v1/alerts").json() == {"active": [], "recent": []}
    active = {"rule": "fraud-drift", "model": "fraud", "model_version": "1", "severity": "critical"}
    resolved = {"rule": "churn-perf", "model": "churn", "severity": "warning", "state": "resolved"}
    service.alert_snapshot = lambda: {"active": [active], "recent": [resolved]}
    assert client.get("/api/v1/alerts").json() == {"active": [active], "recent": [resolved]}
    fraud = client.get("/api/v1/models").json()["models"][1]
    assert fraud["name"] == "fraud"
    assert fraud["state"] == "red"
    assert fraud["versions"][0]["reasons"] == ["alert fraud-drift"]


def test_reads_can_require_the_key(make_client: Any) -> None:
    _, client = make_client(api_key=world.KEY, protect_reads=True)
    assert error(client.get("/api/v1/models"), 401)["field"] == "header.authorization"
    assert error(client.get("/api/v1/alerts", headers={"X-API-Key": "wrong"}), 401)["message"] == (
        "the API key is not valid"
    )
    assert client.get("/api/v1/models", headers=WRITE).status_code == 200
    assert client.get("/api/v1/alerts", headers={"X-API-Key": world.KEY}).status_code == 200
    assert client.get("/healthz").status_code == 200  # probes and scrapes never need it
    assert client.get("/metrics").status_code == 200


def test_openapi_describes_every_endpoint(client: Any) -> None:
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) >= {
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/models",
        "/api/v1/models/{model}/windows",
        "/api/v1/models/{model}/windows/{window_id}",
        "/api/v1/models/{model}/windows/{window_id}/report",
        "/api/v1/alerts",
        "/api/v1/models/{model}/baselines",
        "/api/v1/events",
    }
    assert "text/csv" in spec["paths"]["/api/v1/models/{model}/baselines"]["post"]["requestBody"]["content"]
    assert client.get("/docs").status_code == 200
