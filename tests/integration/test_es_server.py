"""What driftline's Elasticsearch exporter needs, checked against noida-db (noida-db 0.2.3, which
reports itself as Elasticsearch 8.15.3) with the official 8.x Python client.

Works (each has a test below):
  - composable index templates (`indices.put_index_template`) with explicit mappings: keyword,
    date, double, boolean, object and nested fields, `dynamic: strict`; a new date-suffixed index
    (driftline-windows-2026.01.05) takes the template's mappings on its first bulk write;
  - `helpers.bulk` index ops with explicit `_id`s: re-sending the same ids overwrites (count
    unchanged, `_version` 1 -> 2); rejected items (wrong type, unknown field under strict) come
    back per item with status 400 while the rest of the batch is written;
  - near-real-time search like Elasticsearch (new documents are visible after about 1 s or an
    explicit refresh); `indices.refresh`, `refresh="wait_for"` on bulk;
  - `count`, `search` with term / range / bool-filter queries, `terms`, `date_histogram`
    (fixed and calendar intervals), `max`, `avg` aggregations; `get` by id (404 ->
    `NotFoundError`);
  - deleting old daily indices by exact name (a wildcard delete is refused, as in Elasticsearch 8
    with its default `action.destructive_requires_name`);
  - data, templates and document versions survive a server stop/start on the same data dir;
  - while the server is down, every client call raises `elasticsearch.ConnectionError`
    (= `elastic_transport.ConnectionError`, a `TransportError`, not an `ApiError`) within
    milliseconds, and `ping()` returns False; the same client object works again as soon as the
    server is back, so the exporter can buffer and retry with one client.

Does not work:
  - ILM: `ilm.put_lifecycle` raises `BadRequestError` (HTTP 400) "no handler found for uri
    [/_ilm/policy/<name>] and method [PUT]"; GET is refused the same way. The template setting
    `index.lifecycle.name` is accepted and stored (and ignored), so the exporter can set it for a
    real cluster and do retention itself by deleting old daily indices by name.
  - `percentiles`, `extended_stats` and `composite` aggregations: `BadRequestError` (400,
    `parsing_exception`, "Unknown aggregation type [...]").
  - Durability on a crash: the store is written to disk about once a second and on SIGTERM, so a
    SIGKILL loses up to the last second of acknowledged writes (measured by hand, not tested).
  - Seen in passing: `top_hits` sources leave out nested fields.

Client version: the 9.x client sends `compatible-with=9` media types, which a real Elasticsearch 8
rejects; noida-db 0.2.3 accepts them (checked by hand with elasticsearch 9.5.1), so a test passing
here would not catch that mistake: keep the client pinned below 9.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from elasticsearch import ApiError, BadRequestError, ConnectionError, Elasticsearch, NotFoundError, helpers

from tests.integration.es_fixtures import ElasticsearchServer

pytestmark = pytest.mark.integration

TEMPLATE = "driftline-windows"
INDEX = "driftline-windows-2026.01.05"
DAY_START = datetime(2026, 1, 5, tzinfo=UTC)
FEATURES = ("age", "plan", "monthly_spend")
Documents = dict[str, dict[str, Any]]  # window documents by their idempotent id
WINDOW_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "model": {"type": "keyword"},
        "feature": {"type": "keyword"},
        "window_start": {"type": "date"},
        "psi": {"type": "double"},
        "drift_detected": {"type": "boolean"},
        "sample": {"properties": {"size": {"type": "long"}, "segment": {"type": "keyword"}}},
        "statistics": {
            "type": "nested",
            "properties": {"name": {"type": "keyword"}, "value": {"type": "double"}},
        },
    },
}


def put_windows_template(es: Elasticsearch, settings: dict[str, Any] | None = None) -> None:
    es.indices.put_index_template(
        name=TEMPLATE,
        index_patterns=[f"{TEMPLATE}-*"],
        priority=100,
        template={"settings": settings or {"number_of_shards": 1}, "mappings": WINDOW_MAPPINGS},
    )


def window_documents(count: int, seed: int = 7) -> Documents:
    """Seeded per-feature window results, keyed by the idempotent id the exporter would use.
    Windows start on whole hours with gaps, so date histograms have empty buckets to fill."""
    rng = random.Random(seed)
    documents = {}
    for i in range(count):
        feature = FEATURES[i % len(FEATURES)]
        start = DAY_START + timedelta(hours=2 * (i // len(FEATURES)))
        psi = round(rng.uniform(0.0, 0.5), 4)
        documents[f"churn:3:{feature}:{start:%Y%m%dT%H}"] = {
            "model": "churn",
            "feature": feature,
            "window_start": start.isoformat().replace("+00:00", "Z"),
            "psi": psi,
            "drift_detected": psi > 0.2,
            "sample": {"size": rng.randint(100, 1000), "segment": "eu"},
            "statistics": [{"name": "ks", "value": round(rng.random(), 4)}],
        }
    return documents


def bulk_index(es: Elasticsearch, documents: Documents, **options: Any) -> tuple[int, Any]:
    actions = [{"_op_type": "index", "_index": INDEX, "_id": i, "_source": d} for i, d in documents.items()]
    return helpers.bulk(es, actions, **options)


@pytest.fixture
def es(es_server: ElasticsearchServer) -> Elasticsearch:
    return es_server.client()


@pytest.fixture
def loaded(es: Elasticsearch) -> Documents:
    """The windows template, and 30 window documents indexed and refreshed."""
    put_windows_template(es)
    documents = window_documents(30)
    bulk_index(es, documents)
    es.indices.refresh(index=INDEX)
    return documents


def test_server_reports_an_elasticsearch_8_version(es: Elasticsearch) -> None:
    assert es.info()["version"]["number"].startswith("8.")


def test_template_mappings_apply_to_a_new_date_suffixed_index(es: Elasticsearch) -> None:
    put_windows_template(es)
    stored = es.indices.get_index_template(name=TEMPLATE)["index_templates"][0]["index_template"]
    assert stored["template"]["mappings"] == WINDOW_MAPPINGS

    bulk_index(es, window_documents(1))
    assert es.indices.get_mapping(index=INDEX)[INDEX]["mappings"] == WINDOW_MAPPINGS

    # Without a matching template the same document gets dynamic mappings, so the equality above
    # is the template's doing.
    es.index(index="unmatched-2026.01.05", document=next(iter(window_documents(1).values())))
    dynamic = es.indices.get_mapping(index="unmatched-2026.01.05")["unmatched-2026.01.05"]["mappings"]
    assert dynamic["properties"]["feature"]["type"] == "text"


def test_bulk_with_the_same_ids_overwrites_instead_of_duplicating(es: Elasticsearch) -> None:
    put_windows_template(es)
    documents = window_documents(12)
    for expected_version in (1, 2):
        indexed, errors = bulk_index(es, documents)
        assert (indexed, errors) == (len(documents), [])
        es.indices.refresh(index=INDEX)
        assert es.count(index=INDEX)["count"] == len(documents)
        some_id = next(iter(documents))
        assert es.get(index=INDEX, id=some_id)["_version"] == expected_version


def test_bulk_refresh_wait_for_makes_documents_countable_at_once(es: Elasticsearch) -> None:
    put_windows_template(es)
    documents = window_documents(9)
    bulk_index(es, documents, refresh="wait_for")
    assert es.count(index=f"{TEMPLATE}-*")["count"] == len(documents)


def test_bulk_reports_rejected_items_one_by_one(es: Elasticsearch) -> None:
    put_windows_template(es)
    good = window_documents(2)
    wrong_type = {"model": "churn", "psi": "high"}
    unknown_field = {"model": "churn", "not_in_mapping": 1}
    documents = {**good, "wrong-type": wrong_type, "unknown-field": unknown_field}
    indexed, errors = bulk_index(es, documents, raise_on_error=False, refresh="wait_for")
    assert indexed == len(good)
    rejected = {e["index"]["_id"]: e["index"] for e in errors}
    assert set(rejected) == {"wrong-type", "unknown-field"}
    assert {item["status"] for item in rejected.values()} == {400}
    assert rejected["unknown-field"]["error"]["type"] == "strict_dynamic_mapping_exception"
    assert es.count(index=INDEX)["count"] == len(good)


QUERIES: list[tuple[str, dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ("term keyword", {"term": {"feature": "plan"}}, lambda d: d["feature"] == "plan"),
    ("term boolean", {"term": {"drift_detected": True}}, lambda d: d["drift_detected"]),
    ("range double", {"range": {"psi": {"gte": 0.1, "lt": 0.3}}}, lambda d: 0.1 <= d["psi"] < 0.3),
    (
        "range date",
        {"range": {"window_start": {"gte": "2026-01-05T04:00:00Z", "lt": "2026-01-05T10:00:00Z"}}},
        lambda d: "2026-01-05T04" <= d["window_start"] < "2026-01-05T10",
    ),
    (
        "bool filter",
        {"bool": {"filter": [{"term": {"model": "churn"}}, {"range": {"sample.size": {"gt": 500}}}]}},
        lambda d: d["model"] == "churn" and d["sample"]["size"] > 500,
    ),
]


@pytest.mark.parametrize(("name", "query", "matches"), QUERIES, ids=[q[0] for q in QUERIES])
def test_query_matches_the_same_documents_as_python(
    es: Elasticsearch,
    loaded: Documents,
    name: str,
    query: dict[str, Any],
    matches: Callable[[dict[str, Any]], bool],
) -> None:
    expected = {doc_id for doc_id, doc in loaded.items() if matches(doc)}
    assert expected, f"{name}: the seeded data should match something"
    assert es.count(index=INDEX, query=query)["count"] == len(expected)
    hits = es.search(index=INDEX, query=query, size=100)["hits"]["hits"]
    assert {hit["_id"] for hit in hits} == expected


def test_terms_max_avg_aggregations_match_python(es: Elasticsearch, loaded: Documents) -> None:
    per_feature = {"max_psi": {"max": {"field": "psi"}}, "avg_psi": {"avg": {"field": "psi"}}}
    response = es.search(
        index=INDEX, size=0, aggs={"by_feature": {"terms": {"field": "feature"}, "aggs": per_feature}}
    )
    buckets = {b["key"]: b for b in response["aggregations"]["by_feature"]["buckets"]}
    assert set(buckets) == set(FEATURES)
    for feature, bucket in buckets.items():
        values = [d["psi"] for d in loaded.values() if d["feature"] == feature]
        assert bucket["doc_count"] == len(values)
        assert bucket["max_psi"]["value"] == pytest.approx(max(values))
        assert bucket["avg_psi"]["value"] == pytest.approx(sum(values) / len(values))


def test_date_histogram_fills_hourly_buckets_like_elasticsearch(es: Elasticsearch, loaded: Documents) -> None:
    aggs = {
        "hourly": {"date_histogram": {"field": "window_start", "fixed_interval": "1h"}},
        "daily": {"date_histogram": {"field": "window_start", "calendar_interval": "day"}},
    }
    response = es.search(index=INDEX, size=0, aggs=aggs)["aggregations"]
    starts = sorted({d["window_start"] for d in loaded.values()})
    first, last = (datetime.fromisoformat(s) for s in (starts[0], starts[-1]))
    hours = int((last - first) / timedelta(hours=1)) + 1
    # Elasticsearch's default min_doc_count of 0 returns the empty hours between first and last.
    per_start = Counter(datetime.fromisoformat(d["window_start"]) for d in loaded.values())
    expected = [per_start[first + timedelta(hours=h)] for h in range(hours)]
    assert [b["doc_count"] for b in response["hourly"]["buckets"]] == expected
    assert 0 in expected
    hourly_first = response["hourly"]["buckets"][0]
    assert hourly_first["key"] == int(first.timestamp() * 1000)
    assert [(b["key_as_string"], b["doc_count"]) for b in response["daily"]["buckets"]] == [
        ("2026-01-05T00:00:00.000Z", len(loaded))
    ]


@pytest.mark.parametrize(
    "aggregation",
    [
        {"percentiles": {"field": "psi"}},
        {"extended_stats": {"field": "psi"}},
        {"composite": {"sources": [{"feature": {"terms": {"field": "feature"}}}]}},
    ],
    ids=["percentiles", "extended_stats", "composite"],
)
def test_aggregations_noida_db_lacks_are_refused(
    es: Elasticsearch, loaded: Documents, aggregation: dict[str, Any]
) -> None:
    # Pins a known gap: if a new noida-db adds one, update the module docstring and DESIGN.md.
    with pytest.raises(BadRequestError) as refused:
        es.search(index=INDEX, size=0, aggs={"a": aggregation})
    assert refused.value.error == "parsing_exception"


def test_get_by_id_returns_the_source(es: Elasticsearch, loaded: Documents) -> None:
    doc_id, document = next(iter(loaded.items()))
    response = es.get(index=INDEX, id=doc_id)
    assert response["found"] is True
    assert response["_source"] == document
    with pytest.raises(NotFoundError):
        es.get(index=INDEX, id="churn:3:no-such-window")


def test_ilm_policy_api_is_missing_but_the_lifecycle_setting_is_kept(es: Elasticsearch) -> None:
    policy = {"phases": {"hot": {"actions": {}}, "delete": {"min_age": "30d", "actions": {"delete": {}}}}}
    with pytest.raises(BadRequestError) as refused:
        es.ilm.put_lifecycle(name=TEMPLATE, policy=policy)
    assert refused.value.status_code == 400
    assert f"no handler found for uri [/_ilm/policy/{TEMPLATE}] and method [PUT]" in str(refused.value)

    put_windows_template(es, settings={"number_of_shards": 1, "index.lifecycle.name": TEMPLATE})
    bulk_index(es, window_documents(1))
    settings = es.indices.get_settings(index=INDEX)[INDEX]["settings"]["index"]
    assert settings["lifecycle"]["name"] == TEMPLATE


def test_old_daily_indices_can_be_deleted_by_name_only(es: Elasticsearch) -> None:
    put_windows_template(es)
    days = [f"{TEMPLATE}-2026.01.0{d}" for d in (3, 4, 5)]
    for index in days:
        es.index(index=index, document=next(iter(window_documents(1).values())))
    with pytest.raises(BadRequestError):
        es.indices.delete(index=f"{TEMPLATE}-*")
    es.indices.delete(index=",".join(days[:2]))
    assert sorted(es.indices.get(index=f"{TEMPLATE}-*")) == days[2:]


def test_data_survives_a_stop_and_start(es_server: ElasticsearchServer, es: Elasticsearch) -> None:
    put_windows_template(es)
    documents = window_documents(15)
    bulk_index(es, documents)
    bulk_index(es, documents)  # every document at _version 2
    es_server.stop()
    es_server.start()

    es.indices.refresh(index=INDEX)
    assert es.count(index=INDEX)["count"] == len(documents)
    assert es.indices.exists_index_template(name=TEMPLATE)
    for doc_id, document in documents.items():
        stored = es.get(index=INDEX, id=doc_id)
        assert (stored["_version"], stored["_source"]) == (2, document)


def test_client_raises_connection_error_while_down_and_recovers(
    es_server: ElasticsearchServer, es: Elasticsearch
) -> None:
    put_windows_template(es)
    documents = window_documents(6)
    es_server.stop()

    assert es.ping() is False
    with pytest.raises(ConnectionError) as down:
        bulk_index(es, documents)
    # The exporter retries transport failures and drops items the server rejected: the two must
    # not share a base class it could catch by mistake.
    assert not isinstance(down.value, ApiError)
    with pytest.raises(ConnectionError):
        es.count(index=INDEX)

    es_server.start()
    assert es.ping() is True
    assert bulk_index(es, documents, refresh="wait_for") == (len(documents), [])
    assert es.count(index=INDEX)["count"] == len(documents)
