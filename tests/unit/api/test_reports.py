"""Evidently reports of stored windows: built from the window's row sample against the
baseline's, they name the drifted features as Evidently judges them."""

from __future__ import annotations

import re
from typing import Any

import orjson

from monitor.evaluation.results import WindowResult
from monitor.service import Service
from tests.unit.api import api_world as world
from tests.unit.api.conftest import JSON_WRITE
from tests.unit.api.test_read_endpoints import error

ROW = re.compile(r'"column_name": "([^"]+)".*?"data_drift": "(Detected|Not Detected)"', re.S)


def evidently_verdicts(page: str) -> dict[str, bool]:
    """Column -> drift detected, from the drift table Evidently embeds in its HTML."""
    return {column: verdict == "Detected" for column, verdict in ROW.findall(page)}


def window_path(hour: int) -> str:
    return f"/api/v1/models/churn/windows/{world.START_S + hour * world.HOUR_S}"


def test_results_keep_a_bounded_row_sample(day: Service) -> None:
    result: WindowResult = day.results.windows("churn", "1")[-1]
    assert result.sample is not None
    assert len(result.sample) == 400  # all of the window's 400 rows: under window_sample (500)
    assert set(result.sample.columns) == {*world.FEATURES, "__prediction__"}
    assert result.sample.capacity == day.config.model("churn").window_sample


def test_report_of_a_drifted_window_names_the_drifted_features(client: Any) -> None:
    response = client.get(window_path(5) + "/report")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    verdicts = evidently_verdicts(response.text)
    assert set(verdicts) == {*world.FEATURES, "prediction"}
    assert verdicts["spend"] and verdicts["plan"]
    assert not verdicts["age"]
    banner = response.text[response.text.index('id="driftline-banner"') :][:800]
    assert "drifted features: spend, plan" in banner
    assert "400 of the window's 400 rows" in banner


def test_report_of_a_stationary_window_finds_no_drift_in_the_features_that_drift_later(client: Any) -> None:
    # Evidently tests 400 against 1000 sampled rows with p-values at 0.05, so a stationary column
    # is flagged now and then (this seed: `age` in hour 0); `spend` and `plan` must not be.
    for hour in range(3):
        verdicts = evidently_verdicts(client.get(window_path(hour) + "/report").text)
        assert not verdicts["spend"] and not verdicts["plan"], hour


def test_report_is_cached_per_evaluation(client: Any) -> None:
    first = client.get(window_path(4) + "/report", params={"version": "1"}).text
    assert client.get(window_path(4) + "/report").text == first


def test_report_after_a_baseline_swap_uses_the_windows_own_baseline(make_client: Any) -> None:
    service, client = make_client(run_day=True, api_key=world.KEY)
    old = service.baselines[("churn", "1")].id
    replacement = world.baseline(service.config, "churn", seed=11)
    body = orjson.dumps(replacement.to_state(), option=orjson.OPT_SERIALIZE_NUMPY)
    assert client.post("/api/v1/models/churn/baselines", content=body, headers=JSON_WRITE).status_code == 201
    page = client.get(window_path(5) + "/report").text
    assert f"vs baseline {old}" in page


def test_report_of_an_unknown_window_or_model_is_404(client: Any) -> None:
    assert error(client.get(window_path(99) + "/report"), 404)["field"] == "path.window_id"
    assert error(client.get("/api/v1/models/x/windows/1/report"), 404)["field"] == "path.model"


def test_only_the_newest_windows_keep_their_sample(make_client: Any) -> None:
    service, client = make_client(run_day=True, report_windows=2)
    kept = [r.sample is not None for r in service.results.windows("churn", "1")]
    assert kept == [False] * 4 + [True] * 2
    found = error(client.get(window_path(0) + "/report"), 409)
    assert "api.report_windows" in found["message"] and found["field"] == "path.window_id"
