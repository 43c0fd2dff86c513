"""The Kibana saved objects (dashboards/kibana/driftline.ndjson) against what the service really
exports, for a classifier with scores (`churn`) and a regressor (`price`): both models' drifting
streams go through the real service with its alert engine and Elasticsearch exporter into
noida-db, then every data view must match existing indices, every field a visualization uses must
be in their mappings with a type its aggregation accepts, and every visualization's query,
filtered to one model as a Kibana user would, must return data for each model of the kinds it is
made for. Kibana itself cannot run here, so each visualization is executed as the search Kibana
would send."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from elasticsearch import Elasticsearch

from alerts.config import AlertsConfig
from consumers.runner import attach_sinks
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from tests.conftest import find_free_port
from tests.integration.es_fixtures import ElasticsearchServer, start_es_server
from tests.integration.es_stream import exporter_config
from tests.unit import results_world as world

pytestmark = pytest.mark.integration

NDJSON = Path(__file__).resolve().parents[2] / "dashboards" / "kibana" / "driftline.ndjson"
NUMERIC = {"double", "float", "long", "integer"}
FIELD_TYPES = {
    "max": NUMERIC,
    "min": NUMERIC,
    "avg": NUMERIC,
    "terms": {"keyword", "boolean", "long"},
    "date_histogram": {"date"},
}
BUCKET_SCHEMAS = ("segment", "group", "bucket")
HOURS, PER_HOUR, DRIFT_FROM, CONCEPT_FROM = 8, 400, 3, 5
# The visualizations made for one kind of model, and the models of the world of that kind; every
# other visualization must return data for both.
KIND_ONLY = {
    "driftline-classification-performance": {"churn"},
    "driftline-scored-performance": {"churn"},
    "driftline-regression-errors": {"price"},
    "driftline-regression-fit": {"price"},
    "driftline-estimated-accuracy": {"churn"},
    "driftline-estimated-mae": {"price"},
}


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


def kuery_filters(query: str) -> list[dict[str, Any]]:
    """The `field:value and field:*` queries the saved objects use, as term and exists filters."""
    filters: list[dict[str, Any]] = []
    for clause in filter(None, (c.strip() for c in query.split(" and "))):
        field, _, value = (part.strip() for part in clause.partition(":"))
        if value == "*":
            filters.append({"exists": {"field": field}})
        else:
            filters.append({"term": {field: {"true": True, "false": False}.get(value, value)}})
    return filters


def concept_changed(outcome: bytes) -> bytes:
    """The churn outcome after the concept changed: the other label."""
    message = orjson.loads(outcome)
    message["outcome"] = "0" if message["outcome"] == "1" else "1"
    return orjson.dumps(message)


def feed(service: Service) -> None:
    """Both models drift from hour DRIFT_FROM (churn in spend, price in area, which also makes the
    regressor's errors grow: its concept-drift episode); churn's labels flip from CONCEPT_FROM,
    its concept-drift episode."""
    rng = np.random.default_rng(7)
    for hour in range(HOURS):
        for model in world.MODELS:
            predictions, outcomes = world.messages(model, hour, PER_HOUR, rng, drift=hour >= DRIFT_FROM)
            if model == "churn" and hour >= CONCEPT_FROM:
                outcomes = [concept_changed(o) for o in outcomes]
            service.handle(RawBatch(predictions=predictions, outcomes=outcomes))
        service.evaluate()
    service.evaluate(flush=True)


@pytest.fixture(scope="module")
def exported(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Elasticsearch, dict[str, dict[str, str]]]]:
    """noida-db holding what the service exported for both models: windows, columns, alert events
    and concept-drift episodes; yields a client and the flattened mapping of every index."""
    folder = tmp_path_factory.mktemp("kibana")
    server: ElasticsearchServer = start_es_server(folder / "elasticsearch", find_free_port)
    try:
        cfg = world.decided_by_p_values(world.config(folder), "churn")  # both regimes of `auto`
        sinks = cfg.sinks.model_copy(update={"elasticsearch": exporter_config(server.url, folder / "spill")})
        alerts = AlertsConfig.model_validate({"receivers": [{"name": "log", "kind": "log"}]})
        cfg = cfg.model_copy(update={"sinks": sinks, "alerts": alerts})
        built = {(model, "1"): world.baseline(cfg, model, held_out=2000) for model in world.MODELS}
        service = Service(cfg, built, MemoryDeadLetters(), clock=world.ticking())
        attach_sinks(service, cfg)
        try:
            feed(service)
        finally:
            service.close_sinks()  # delivers what the exporter holds
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


def search(
    es: Elasticsearch, vis: dict[str, Any], pattern: str, model: str
) -> tuple[dict[str, Any], list[str], list[dict[str, Any]]]:
    """The search Kibana sends for `vis` with a filter on `model`: the visualization's query, its
    bucket aggregations nested in schema order (terms ordered as the visualization orders them), its
    metrics innermost. Returns (response, metric ids, bucket aggregations outermost first)."""
    state = json.loads(vis["attributes"]["visState"])
    search_source = json.loads(vis["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    metric_aggs = {a["id"]: a for a in state["aggs"] if a["schema"] == "metric"}
    metrics = {
        a["id"]: {a["type"]: {"field": a["params"]["field"]}}
        for a in metric_aggs.values()
        if a["type"] != "count"
    }
    buckets = sorted(
        (a for a in state["aggs"] if a["schema"] in BUCKET_SCHEMAS),
        key=lambda a: BUCKET_SCHEMAS.index(a["schema"]),
    )
    aggs: dict[str, Any] = metrics
    for agg in reversed(buckets):
        params = agg["params"]
        if agg["type"] == "date_histogram":
            body = {"date_histogram": {"field": params["field"], "fixed_interval": "1h", "min_doc_count": 1}}
        else:
            body = {"terms": {"field": params["field"], "size": params["size"]}}
            if params["orderBy"] == "_key":
                body["terms"]["order"] = {"_key": params["order"]}
            elif metric_aggs[params["orderBy"]]["type"] == "count":
                body["terms"]["order"] = {"_count": params["order"]}
            else:  # ordered by a metric: Kibana adds it as a child of the terms to sort by
                aggs = {**aggs, "order": metrics[params["orderBy"]]}
                body["terms"]["order"] = {"order": params["order"]}
        aggs = {agg["id"]: {**body, "aggs": aggs}} if aggs else {agg["id"]: body}
    filters = [*kuery_filters(search_source["query"]["query"]), {"term": {"model": model}}]
    response = es.search(index=pattern, size=0, query={"bool": {"filter": filters}}, aggs=aggs)
    return response.body, list(metrics), buckets


@pytest.mark.parametrize("vis", of_type("visualization"), ids=lambda v: v["id"])
def test_visualization_fields_exist_and_its_search_returns_data(exported: Any, vis: dict[str, Any]) -> None:
    es, mappings = exported
    views = {v["id"]: v["attributes"] for v in of_type("index-pattern")}
    (ref,) = vis["references"]
    pattern = views[ref["id"]]["title"]
    fields = matching(pattern, mappings)
    state = json.loads(vis["attributes"]["visState"])
    query = json.loads(vis["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]["query"]
    for condition in kuery_filters(query):
        ((kind, body),) = condition.items()
        field = body["field"] if kind == "exists" else next(iter(body))
        assert field in fields, f"{vis['id']}: query field {field} is not in {pattern}"
    for agg in state["aggs"]:
        field = agg["params"].get("field")
        if field is None:
            continue
        assert field in fields, f"{vis['id']}: {agg['type']} on {field}, not in {pattern}"
        assert fields[field] in FIELD_TYPES[agg["type"]], f"{vis['id']}: {field} is {fields[field]}"

    for model in world.MODELS:
        response, metrics, buckets = search(es, vis, pattern, model)
        hits = response["hits"]["total"]["value"]
        if model not in KIND_ONLY.get(vis["id"], set(world.MODELS)):
            assert hits == 0, f"{vis['id']} is not made for {model}, yet {hits} of its documents match"
            continue
        assert hits > 0, f"{vis['id']}: no documents of {model} match {query!r}"
        top = response["aggregations"][buckets[0]["id"]]["buckets"]
        assert top, f"{vis['id']}: no buckets for {model}"
        for metric_id in metrics:
            assert any(_leaf_values(b, metric_id) for b in top), (
                f"{vis['id']}: metric {metric_id} empty for {model}"
            )
        if vis["id"] == "driftline-drifted-features":
            assert ranked(top)[0] == world.DRIFTED[model], top  # the most drifted first


def test_the_feature_chart_ranks_the_drifted_feature_first_in_every_drifted_window(exported: Any) -> None:
    """Ranked by the distance, higher is more drift for every feature: in each window from the
    drift on, the drifted feature leads, with a distance above any feature's before the drift."""
    es, _ = exported
    (vis,) = (v for v in of_type("visualization") if v["id"] == "driftline-feature-drift-distance")
    state = json.loads(vis["attributes"]["visState"])
    (feature_terms,) = (a for a in state["aggs"] if a["type"] == "terms")
    (distance,) = (a for a in state["aggs"] if a["id"] == feature_terms["params"]["orderBy"])
    assert (distance["type"], distance["params"]["field"], feature_terms["params"]["order"]) == (
        "max",
        "distance",
        "desc",
    )
    drift_start_ms = (world.START_S + DRIFT_FROM * world.HOUR_S) * 1000
    for model, drifted in world.DRIFTED.items():
        response, _, buckets = search(es, vis, "driftline-features-*", model)
        windows = response["aggregations"][buckets[0]["id"]]["buckets"]
        assert len(windows) == HOURS
        before, after = [], []  # every feature's distance before the drift; the drifted one's after it
        for window in windows:
            features = window[buckets[1]["id"]]["buckets"]
            if window["key"] >= drift_start_ms:
                assert ranked(features)[0] == drifted, (model, window["key_as_string"], features)
                after += [b["order"]["value"] for b in features if b["key"] == drifted]
            else:
                before += [b["order"]["value"] for b in features]
        assert len(after) == HOURS - DRIFT_FROM and min(after) > max(before), (model, before, after)


def ranked(buckets: list[dict[str, Any]]) -> list[str]:
    """Bucket keys in the order of their `order` child, highest first, as Elasticsearch returns them
    for a terms aggregation ordered by a metric (noida-db ignores `order` and returns key order)."""
    return [b["key"] for b in sorted(buckets, key=lambda b: -b["order"]["value"])]


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


def test_churn_is_decided_by_p_values_and_price_by_distances(exported: Any) -> None:
    """The world covers both regimes of `auto`, and on p-values the deciding statistic ranks the
    wrong way round (the chart's old `max(statistic)` put the drifted feature last): the distance
    is what ranks."""
    es, _ = exported
    regimes = {"churn": {"ks", "chi_square"}, "price": {"wasserstein", "jensen_shannon"}}
    for model, methods in regimes.items():
        aggs = {
            "method": {"terms": {"field": "method", "size": 10}},
            "feature": {
                "terms": {"field": "feature", "size": 10},
                "aggs": {"order": {"max": {"field": "statistic"}}},
            },
        }
        drifted_windows = {
            "range": {"window_start": {"gte": (world.START_S + DRIFT_FROM * world.HOUR_S) * 1000}}
        }
        query = {
            "bool": {"filter": [{"term": {"model": model}}, {"term": {"role": "feature"}}, drifted_windows]}
        }
        result = es.search(index="driftline-features-*", size=0, query=query, aggs=aggs).body["aggregations"]
        assert {b["key"] for b in result["method"]["buckets"]} == methods
        by_statistic = ranked(result["feature"]["buckets"])  # over the drifted windows
        expected = -1 if model == "churn" else 0  # a p-value is smallest for the drifted feature
        assert by_statistic[expected] == world.DRIFTED[model], by_statistic
