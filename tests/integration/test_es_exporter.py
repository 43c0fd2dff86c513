"""The Elasticsearch exporter against a real Elasticsearch-8-API server (noida-db): ids and fields
of the documents, idempotent re-sends and re-evaluations, the index templates, retention without
ILM, alert events, and an outage in the middle of a run that loses and duplicates nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from elasticsearch import Elasticsearch
from prometheus_client import CollectorRegistry

from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from monitor.sinks.elasticsearch.exporter import ElasticsearchExporter
from monitor.sinks.elasticsearch.metrics import ElasticsearchExporterCollector
from monitor.sinks.elasticsearch.templates import MAPPINGS
from tests.integration.es_fixtures import ElasticsearchServer
from tests.integration.es_stream import PREFIX, DriftedStream, all_documents, expected_ids, exporter_config
from tests.unit import estimation_world
from tests.unit.evaluation import concept_world

pytestmark = pytest.mark.integration

FLUSH_TIMEOUT = 60  # generous: a wait for a condition, not a speed assertion


def normalized(mapping: Any) -> Any:
    """Elasticsearch answers `dynamic: false` as the string "false"."""
    if isinstance(mapping, dict):
        return {k: str(v).lower() if k == "dynamic" else normalized(v) for k, v in mapping.items()}
    return mapping


@pytest.fixture
def es(es_server: ElasticsearchServer) -> Elasticsearch:
    return es_server.client()


@pytest.fixture
def exporter(es_server: ElasticsearchServer, tmp_path: Path) -> Iterator[ElasticsearchExporter]:
    sink = ElasticsearchExporter(exporter_config(es_server.url, tmp_path / "spill"))
    yield sink
    sink.close()


def test_window_and_feature_documents_arrive_with_their_ids_and_fields(
    es: Elasticsearch, exporter: ElasticsearchExporter
) -> None:
    stream = DriftedStream(exporter)
    stream.add_windows(5)
    stream.finish()
    assert exporter.flush(FLUSH_TIMEOUT)
    latest = stream.latest()
    windows = all_documents(es, f"{PREFIX}-windows-*")
    features = all_documents(es, f"{PREFIX}-features-*")
    assert set(windows) | set(features) == expected_ids(latest)

    for window, result in latest.items():
        summary = windows[f"m|1|{window}|window"]
        assert summary["drift_share"] == pytest.approx(result.drift.drift_share)
        assert summary["n_drifted"] == result.drift.n_drifted
        assert summary["dataset_drift"] is result.drift.dataset_drift
        assert summary["performance"]["n_pairs"] == result.performance.n_pairs
        assert result.multivariate is not None and result.multivariate.pca is not None
        pca = summary["multivariate"]["pca"]
        assert pca["value"] == pytest.approx(result.multivariate.pca.value)
        assert pca["drift_detected"] is result.multivariate.pca.drift_detected
        assert summary["multivariate"]["drift_detected"] is result.multivariate.drift_detected
        x1 = features[f"m|1|{window}|feature|x1"]
        drift = result.drift.feature("x1")
        assert (x1["method"], x1["drift_detected"]) == (drift.method, drift.drift_detected)
        assert x1["statistic"] == pytest.approx(drift.value)
        assert (x1["n_reference"], x1["n_current"]) == (drift.n_reference, drift.n_current)
    drifted = {
        doc["window_start"] for doc in features.values() if doc["feature"] == "x1" and doc["drift_detected"]
    }
    assert len(drifted) == 2  # windows 3 and 4 of 0..4
    stats = exporter.stats()
    assert stats.delivered >= len(windows) + len(features)
    assert (stats.failed, stats.buffered, stats.dropped) == (0, 0, 0)


def test_resending_and_reevaluating_overwrite_instead_of_duplicating(
    es: Elasticsearch, exporter: ElasticsearchExporter
) -> None:
    stream = DriftedStream(exporter)
    first = stream.add_windows(3)  # windows 0 and 1 closed, no outcomes yet
    assert exporter.flush(FLUSH_TIMEOUT)
    before = all_documents(es, f"{PREFIX}-*")
    window0 = str(int(first[0].window_start.timestamp()))
    assert before[f"m|1|{window0}|window"]["performance"]["n_pairs"] == 0

    index = f"{PREFIX}-windows-1970.01.01"
    exporter.write(first)  # the same results again
    assert exporter.flush(FLUSH_TIMEOUT)
    assert all_documents(es, f"{PREFIX}-*") == before
    assert es.get(index=index, id=f"m|1|{window0}|window")["_version"] == 2

    late = stream.deliver_outcomes(0)  # late outcomes: window 0 is evaluated again
    assert [str(int(r.window_start.timestamp())) for r in late] == [window0]
    assert exporter.flush(FLUSH_TIMEOUT)
    after = all_documents(es, f"{PREFIX}-*")
    # The same ids, plus the target-drift document that outcomes made possible.
    target = late[0].drift.target
    assert target is not None
    assert set(after) - set(before) == {f"m|1|{window0}|feature|{target.column}"}
    assert set(before) <= set(after)
    summary = after[f"m|1|{window0}|window"]
    assert summary["performance"]["n_pairs"] == late[0].performance.n_pairs == 600
    assert summary["performance"]["metrics"]["accuracy"] == pytest.approx(
        late[0].performance.metrics["accuracy"]
    )
    assert es.get(index=index, id=f"m|1|{window0}|window")["_version"] == 3  # first, re-send, re-evaluation


def test_templates_give_new_daily_indices_the_explicit_mappings(
    es: Elasticsearch, exporter: ElasticsearchExporter
) -> None:
    DriftedStream(exporter).add_windows(2)
    assert exporter.flush(FLUSH_TIMEOUT)
    for kind in ("windows", "features"):
        index = f"{PREFIX}-{kind}-1970.01.01"
        mapping = es.indices.get_mapping(index=index)[index]["mappings"]
        assert mapping["properties"]["window_start"] == {"type": "date"}
        assert mapping["properties"]["model"] == {"type": "keyword"}
        assert normalized(mapping) == normalized(MAPPINGS[kind])
    features = es.indices.get_mapping(index=f"{PREFIX}-features-1970.01.01")[f"{PREFIX}-features-1970.01.01"]
    assert features["mappings"]["properties"]["feature"] == {"type": "keyword"}
    assert features["mappings"]["properties"]["drift_detected"] == {"type": "boolean"}
    assert features["mappings"]["properties"]["n_current"] == {"type": "long"}


def test_a_daily_index_created_before_an_upgrade_takes_the_new_fields(
    es: Elasticsearch, es_server: ElasticsearchServer, tmp_path: Path
) -> None:
    """A features index of the day, created with a mapping that lacks `distance` (as before it
    existed): the exporter adds the field at start, so the day's documents are not rejected."""
    index = f"{PREFIX}-features-1970.01.01"
    old = {
        name: spec
        for name, spec in MAPPINGS["features"]["properties"].items()
        if not name.startswith("distance")
    }
    es.indices.create(index=index, mappings={"dynamic": "strict", "properties": old})
    sink = ElasticsearchExporter(exporter_config(es_server.url, tmp_path / "spill"))
    try:
        DriftedStream(sink).add_windows(2)
        assert sink.flush(FLUSH_TIMEOUT)
        assert sink.stats().failed == 0
    finally:
        sink.close()
    properties = es.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert properties["distance"] == {"type": "double"}
    documents = all_documents(es, index)
    assert documents and all(d["distance"] is not None for d in documents.values() if d["role"] == "feature")


