"""The HTTP API on a real uvicorn server (background thread, free port), and `driftline report`
fetching a window's Evidently report from it over HTTP."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from typer.testing import CliRunner

from monitor.api.app import ApiServer
from monitor.cli import app
from monitor.service import Service
from tests.unit.api import api_world as world
from tests.unit.api.test_reports import evidently_verdicts

pytestmark = pytest.mark.integration


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Service, ApiServer]]:
    service = world.service(world.config(tmp_path, api_key=world.KEY, max_body_bytes=8192))
    world.run_day(service)
    server = ApiServer(service, "127.0.0.1", 0)
    try:
        yield service, server
    finally:
        server.close()


def call(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_health_metrics_and_api_on_a_free_port(served: tuple[Service, ApiServer]) -> None:
    _, server = served
    assert server.port > 0
    assert server.metrics_url == f"http://127.0.0.1:{server.port}/metrics"
    assert call(f"{server.url}/healthz") == (200, b'{"status":"ok"}')
    status, body = call(f"{server.url}/readyz")
    assert status == 200 and json.loads(body)["ready"] is True
    status, body = call(server.metrics_url)
    assert status == 200 and b"driftline_drift_share_ratio" in body
    status, body = call(f"{server.url}/api/v1/models")
    assert [m["state"] for m in json.loads(body)["models"]] == ["red", "green"]
    status, body = call(f"{server.url}/")
    assert status == 200 and b"data-heatmap" in body


def test_events_over_http_and_oversize_bodies(served: tuple[Service, ApiServer]) -> None:
    service, server = served
    predictions, outcomes = world.messages("fraud", 9, 10, np.random.default_rng(8))
    headers = {"Content-Type": "application/json", "X-API-Key": world.KEY}
    body = orjson.dumps({"predictions": predictions, "outcomes": outcomes})
    before = service.counters.total("predictions")
    status, answer = call(f"{server.url}/api/v1/events", body, headers)
    assert status == 200 and json.loads(answer)["accepted"] == 20
    assert service.counters.total("predictions") == before + 10
    status, answer = call(f"{server.url}/api/v1/events", b"[" + b" " * 9000 + b"]", headers)
    assert status == 413 and json.loads(answer)["error"]["field"] == "body"


def test_a_taken_port_fails_in_the_constructor(served: tuple[Service, ApiServer]) -> None:
    service, server = served
    with pytest.raises(OSError):
        ApiServer(service, "127.0.0.1", server.port)


def test_driftline_report_saves_the_report_fetched_from_the_service(
    served: tuple[Service, ApiServer], tmp_path: Path
) -> None:
    _, server = served
    out = tmp_path / "reports" / "churn.html"
    wid = str(world.START_S + 5 * world.HOUR_S)
    args = ["report", "--url", server.url, "--model", "churn", "--window", wid, "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    verdicts = evidently_verdicts(out.read_text())
    assert verdicts["spend"] and verdicts["plan"]

    latest = tmp_path / "latest.html"
    args = ["report", "--url", server.url, "-m", "churn", "-v", "1", "-w", "latest", "-o", str(latest)]
    assert CliRunner().invoke(app, args).exit_code == 0
    assert latest.read_text() == out.read_text()  # the latest window is hour 5: the same cached page


def test_driftline_report_errors_name_the_problem(served: tuple[Service, ApiServer], tmp_path: Path) -> None:
    _, server = served
    out = tmp_path / "r.html"
    result = CliRunner().invoke(
        app, ["report", "--url", server.url, "-m", "churn", "-w", "12", "-o", str(out)]
    )
    assert result.exit_code == 2
    assert "404" in result.output and "no evaluated window '12'" in result.output
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    result = CliRunner().invoke(app, ["report", "--url", dead, "-m", "churn", "-w", "latest", "-o", str(out)])
    assert result.exit_code == 2 and "no driftline service answers" in result.output
    assert not out.exists()
