"""The Kibana saved objects (dashboards/kibana/driftline.ndjson) against what the exporter really
writes: a seeded drifting stream and an alert go through the real exporter into noida-db, then
every data view must match existing indices, every field a visualization uses must be in their
mappings with a type its aggregation accepts, and every visualization's query must return data.
Kibana itself cannot run here, so each visualization is executed as the search Kibana would send."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from monitor.sinks.elasticsearch.exporter import ElasticsearchExporter
from tests.conftest import find_free_port
from tests.integration.es_fixtures import ElasticsearchServer, start_es_server
from tests.integration.es_stream import DriftedStream, exporter_config

pytestmark = pytest.mark.integration

NDJSON = Path(__file__).resolve().parents[2] / "dashboards" / "kibana" / "driftline.ndjson"
NUMERIC = {"double", "float", "long", "integer"}
FIELD_TYPES = {"max": NUMERIC, "avg": NUMERIC, "terms": {"keyword", "boolean"}, "date_histogram": {"date"}}
BUCKET_SCHEMAS = ("segment", "group", "bucket")


def saved_objects() -> list[dict[str, Any]]:
    return [json.loads(line) for line in NDJSON.read_text(encoding="utf-8").splitlines() if line.strip()]


def of_type(kind: str) -> list[dict[str, Any]]:
    return [o for o in saved_objects() if o["type"] == kind]


def flatten(properties: dict[str, Any], prefix: str = "") -> dict[str, str]:
    fields = {}
    for name, spec in properties.items():
        if "type" in spec:
            fields[prefix + name] = spec["type"]
        fields |= flatten(spec.get("properties", {}), f"{prefix}{name}.")
    return fields


def kuery_terms(query: str) -> dict[str, Any]:
    """The `field:value and field:value` queries the saved objects use, as term filters."""
    terms = {}
    for clause in filter(None, (c.strip() for c in query.split(" and "))):
        field, _, value = clause.partition(":")
        terms[field.strip()] = {"true": True, "false": False}.get(value.strip(), value.strip())
    return terms


@pytest.fixture(scope="module")
def exported(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Elasticsearch, dict[str, dict[str, str]]]]:
    """noida-db holding what the exporter wrote for 6 windows (x1 drifted from the 4th) and one
    alert; yields a client and the flattened mapping of every index."""
    folder = tmp_path_factory.mktemp("kibana")
    server: ElasticsearchServer = start_es_server(folder / "elasticsearch", find_free_port)
    try:
        exporter = ElasticsearchExporter(exporter_config(server.url, folder / "spill"))
        stream = DriftedStream(exporter)
        stream.add_windows(6)
        for window in range(5):
            stream.deliver_outcomes(window)
        stream.finish()
        alert = {
            "rule": "feature-drift",
            "model": "m",
            "model_version": "1",
            "feature": "x1",
            "state": "firing",
        }
        exporter.send_event("alert", "feature-drift|m|1|x1", alert, datetime(1970, 1, 1, 3, 5, tzinfo=UTC))
        assert exporter.flush(60)
        exporter.close()
        es = server.client()
        es.indices.refresh(index="driftline-*")
        mappings = {
            name: flatten(m["mappings"]["properties"])
            for name, m in es.indices.get_mapping(index="*").items()
        }
        yield es, mappings
    finally:
        server.close()


def matching(pattern: str, mappings: dict[str, dict[str, str]]) -> dict[str, str]:
    indices = [name for name in mappings if fnmatch.fnmatchcase(name, pattern)]
    assert indices, f"data view {pattern} matches no index; indices: {sorted(mappings)}"
    fields: dict[str, str] = {}
    for name in indices:
        fields |= mappings[name]
    return fields


def test_objects_reference_only_objects_in_the_file() -> None:
    ids = {(o["type"], o["id"]) for o in saved_objects()}
    assert {t for t, _ in ids} == {"index-pattern", "visualization", "dashboard"}
    for obj in saved_objects():
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in ids, f"{obj['id']} references a missing {ref}"
    (dashboard,) = of_type("dashboard")
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    names = {r["name"]: r["id"] for r in dashboard["references"]}
    assert {names[p["panelRefName"]] for p in panels} == {v["id"] for v in of_type("visualization")}


def test_data_views_match_exported_indices_and_their_time_fields_are_dates(exported: Any) -> None:
    _, mappings = exported
    for view in of_type("index-pattern"):
        fields = matching(view["attributes"]["title"], mappings)
        assert fields.get(view["attributes"]["timeFieldName"]) == "date", view["id"]


@pytest.mark.parametrize("vis", of_type("visualization"), ids=lambda v: v["id"])
def test_visualization_fields_exist_and_its_search_returns_data(exported: Any, vis: dict[str, Any]) -> None:
    es, mappings = exported
    views = {v["id"]: v["attributes"] for v in of_type("index-pattern")}
    (ref,) = vis["references"]
    pattern = views[ref["id"]]["title"]
    fields = matching(pattern, mappings)
    state = json.loads(vis["attributes"]["visState"])
    search = json.loads(vis["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    filters = kuery_terms(search["query"]["query"])
    for field in filters:
        assert field in fields, f"{vis['id']}: query field {field} is not in {pattern}"
    for agg in state["aggs"]:
        field = agg["params"].get("field")
        if field is None:
            continue
        assert field in fields, f"{vis['id']}: {agg['type']} on {field}, not in {pattern}"
        assert fields[field] in FIELD_TYPES[agg["type"]], f"{vis['id']}: {field} is {fields[field]}"

    # The search Kibana sends, with the nested bucket aggregations in schema order.
    metrics = {
        a["id"]: {a["type"]: {"field": a["params"]["field"]}}
        for a in state["aggs"]
        if a["schema"] == "metric" and a["type"] != "count"
    }
    buckets = sorted(
        (a for a in state["aggs"] if a["schema"] in BUCKET_SCHEMAS),
        key=lambda a: BUCKET_SCHEMAS.index(a["schema"]),
    )
    aggs: dict[str, Any] = metrics
    for agg in reversed(buckets):
        if agg["type"] == "date_histogram":
            body = {
                "date_histogram": {
                    "field": agg["params"]["field"],
                    "fixed_interval": "1h",
                    "min_doc_count": 1,
                }
            }
        else:
            body = {"terms": {"field": agg["params"]["field"], "size": agg["params"]["size"]}}
        aggs = {agg["id"]: {**body, "aggs": aggs}} if aggs else {agg["id"]: body}
    query = {"bool": {"filter": [{"term": {f: v}} for f, v in filters.items()]}}
    response = es.search(index=pattern, size=0, query=query, aggs=aggs)
    assert response["hits"]["total"]["value"] > 0, (
        f"{vis['id']}: no documents match {search['query']['query']!r}"
    )
    top = response["aggregations"][buckets[0]["id"]]["buckets"]
    assert top, f"{vis['id']}: no buckets"
    for metric_id in metrics:
        assert any(_leaf_values(b, metric_id) for b in top), f"{vis['id']}: metric {metric_id} is empty"
    if vis["id"] == "driftline-drifted-features":
        assert [b["key"] for b in top] == ["x1"]


def _leaf_values(bucket: dict[str, Any], metric_id: str) -> list[float]:
    if metric_id in bucket:
        value = bucket[metric_id]["value"]
        return [] if value is None else [value]
    values = []
    for inner in bucket.values():
        if isinstance(inner, dict) and "buckets" in inner:
            for child in inner["buckets"]:
                values += _leaf_values(child, metric_id)
    return values