def test_alert_events_are_indexed_by_kind_and_id_and_overwritten_on_resolve(
    es: Elasticsearch, exporter: ElasticsearchExporter
) -> None:
    fired = datetime(2026, 1, 5, 9, 15, tzinfo=UTC)
    alert = {
        "rule": "feature-drift",
        "model": "churn",
        "model_version": "3",
        "feature": "monthly_spend",
        "state": "firing",
        "severity": "warning",
        "value": 0.31,
        "threshold": 0.1,
        "started_at": "2026-01-05T09:15:00Z",
    }
    exporter.send_event("alert", "feature-drift|churn|3|monthly_spend", alert, fired)
    exporter.send_event("alert", "feature-drift|churn|3|monthly_spend", {**alert, "state": "resolved"}, fired)
    assert exporter.flush(FLUSH_TIMEOUT)
    events = all_documents(es, f"{PREFIX}-events-*")
    assert list(events) == ["alert|feature-drift|churn|3|monthly_spend"]
    stored = events["alert|feature-drift|churn|3|monthly_spend"]
    assert stored["state"] == "resolved" and stored["@timestamp"] == "2026-01-05T09:15:00Z"
    mapping = es.indices.get_mapping(index=f"{PREFIX}-events-2026.01.05")[f"{PREFIX}-events-2026.01.05"]
    properties = mapping["mappings"]["properties"]
    assert properties["@timestamp"] == {"type": "date"} and properties["rule"] == {"type": "keyword"}
    assert properties["started_at"]["type"] in {"date", "keyword"}
    assert es.count(index=f"{PREFIX}-events-*", query={"term": {"state": "resolved"}})["count"] == 1


