"""Version comparison as the sinks show it: the Prometheus gauges of the candidate's latest window
(the verdict one-hot, the difference inside its bounds, the outcomes per version) and the
Elasticsearch window document inside its explicit mapping."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.evaluation.results import WindowResult
from monitor.service import Service
from monitor.sinks.elasticsearch.documents import results_actions
from monitor.sinks.elasticsearch.templates import MAPPINGS
from monitor.sinks.prometheus import registry_for
from monitor.sinks.prometheus_history import history_openmetrics
from tests.unit import canary_world as world
from tests.unit.sinks.test_es_documents import document_paths, loose_objects, mapped_paths


@pytest.fixture(scope="module")
def canary() -> tuple[Service, list[WindowResult]]:
    cfg = world.config()
    running = world.service(cfg, world.baselines(cfg))
    return running, list(world.looks(running, 6, 2000, np.random.default_rng(5), 0.865, 0.80))


def test_gauges_show_the_verdict_and_the_difference_in_its_bounds(
    canary: tuple[Service, list[WindowResult]],
) -> None:
    running, _ = canary
    text = generate_latest(registry_for(running.results, running.view)).decode()
    got = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("driftline_version_"):
                assert (s.labels["model"], s.labels["baseline_version"], s.labels["candidate_version"]) == (
                    "m",
                    "1",
                    "2",
                )
                extra = s.labels.get("verdict") or s.labels.get("version") or s.labels.get("metric", "")
                got[(s.name, extra)] = s.value
    assert [got[("driftline_version_verdict", v)] for v in ("promote", "hold", "rollback")] == [0, 0, 1]
    lower = got[("driftline_version_metric_difference_lower", "accuracy")]
    upper = got[("driftline_version_metric_difference_upper", "accuracy")]
    assert lower < got[("driftline_version_metric_difference", "accuracy")] < upper < 0
    latest = running.results.latest("m", "2")
    assert latest is not None and latest.comparison is not None
    assert got[("driftline_version_joined_outcomes", "1")] == latest.comparison.cumulative.n_a
    assert got[("driftline_version_joined_outcomes", "2")] == latest.comparison.cumulative.n_b


def test_the_window_document_holds_the_comparison_inside_the_mapping(
    canary: tuple[Service, list[WindowResult]],
) -> None:
    _, results = canary
    actions = [a for a in results_actions(results, "driftline") if a.index.startswith("driftline-windows-")]
    assert actions
    properties = MAPPINGS["windows"]["properties"]
    for action in actions:
        assert action.source["comparison"]["candidate_version"] == "2"
        doc = orjson.loads(orjson.dumps(action.source))
        loose = tuple(loose_objects(properties))
        unmapped = {p for p in document_paths(doc) - mapped_paths(properties) if not p.startswith(loose)}
        assert unmapped == set(), action.id


def test_the_history_of_a_replay_holds_the_verdict_of_every_candidate_window(
    canary: tuple[Service, list[WindowResult]],
) -> None:
    _, results = canary
    text = history_openmetrics(results).decode()
    rollback = [
        line
        for line in text.splitlines()
        if line.startswith("driftline_version_verdict{") and 'verdict="rollback"' in line
    ]
    assert len(rollback) == len(results)  # one sample per candidate window, at its end
    assert rollback[-1].split()[1] == "1.0"
