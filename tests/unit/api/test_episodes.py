"""Concept-drift episodes over the HTTP API and on /metrics, from a real service that met a
concept change (a classifier and a regressor)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest

from monitor.api.app import create_app
from monitor.service import Service
from monitor.sinks.prometheus import registry_for
from tests.unit.evaluation import concept_world as world
from tests.unit.evaluation.concept_world import Stream, feed

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module", params=world.TASKS)
def drifted(request: pytest.FixtureRequest) -> Iterator[tuple[Service, TestClient]]:
    """Degraded in hours 3-4, clean again until hour 12, degraded from hour 12 on (still at the end)."""
    service = world.service(world.config(request.param))
    feed(service, Stream(request.param, lambda i: i in {3, 4} or i >= 12), range(14))
    with TestClient(create_app(service), raise_server_exceptions=False) as client:
        yield service, client


def test_episodes_endpoint_lists_episodes_and_the_detector(drifted: tuple[Service, TestClient]) -> None:
    _, client = drifted
    body = client.get("/api/v1/models/m/episodes").json()
    assert body["model"] == "m" and body["model_version"] == "1"
    first, second = body["episodes"]
    assert (first["episode"], first["status"], first["closed_by"]) == (1, "closed", "recovered")
    assert (
        first["episode_start"].startswith("1970-01-01T03:") and first["episode_start"] <= first["episode_end"]
    )
    assert (second["episode"], second["status"]) == (2, "open")
    assert second["episode_start"].startswith("1970-01-01T12:")
    detector = body["detector"]
    assert detector["open_episode"] is True and detector["episodes_total"] == 2
    assert detector["detector"]["origin"] == "reference" and detector["pairs"] == 21_000
    assert client.get("/api/v1/models/nope/episodes").status_code == 404


def test_models_listing_shows_the_open_episode_red(drifted: tuple[Service, TestClient]) -> None:
    _, client = drifted
    (version,) = client.get("/api/v1/models").json()["models"][0]["versions"]
    assert version["concept_drift"]["open"] is True and version["concept_drift"]["episodes_total"] == 2
    assert version["concept_drift"]["latest_episode"]["episode"] == 2
    assert version["state"] == "red" and "concept drift episode open" in version["reasons"]
    windows = client.get("/api/v1/models/m/windows", params={"limit": 100}).json()["windows"]
    flagged = [w["window_start"][11:13] for w in windows if w["concept_drift"]]
    assert flagged[0] == "03" and "08" not in flagged and flagged[-1] == "13"


def test_metrics_show_the_open_episode_and_count_episodes(drifted: tuple[Service, TestClient]) -> None:
    service, _ = drifted
    text = generate_latest(registry_for(service.results, service.view)).decode()
    labels = '{model="m",model_version="1"}'
    assert f"driftline_concept_drift_episode_open{labels} 1.0" in text
    assert f"driftline_concept_drift_episodes_total{labels} 2.0" in text
    assert f"driftline_concept_drift_detected{labels} 1.0" in text  # the latest window overlaps it
