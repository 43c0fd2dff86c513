"""Window results as Elasticsearch documents: ids, index names, fields, and that every field of
every document is in the index template's explicit mapping."""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from monitor.sinks.elasticsearch.config import ElasticsearchSinkConfig
from monitor.sinks.elasticsearch.documents import event_action, index_name, results_actions
from monitor.sinks.elasticsearch.templates import MAPPINGS
from tests.unit.evaluation.test_result_json import _drifted_run


def mapped_paths(properties: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for name, spec in properties.items():
        paths.add(prefix + name)
        if "properties" in spec:
            paths |= mapped_paths(spec["properties"], f"{prefix}{name}.")
    return paths


def document_paths(doc: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for name, value in doc.items():
        paths.add(prefix + name)
        if isinstance(value, dict):
            paths |= document_paths(value, f"{prefix}{name}.")
    return paths


@pytest.fixture(scope="module")
def actions() -> list:
    _, sink = _drifted_run()
    return results_actions(sink.passes[0], "driftline")


def test_one_summary_and_one_document_per_column_per_window_with_stable_ids(actions: list) -> None:
    windows = [a for a in actions if a.index.startswith("driftline-windows-")]
    features = [a for a in actions if a.index.startswith("driftline-features-")]
    assert len(windows) == 3
    start = windows[-1].source["window_start"]
    last = [a for a in features if a.source["window_start"] == start]
    window = windows[-1].source["window_id"]
    assert windows[-1].id == f"m|1|{window}|window"
    assert {a.id for a in last} >= {f"m|1|{window}|feature|{a.source['feature']}" for a in last}
    x1 = next(a.source for a in last if a.source["feature"] == "x1")
    assert x1["drift_detected"] is True and x1["statistic"] > x1["threshold"]
    assert x1["role"] == "feature" and x1["n_current"] > 0 and x1["missing_ratio"] is not None
    assert windows[-1].source["drifted_features"] == ["x1"]
    assert windows[-1].source["n_drifted"] == 1
    assert len({a.id for a in actions}) == len(actions)
    assert results_actions([], "driftline") == []


def loose_objects(properties: dict[str, Any], prefix: str = "") -> set[str]:
    """Paths of `dynamic: false` objects: they may hold names the mapping does not list."""
    paths = set()
    for name, spec in properties.items():
        if spec.get("dynamic") is False:
            paths.add(f"{prefix}{name}.")
        if "properties" in spec:
            paths |= loose_objects(spec["properties"], f"{prefix}{name}.")
    return paths


def test_every_document_field_is_in_the_explicit_mapping(actions: list) -> None:
    for action in actions:
        properties = MAPPINGS[action.index.split("-")[1]]["properties"]
        doc = orjson.loads(orjson.dumps(action.source))
        loose = tuple(loose_objects(properties))
        unmapped = {p for p in document_paths(doc) - mapped_paths(properties) if not p.startswith(loose)}
        assert unmapped == set(), action.id


def test_index_names_use_the_utc_day_of_the_window_start() -> None:
    moment = datetime(2026, 1, 5, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
    assert index_name("dl", "windows", moment) == "dl-windows-2026.01.06"


def test_events_get_kind_timestamp_and_a_kind_scoped_id() -> None:
    when = datetime(2026, 1, 5, 10, tzinfo=UTC)
    action = event_action("dl", "alert", "churn/drift", {"rule": "drift", "state": "firing"}, when)
    assert (action.index, action.id) == ("dl-events-2026.01.05", "alert|churn/drift")
    assert action.source == {
        "rule": "drift",
        "state": "firing",
        "event_kind": "alert",
        "@timestamp": "2026-01-05T10:00:00Z",
    }
    with pytest.raises(ValueError, match="timezone-aware"):
        event_action("dl", "alert", "x", {}, datetime(2026, 1, 5))


def test_client_options_pass_credentials_through(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = ElasticsearchSinkConfig(url="http://es:9200")
    assert plain.client_options() == {"request_timeout": 10.0}
    monkeypatch.setenv("ES_PW", "s3cret")
    monkeypatch.setenv("ES_KEY", "")
    secured = ElasticsearchSinkConfig(
        url="https://es:9200",
        username="driftline",
        password_env="ES_PW",
        api_key_env="ES_KEY",
        verify_certs=False,
    )
    assert secured.client_options() == {
        "request_timeout": 10.0,
        "basic_auth": ("driftline", "s3cret"),
        "verify_certs": False,
    }
