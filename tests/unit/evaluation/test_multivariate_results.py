"""A window's multivariate drift wherever a user meets it: the result, the stored record (old
records without it load), the API document, Prometheus, Elasticsearch and the alert engine."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console

from alerts.config import AlertsConfig
from alerts.engine import AlertEngine
from alerts.rules import observe
from monitor.evaluation.result_json import window_document
from monitor.evaluation.result_record import decode_result, encode_result
from monitor.evaluation.result_view import multivariate_lines, window_detail
from monitor.evaluation.results import WindowResult
from monitor.sinks.elasticsearch.documents import results_actions
from monitor.sinks.multivariate_metrics import multivariate_metrics
from monitor.state.sqlite import SqliteStateStore
from tests.unit import results_world as world


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> list[WindowResult]:
    """Four hours of both models (their main numeric feature shifts 2 sd from hour 2), evaluated."""
    service = world.service(world.config(tmp_path_factory.mktemp("multivariate")))
    world.feed(service, range(4), 400, drift_from=2)
    return sorted(service.evaluate(flush=True), key=lambda r: (r.model, r.window_start))


def churn(evaluated: list[WindowResult]) -> list[WindowResult]:
    return [r for r in evaluated if r.model == "churn"]


@pytest.mark.parametrize("model", ["churn", "price"])  # a classifier with scores and a regressor
def test_every_window_has_a_pca_result_and_the_shifted_ones_drift(
    evaluated: list[WindowResult], model: str
) -> None:
    decisions = []
    for result in [r for r in evaluated if r.model == model]:
        report = result.multivariate
        assert report is not None and report.pca is not None and report.domain_classifier is None
        assert report.pca.n_window == result.drift.n_rows == 400
        assert report.pca.lower is not None and report.pca.lower < report.pca.upper
        decisions.append(report.drift_detected)
    assert decisions == [False, False, True, True]


def test_the_document_and_the_record_carry_it_and_old_records_load(evaluated: list[WindowResult]) -> None:
    result = churn(evaluated)[-1]
    assert result.multivariate is not None and result.multivariate.pca is not None
    doc = window_document(result)["multivariate"]
    assert doc["drift_detected"] is True and doc["domain_classifier"] is None
    assert doc["pca"]["method"] == "pca_reconstruction"
    assert doc["pca"]["value"] == result.multivariate.pca.value
    assert doc["pca"]["upper"] == result.multivariate.pca.upper and doc["pca"]["n_window"] == 400
    assert decode_result(encode_result(result)) == result

    record = orjson.loads(encode_result(result))
    del record["window"]["multivariate"]  # as records were stored before multivariate drift
    old = decode_result(orjson.dumps(record))
    assert old.multivariate is None and old == replace(result, multivariate=None)
    assert window_document(old)["multivariate"] is None


def test_non_finite_values_survive_the_record(evaluated: list[WindowResult]) -> None:
    result = churn(evaluated)[-1]
    assert result.multivariate is not None and result.multivariate.pca is not None
    pca = replace(result.multivariate.pca, value=math.inf)
    odd = replace(result, multivariate=replace(result.multivariate, pca=pca))
    record = orjson.loads(encode_result(odd))
    assert record["nonfinite"] == {"/multivariate/pca/value": "inf"}
    assert decode_result(encode_result(odd)).multivariate.pca.value == math.inf  # type: ignore[union-attr]


def samples(results: list[WindowResult]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in multivariate_metrics(results)
        for s in family.samples
    }


def test_prometheus_gauges_of_the_latest_window(evaluated: list[WindowResult]) -> None:
    latest = churn(evaluated)[-1]
    pca = latest.multivariate.pca  # type: ignore[union-attr]
    assert pca is not None and pca.lower is not None
    stream = (("model", "churn"), ("model_version", "1"))
    found = samples([latest])
    assert found == {
        ("driftline_multivariate_drift_detected", (("method", "pca_reconstruction"), *stream)): 1.0,
        ("driftline_multivariate_drift_reconstruction_error", stream): pca.value,
        ("driftline_multivariate_drift_reconstruction_error_lower", stream): pca.lower,
        ("driftline_multivariate_drift_reconstruction_error_upper", stream): pca.upper,
    }
    assert samples([replace(latest, multivariate=None)]) == {}  # a baseline without it: no series


def test_the_elasticsearch_window_document_holds_the_block(evaluated: list[WindowResult]) -> None:
    latest = churn(evaluated)[-1]
    (summary,) = [a for a in results_actions([latest], "dl") if a.index.startswith("dl-windows-")]
    assert summary.source["multivariate"] == window_document(latest)["multivariate"]


def test_the_alert_rule_observes_the_decision_and_the_engine_fires(
    evaluated: list[WindowResult], tmp_path: Path
) -> None:
    config = AlertsConfig.model_validate(
        {"receivers": [{"name": "o", "kind": "webhook", "url": "http://x/h"}]}
    )
    (rule,) = [r for r in config.effective_rules() if r.name == "multivariate_drift"]  # a default rule
    quiet, drifted = churn(evaluated)[0], churn(evaluated)[-1]
    assert [o.value for o in observe(rule, quiet, 100)] == [0.0]
    assert [o.value for o in observe(rule, drifted, 100)] == [1.0]
    assert observe(rule, replace(drifted, multivariate=None), 100) == []
    store = SqliteStateStore(tmp_path / "state.db")
    engine = AlertEngine(config, store, {"churn": 100}, clock=lambda: drifted.window_end)
    engine.write(churn(evaluated))
    active: list[dict[str, Any]] = engine.snapshot()["active"]
    assert [a["rule"] for a in active if a["rule"] == "multivariate_drift"] == ["multivariate_drift"]
    store.close()


def test_driftline_show_has_a_line_per_detector(evaluated: list[WindowResult]) -> None:
    quiet, drifted = churn(evaluated)[0], churn(evaluated)[-1]
    (line,) = multivariate_lines(drifted)
    assert line.startswith("multivariate drift (PCA reconstruction): [bold red]yes[/] (mean error ")
    assert line.endswith(", 400 rows)")
    assert multivariate_lines(quiet)[0].startswith("multivariate drift (PCA reconstruction): no")
    assert multivariate_lines(replace(drifted, multivariate=None)) == []
    console = Console(width=240, record=True)
    console.print(window_detail(drifted))
    assert "multivariate drift (PCA reconstruction): yes" in console.export_text()