def test_retention_without_ilm_deletes_old_daily_indices(
    es_server: ElasticsearchServer, es: Elasticsearch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="driftline.elasticsearch")
    for day in ("2026.01.01", "2026.01.09", "2026.01.10"):
        es.index(index=f"{PREFIX}-events-{day}", document={"event_kind": "seed"}, refresh=True)
    es.index(index="unrelated-2020.01.01", document={"x": 1}, refresh=True)
    config = exporter_config(es_server.url, tmp_path / "spill", retention_days=2)
    exporter = ElasticsearchExporter(config, clock=lambda: datetime(2026, 1, 11, 8, tzinfo=UTC))
    try:
        exporter.send_event("alert", "a", {"state": "firing"}, datetime(2026, 1, 11, 7, tzinfo=UTC))
        assert exporter.flush(FLUSH_TIMEOUT)
        assert exporter.ilm_active is False  # noida-db has no ILM: the exporter deletes by name
        assert "has no ILM (HTTP 400): the 2-day retention is enforced by deleting" in caplog.text
        remaining = sorted(es.indices.get(index=f"{PREFIX}-*"))
        assert remaining == [
            f"{PREFIX}-events-2026.01.09",
            f"{PREFIX}-events-2026.01.10",
            f"{PREFIX}-events-2026.01.11",
        ]
        assert es.indices.exists(index="unrelated-2020.01.01")
    finally:
        exporter.close()


def test_outage_mid_run_loses_and_duplicates_nothing(
    es_server: ElasticsearchServer, es: Elasticsearch, tmp_path: Path
) -> None:
    # A small memory bound, so the outage spills documents to disk as well.
    config = exporter_config(es_server.url, tmp_path / "spill", max_buffered_documents=20)
    exporter = ElasticsearchExporter(config)
    metrics = CollectorRegistry()  # what /metrics serves about the exporter
    metrics.register(ElasticsearchExporterCollector(exporter.stats))
    try:
        stream = DriftedStream(exporter)
        stream.add_windows(3)
        assert exporter.flush(FLUSH_TIMEOUT)
        es_server.stop()

        during = stream.add_windows(4)  # the evaluator keeps producing while the server is down
        during += stream.deliver_outcomes(1)
        assert len(during) == 5
        assert exporter.stats().buffered > 0
        assert exporter.stats().spill_files > 0
        assert not exporter.flush(0.5)  # nothing can be delivered yet
        waiting = metrics.get_sample_value("driftline_elasticsearch_buffered_documents")
        assert waiting == exporter.stats().buffered > 0

        es_server.start()
        stream.finish()
        assert exporter.flush(FLUSH_TIMEOUT)
        stats = exporter.stats()
        assert metrics.get_sample_value("driftline_elasticsearch_buffered_documents") == 0
        delivered = metrics.get_sample_value("driftline_elasticsearch_documents_delivered_total")
        assert delivered == stats.delivered
        assert metrics.get_sample_value("driftline_elasticsearch_retries_total") == stats.retries > 0
    finally:
        exporter.close()
    documents = all_documents(es, f"{PREFIX}-*")
    assert set(documents) == expected_ids(stream.latest())
    es.indices.refresh(index=f"{PREFIX}-*")
    assert es.count(index=f"{PREFIX}-*")["count"] == len(documents)
    window1 = str(int(stream.results[1].window_start.timestamp()))
    assert documents[f"m|1|{window1}|window"]["performance"]["n_pairs"] == 600  # the latest version won
    assert stats.retries > 0 and stats.failed == 0 and stats.dropped == 0
    assert not list((tmp_path / "spill").glob("*.ndjson"))


