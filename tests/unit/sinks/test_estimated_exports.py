"""Performance estimated without outcomes, as the sinks and the API show it: Prometheus gauges
before any outcome (and the estimate's error once outcomes came), the Elasticsearch window
document inside its explicit mapping, the stream's state on the status page."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from prometheus_client import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from monitor.api.models import stream_state
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from monitor.sinks.elasticsearch.documents import results_actions
from monitor.sinks.elasticsearch.templates import MAPPINGS
from monitor.sinks.prometheus import registry_for
from monitor.sinks.prometheus_history import history_openmetrics
from tests.unit import estimation_world as world
from tests.unit.sinks.test_es_documents import document_paths, loose_objects, mapped_paths

CONFIG = world.config()
BASELINES = world.baselines(CONFIG)


def samples(service: Service) -> dict[tuple[str, str, str], float]:
    """(metric, model, window label or "") -> value, from a scrape of the service's registry."""
    text = generate_latest(registry_for(service.results, service.view)).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, s.labels.get("model", ""), s.labels.get("window", ""))] = s.value
    return out


@pytest.fixture(scope="module")
def shifted() -> tuple[Service, list[bytes]]:
    """Two shifted hours of both models, predictions only; the outcomes kept for later."""
    service = Service(CONFIG, BASELINES, MemoryDeadLetters(), clock=lambda: world.NOW)
    outcomes = []
    for hour in range(2):
        for model in ("churn", "price"):
            predictions, answers, _ = world.messages(model, hour, 1500, np.random.default_rng(hour), True)
            service.handle(RawBatch(predictions=predictions))
            outcomes += answers
    service.evaluate(flush=True)
    return service, outcomes


def test_gauges_show_the_estimate_and_its_band_before_any_outcome(
    shifted: tuple[Service, list[bytes]],
) -> None:
    service, _ = shifted
    got = samples(service)
    accuracy = got[("driftline_estimated_accuracy_ratio", "churn", "")]
    lower = got[("driftline_estimated_accuracy_lower_ratio", "churn", "")]
    upper = got[("driftline_estimated_accuracy_upper_ratio", "churn", "")]
    reference = got[("driftline_accuracy_ratio", "churn", "reference")]  # known without outcomes
    assert lower < accuracy < upper < reference - 0.1
    assert ("driftline_accuracy_ratio", "churn", "latest") not in got  # nothing realised yet
    assert got[("driftline_estimated_performance_degraded", "churn", "")] == 1.0
    assert got[("driftline_estimated_rows", "churn", "")] == 1500
    mae = got[("driftline_estimated_mae", "price", "")]
    assert got[("driftline_estimated_mae_lower", "price", "")] > got[("driftline_mae", "price", "reference")]
    assert mae > 1.5 * got[("driftline_mae", "price", "reference")]
    assert got[("driftline_estimated_performance_degraded", "price", "")] == 1.0
    assert not any(name.endswith("_error") for name, _, _ in got)  # no outcome to compare with yet
    reasons = stream_state(service.results.latest("churn", "1"), [])[1]
    assert "estimated performance below reference (from predictions alone)" in reasons


def test_the_estimate_error_appears_once_outcomes_arrive_and_documents_fit_the_mapping(
    shifted: tuple[Service, list[bytes]],
) -> None:
    service, outcomes = shifted
    service.handle(RawBatch(outcomes=outcomes))
    results = service.evaluate(flush=True)
    got = samples(service)
    realised = got[("driftline_accuracy_ratio", "churn", "latest")]
    error = got[("driftline_estimated_accuracy_error", "churn", "")]
    assert error == pytest.approx(got[("driftline_estimated_accuracy_ratio", "churn", "")] - realised)
    assert abs(error) < 0.05 and abs(got[("driftline_estimated_mae_error", "price", "")]) < 0.2

    actions = [a for a in results_actions(results, "driftline") if a.index.startswith("driftline-windows-")]
    assert actions
    properties = MAPPINGS["windows"]["properties"]
    for action in actions:
        estimated = action.source["estimated"]
        assert estimated["method"] in ("cbpe", "dle") and estimated["error"]
        doc = orjson.loads(orjson.dumps(action.source))
        loose = tuple(loose_objects(properties))
        unmapped = {p for p in document_paths(doc) - mapped_paths(properties) if not p.startswith(loose)}
        assert unmapped == set(), action.id


def test_the_history_of_a_replay_holds_each_window_estimate_at_its_end(
    shifted: tuple[Service, list[bytes]],
) -> None:
    service, _ = shifted
    results = [r for s in service.results.streams() for r in service.results.windows(*s)]
    text = history_openmetrics(results).decode()
    points: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for family in openmetrics_families(text):
        for s in family.samples:
            if s.name.startswith("driftline_estimated_"):
                points.setdefault((s.name, s.labels["model"]), []).append((float(s.timestamp), s.value))
    for result in results:
        assert result.estimated is not None
        estimate = result.estimated.metrics["accuracy" if result.model == "churn" else "mae"]
        name = "driftline_estimated_accuracy_ratio" if result.model == "churn" else "driftline_estimated_mae"
        assert (result.window_end.timestamp(), estimate.value) in points[(name, result.model)]
    assert len(points[("driftline_estimated_accuracy_ratio", "churn")]) == 2  # one per window
