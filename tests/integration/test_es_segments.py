"""Drift and data quality per segment in the Elasticsearch window documents, through a real
Elasticsearch-8-API server (noida-db): the strict mapping accepts them, and a term query on the
drifted (or degraded) segment finds exactly the windows where it drifted (or its quality fell)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from elasticsearch import Elasticsearch

from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from monitor.sinks.elasticsearch.exporter import ElasticsearchExporter
from tests.integration.es_fixtures import ElasticsearchServer
from tests.integration.es_stream import PREFIX, all_documents, exporter_config
from tests.unit import segments_world as world

pytestmark = pytest.mark.integration

FLUSH_TIMEOUT = 60  # generous: a wait for a condition, not a speed assertion


@pytest.fixture
def exporter(es_server: ElasticsearchServer, tmp_path: Path) -> Iterator[ElasticsearchExporter]:
    sink = ElasticsearchExporter(exporter_config(es_server.url, tmp_path / "spill"))
    yield sink
    sink.close()


def test_window_documents_carry_the_drifted_segments(
    es_server: ElasticsearchServer, exporter: ElasticsearchExporter
) -> None:
    cfg = world.config(3, {"column": "region", "max_segments": 5})
    baselines = world.baseline(cfg, world.rows(20_000, np.random.default_rng(0), 3, 6))
    service = Service(cfg, baselines, MemoryDeadLetters(), clock=lambda: world.NOW)
    service.sinks.append(exporter)
    rng = np.random.default_rng(1)
    for hour in range(3):  # the last hour: f02 moves in segment s01 only, f00 goes missing in s02
        frame = world.rows(5000, rng, 3, 6, shift=("s01", "f02", 1.0) if hour == 2 else None)
        if hour == 2:
            frame.loc[(frame["region"] == "s02") & (rng.random(len(frame)) < 0.2), "f00"] = np.nan
        service.handle(RawBatch(predictions=world.messages(frame, hour, rng)))
    results = service.evaluate(flush=True)
    assert exporter.flush(FLUSH_TIMEOUT)
    es: Elasticsearch = es_server.client()
    windows = all_documents(es, f"{PREFIX}-windows-*")
    assert len(windows) == len(results) == 3
    drifted = {doc["window_id"]: doc["segments"]["drifted_segments"] for doc in windows.values()}
    last = str(world.START_MS // 1000 + 2 * 3600)
    assert drifted == {w: (["s01"] if w == last else []) for w in drifted}
    (doc,) = [d for d in windows.values() if d["window_id"] == last]
    (pair,) = doc["segments"]["drifted"]
    assert (pair["segment"], pair["feature"]) == ("s01", "f02") and pair["adjusted_p_value"] < 0.05
    hits = es.search(
        index=f"{PREFIX}-windows-*", query={"term": {"segments.drifted_segments": "s01"}}, size=10
    )["hits"]["hits"]
    assert [h["_source"]["window_id"] for h in hits] == [last]
    degraded = {doc["window_id"]: doc["segments"]["degraded_segments"] for doc in windows.values()}
    assert degraded == {w: (["s02"] if w == last else []) for w in degraded}
    (share,) = doc["segments"]["quality"]
    assert (share["segment"], share["feature"], share["measure"]) == ("s02", "f00", "missing")
    hits = es.search(
        index=f"{PREFIX}-windows-*", query={"term": {"segments.degraded_segments": "s02"}}, size=10
    )["hits"]["hits"]
    assert [h["_source"]["window_id"] for h in hits] == [last]