def test_documents_left_at_shutdown_are_sent_by_the_next_start(
    es_server: ElasticsearchServer, es: Elasticsearch, tmp_path: Path
) -> None:
    spill = tmp_path / "spill"
    es_server.stop()
    exporter = ElasticsearchExporter(exporter_config(es_server.url, spill, close_timeout_seconds=0.2))
    stream = DriftedStream(exporter)
    stream.add_windows(4)
    stream.finish()
    exporter.close()  # the server is still down: everything goes to disk
    assert list(spill.glob("*.ndjson"))

    es_server.start()
    restarted = ElasticsearchExporter(exporter_config(es_server.url, spill))
    try:
        assert restarted.stats().buffered == len(expected_ids(stream.latest()))
        assert restarted.flush(FLUSH_TIMEOUT)
    finally:
        restarted.close()
    assert set(all_documents(es, f"{PREFIX}-*")) == expected_ids(stream.latest())
    assert not list(spill.glob("*.ndjson"))


def test_concept_drift_episodes_are_events_and_windows_carry_the_flag(
    es: Elasticsearch, exporter: ElasticsearchExporter
) -> None:
    # A real service with the exporter as its sink meets a degradation in hours 3-4 that ends.
    service = concept_world.service(concept_world.config("regression"))
    service.sinks.append(exporter)
    concept_world.feed(service, concept_world.Stream("regression", lambda i: i in {3, 4}), range(12))
    (episode,) = service.evaluator.concept.episodes("m", "1")
    assert not episode.open
    assert exporter.flush(FLUSH_TIMEOUT)
    events = all_documents(es, f"{PREFIX}-events-*")
    start, end = events["concept_drift_episode|m|1|1|start"], events["concept_drift_episode|m|1|1|end"]
    assert (start["status"], end["status"], end["closed_by"]) == ("open", "closed", "recovered")
    assert start["episode_start"] == end["episode_start"] == start["@timestamp"]
    assert end["@timestamp"] == end["episode_end"] and end["alarms"] == episode.alarms
    mapping = es.indices.get_mapping(index=f"{PREFIX}-events-1970.01.01")[f"{PREFIX}-events-1970.01.01"]
    assert mapping["mappings"]["properties"]["episode_start"] == {"type": "date"}
    windows = all_documents(es, f"{PREFIX}-windows-*")
    flagged = sorted(int(doc["window_id"]) // 3600 for doc in windows.values() if doc["concept_drift"])
    assert flagged[0] == 3 and flagged[-1] < 7  # the episode's range: from hour 3 to its last alarm


def test_windows_carry_the_performance_estimated_without_outcomes(
    es: Elasticsearch, exporter: ElasticsearchExporter
) -> None:
    # A classifier with scores (CBPE) and a regressor (DLE), predictions only: the window documents
    # hold each estimate with its band, accepted by the strict mapping of the real server.
    service = Service(
        estimation_world.config(),
        estimation_world.baselines(estimation_world.config()),
        MemoryDeadLetters(),
        clock=lambda: estimation_world.NOW,
    )
    service.sinks.append(exporter)
    for model in ("churn", "price"):
        predictions, _, _ = estimation_world.messages(model, 0, 800, np.random.default_rng(3))
        service.handle(RawBatch(predictions=predictions))
    results = {r.model: r for r in service.evaluate(flush=True)}
    assert exporter.flush(FLUSH_TIMEOUT)
    windows = all_documents(es, f"{PREFIX}-windows-*")
    for model, metric in (("churn", "accuracy"), ("price", "mae")):
        (doc,) = [d for d in windows.values() if d["model"] == model]
        estimated = results[model].estimated
        assert estimated is not None and doc["estimated"]["n_rows"] == 800
        assert doc["estimated"]["metrics"][metric] == pytest.approx(estimated.metrics[metric].value)
        low, value, high = (doc["estimated"][k][metric] for k in ("lower", "metrics", "upper"))
        assert low < value < high
    assert exporter.stats().failed == 0


def test_an_index_an_older_driftline_created_takes_the_new_fields(
    es_server: ElasticsearchServer, es: Elasticsearch, tmp_path: Path
) -> None:
    # Today's index, created before windows carried estimates: its strict mapping lacks the field,
    # and a window document with it is rejected until the exporter adds it at start.
    index = f"{PREFIX}-windows-2026.05.04"
    old = {k: v for k, v in MAPPINGS["windows"]["properties"].items() if k != "estimated"}
    es.indices.create(index=index, mappings={"dynamic": "strict", "properties": old})
    sink = ElasticsearchExporter(exporter_config(es_server.url, tmp_path / "spill"))
    try:
        test_windows_carry_the_performance_estimated_without_outcomes(es, sink)
        mapping = es.indices.get_mapping(index=index)[index]["mappings"]
        assert normalized(mapping) == normalized(MAPPINGS["windows"])
    finally:
        sink.close()
