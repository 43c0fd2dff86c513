"""Write endpoints against a real service: event ingest (validation and dead letters exactly as
other sources), baseline upload (CSV, Parquet, artifact) and swap, keys and bad input."""

from __future__ import annotations

import io
import logging
from typing import Any

import numpy as np
import orjson
import pytest

from monitor.baselines.store import BaselineStore
from monitor.config import KafkaConfig
from monitor.pipeline.raw_batch import RawBatch
from tests.unit.api import api_world as world
from tests.unit.api.conftest import WRITE
from tests.unit.api.test_read_endpoints import error

JSON = {**WRITE, "content-type": "application/json"}


def events_body(n: int = 20, window: int = 0, model: str = "fraud") -> dict[str, Any]:
    predictions, outcomes = world.messages(model, window, n, np.random.default_rng(3))
    return {"predictions": predictions, "outcomes": outcomes}


def test_events_are_ingested_and_evaluated_like_any_source(make_client: Any) -> None:
    service, client = make_client(api_key=world.KEY)
    for window in range(3):
        response = client.post("/api/v1/events", content=orjson.dumps(events_body(200, window)), headers=JSON)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "received": 400,
            "accepted": 400,
            "rejected": 0,
            "reasons": {},
            "rejects": [],
        }
    service.evaluate(flush=True)
    assert service.counters.total("predictions") == 600
    assert service.counters.total("joined") == 600
    assert len(service.results.windows("fraud", "1")) == 3


def test_events_wait_for_the_checkpointed_state_to_be_loaded(make_client: Any) -> None:
    # `driftline run` starts the API before its runner restores the checkpoint: events taken
    # meanwhile would be overwritten by the restore, and the service is not ready.
    service, client = make_client(api_key=world.KEY)
    service.expect_state()
    body = orjson.dumps(events_body(20))
    assert (
        "loading its checkpointed state"
        in error(client.post("/api/v1/events", content=body, headers=JSON), 503)["message"]
    )
    assert service.counters.total("predictions") == 0
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["state_loaded"] is False
    service.state_loaded.set()
    assert client.post("/api/v1/events", content=body, headers=JSON).status_code == 200
    assert client.get("/readyz").json()["checks"]["state_loaded"] is True


def test_bad_events_are_dead_lettered_and_reported_by_index(make_client: Any) -> None:
    service, client = make_client(api_key=world.KEY)
    good = events_body(2)
    bad_type = dict(good["predictions"][0], prediction_id="b1", features={"age": "forty"})
    unknown_model = dict(good["predictions"][1], prediction_id="b2", model="nobody")
    body = {
        "predictions": [good["predictions"][0], bad_type, unknown_model],
        "messages": [good["outcomes"][0], 7],
    }
    result = client.post("/api/v1/events", content=orjson.dumps(body), headers=JSON).json()
    assert (result["received"], result["accepted"], result["rejected"]) == (5, 2, 3)
    by_index = {r["index"]: r for r in result["rejects"]}
    assert set(by_index) == {1, 2, 4}
    assert by_index[1]["topic"] == "predictions" and "age" in by_index[1]["detail"]
    assert by_index[2]["reason"] == "unknown_model"
    assert by_index[4]["reason"] == "not_an_object"
    assert sum(result["reasons"].values()) == 3
    assert service.dead_letters.reasons() == result["reasons"]  # the same dead-letter sink as any source
    assert service.counters.total("rejected") == 3


def _poison() -> dict[str, list[dict[str, Any]]]:
    """The issue's messages: a huge finite feature, both float extremes, a year-2199 timestamp."""
    (base,) = events_body(1)["predictions"]
    huge = dict(base, prediction_id="p-huge", features=dict(base["features"], age=1e200))
    top = dict(base, prediction_id="p-top", features=dict(base["features"], spend=1e308))
    bottom = dict(base, prediction_id="p-bottom", features=dict(base["features"], spend=-1e308))
    future = dict(base, prediction_id="p-2199", timestamp="2199-01-01T00:00:00Z")
    return {"huge": [huge], "extremes": [top, bottom], "future": [future]}


@pytest.mark.parametrize("kind", ["huge", "extremes", "future"])
def test_poison_messages_answer_422_and_change_nothing(make_client: Any, kind: str) -> None:
    service, client = make_client(api_key=world.KEY)
    messages = _poison()[kind]
    for _ in range(2):  # sent again (a client retrying): the same answer
        response = client.post(
            "/api/v1/events", content=orjson.dumps({"predictions": messages}), headers=JSON
        )
        body = error(response, 422)
        assert body["field"] == "body" and "none of the" in body["message"]
        result = response.json()
        assert (result["received"], result["accepted"]) == (len(messages), 0)
        reason = "future_timestamp" if kind == "future" else "value_out_of_range"
        assert [r["reason"] for r in result["rejects"]] == [reason] * len(messages)
    assert service.counters.total("predictions") == 0
    assert service.counters.get("rejected", reason=reason, topic="predictions") == 2 * len(messages)
    assert len(service.dead_letters) == 2 * len(messages)


def test_poison_among_good_messages_answers_200_listing_it(make_client: Any) -> None:
    service, client = make_client(api_key=world.KEY)
    body = events_body(3)
    body["predictions"] += [m for kind in _poison().values() for m in kind]
    result = client.post("/api/v1/events", content=orjson.dumps(body), headers=JSON).json()
    assert (result["accepted"], result["rejected"]) == (6, 4)
    assert result["reasons"] == {"value_out_of_range": 3, "future_timestamp": 1}
    assert [r["index"] for r in result["rejects"]] == [3, 4, 5, 6]
    assert service.counters.total("predictions") == 3


def test_an_ingest_failure_answers_422_not_500(make_client: Any) -> None:
    # A bug in ingest (here a window's state corrupted by hand) is dead-lettered as internal_error
    # by Service.handle; the API answers 4xx like for any message it could not take.
    service, client = make_client(api_key=world.KEY)
    body = events_body(20)
    assert client.post("/api/v1/events", content=orjson.dumps(body), headers=JSON).status_code == 200
    (window,) = service.monitor.streams[("fraud", "1")].windows.values()
    window.sketch.features["plan"].counts = window.sketch.features["plan"].counts[:-1]
    again = {"predictions": [dict(p, prediction_id=f"again-{i}") for i, p in enumerate(body["predictions"])]}
    response = client.post("/api/v1/events", content=orjson.dumps(again), headers=JSON)
    error(response, 422)
    assert response.json()["reasons"] == {"internal_error": 20}
    assert "model 'fraud'" in response.json()["rejects"][0]["detail"]
    assert service.counters.get("predictions", model="fraud", model_version="1") == 20


def test_json_lines_are_read_as_a_mixed_file_source_reads_them(make_client: Any) -> None:
    service, client = make_client(api_key=world.KEY)
    body = events_body(5)
    lines = b"\n".join(orjson.dumps(m) for m in [*body["predictions"], *body["outcomes"]]) + b"\n{oops\n"
    response = client.post(
        "/api/v1/events", content=lines, headers={**WRITE, "content-type": "application/x-ndjson"}
    )
    assert response.json()["accepted"] == 10
    assert response.json()["rejects"][0]["index"] == 10
    assert response.json()["rejects"][0]["reason"] == "invalid_json"
    assert service.counters.total("joined") == 5


@pytest.mark.parametrize(
    ("body", "headers", "status", "field"),
    [
        (b"{not json", JSON, 400, "body"),
        (b"", JSON, 400, "body"),
        (b"[1, 2]", JSON, 422, "body"),
        (b'{"predictions": {"a": 1}}', JSON, 422, "body.predictions"),
        (b'{"predicitons": []}', JSON, 422, "body"),
        (b"a,b\n1,2\n", {**WRITE, "content-type": "text/csv"}, 415, "header.content-type"),
        (b"{}", {"Authorization": f"Bearer {world.KEY}"}, 415, "header.content-type"),
        (b"{}", {"content-type": "application/json"}, 401, "header.authorization"),
        (b"{}", {"content-type": "application/json", "X-API-Key": "nope"}, 401, "header.authorization"),
    ],
)
def test_bad_event_requests_are_4xx_naming_the_field(
    make_client: Any, body: bytes, headers: dict[str, str], status: int, field: str
) -> None:
    _, client = make_client(api_key=world.KEY)
    assert error(client.post("/api/v1/events", content=body, headers=headers), status)["field"] == field


def test_oversize_bodies_and_batches_are_413(make_client: Any) -> None:
    _, client = make_client(api_key=world.KEY, max_body_bytes=4096, max_events=5)
    big = orjson.dumps(events_body(40))
    assert len(big) > 4096
    assert "max_body_bytes" in error(client.post("/api/v1/events", content=big, headers=JSON), 413)["message"]

    def chunked() -> Any:  # no Content-Length: cut off while streaming
        yield big[:3000]
        yield big[3000:]

    error(client.post("/api/v1/events", content=chunked(), headers=JSON), 413)
    many = orjson.dumps(events_body(3))  # 6 messages, over max_events=5
    assert "max_events" in error(client.post("/api/v1/events", content=many, headers=JSON), 413)["message"]


def test_writes_are_refused_while_no_key_is_configured(make_client: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("DRIFTLINE_API_KEY", raising=False)
    _, client = make_client()
    body = error(client.post("/api/v1/events", content=b"{}", headers=JSON), 403)
    assert "DRIFTLINE_API_KEY" in body["message"]


def test_the_key_can_come_from_the_environment_and_never_reaches_the_logs(
    make_client: Any, monkeypatch: Any, caplog: Any
) -> None:
    monkeypatch.setenv("DRIFTLINE_API_KEY", "env-key-93ab")
    _, client = make_client()
    caplog.set_level(logging.DEBUG)
    ok = client.post(
        "/api/v1/events",
        content=orjson.dumps(events_body(2)),
        headers={"content-type": "application/json", "X-API-Key": "env-key-93ab"},
    )
    assert ok.status_code == 200
    refused = client.post("/api/v1/events", content=b"{}", headers={**JSON, "X-API-Key": "env-key-93aX"})
    assert refused.status_code == 401
    assert "env-key-93a" not in caplog.text and "env-key-93a" not in refused.text


def test_a_kafka_service_refuses_http_events(make_client: Any, tmp_path: Any) -> None:
    service, _ = make_client(api_key=world.KEY)
    kafka = service.config.sources.model_copy(
        update={"kafka": KafkaConfig(bootstrap_servers=["127.0.0.1:9"])}  # never contacted
    )
    service.config = service.config.model_copy(update={"sources": kafka})
    from monitor.api.app import create_app
    from tests.unit.api.conftest import TestClient

    with TestClient(create_app(service)) as client:
        body = error(client.post("/api/v1/events", content=b"{}", headers=JSON), 409)
    assert "produce to topics" in body["message"]


# ---------------------------------------------------------------------------- baselines


def reference_csv(seed: int = 9, drift: bool = False) -> bytes:
    frame = world.rows(3000, np.random.default_rng(seed), drift)
    return frame.to_csv(index=False).encode()


def test_csv_upload_builds_stores_and_swaps_the_baseline(make_client: Any) -> None:
    service, client = make_client(api_key=world.KEY)
    old = service.baselines[("churn", "1")]
    rng = np.random.default_rng(4)
    world.feed(service, "churn", 0, 1000, rng)  # hour 0 is open when the baseline changes
    response = client.post(
        "/api/v1/models/churn/baselines",
        content=reference_csv(drift=True),
        headers={**WRITE, "content-type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["replaced_baseline_id"] == old.id
    assert created["n_rows"] == 3000 and created["active"] is True
    # Reference data carries the training rows' own performance: inflated, and the answer says so.
    assert created["reference_performance_origin"] == "in_sample_inflated"
    assert "in-sample" in created["warnings"][0]
    new_id = created["baseline_id"]
    assert service.baselines[("churn", "1")].id == new_id
    assert BaselineStore(service.config.baselines.path).active_id("churn", "1") == new_id
    world.feed(service, "churn", 1, 2000, rng, drift=True)
    service.evaluate(flush=True)
    first, second = service.results.windows("churn", "1")
    assert first.drift.baseline_id == old.id  # built on the old bins: judged against the old baseline
    assert second.drift.baseline_id == new_id
    assert not set(world.DRIFTED) & set(second.drift.drifted_features)  # the drifted data is the new normal
    assert not set(world.DRIFTED) & set(first.drift.drifted_features)  # normal data, old baseline
    listed = client.get("/api/v1/models").json()["models"][0]["versions"][0]["baseline"]["id"]
    assert listed == new_id


def test_reference_data_without_the_configured_target_needs_no_target(make_client: Any) -> None:
    service, client = make_client(api_key=world.KEY)
    frame = world.rows(2000, np.random.default_rng(5)).drop(columns=["y"])
    body, headers = frame.to_csv(index=False).encode(), {**WRITE, "content-type": "text/csv"}
    refused = client.post("/api/v1/models/churn/baselines", content=body, headers=headers)
    assert refused.status_code == 422 and "names target 'y'" in refused.json()["error"]["message"]
    taken = client.post(
        "/api/v1/models/churn/baselines", params={"no_target": "true"}, content=body, headers=headers
    )
    assert taken.status_code == 201, taken.text
    assert taken.json()["reference_performance_origin"] is None and taken.json()["warnings"] == []
    assert service.baselines[("churn", "1")].reference_performance is None


def test_parquet_upload_and_inactive_upload(make_client: Any) -> None:
    service, client = make_client(api_key=world.KEY)
    old_id = service.baselines[("fraud", "1")].id
    buffer = io.BytesIO()
    world.rows(2000, np.random.default_rng(2)).to_parquet(buffer)
    response = client.post(
        "/api/v1/models/fraud/baselines",
        params={"activate": "false"},
        content=buffer.getvalue(),
        headers={**WRITE, "content-type": "application/vnd.apache.parquet"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["active"] is False
    assert service.baselines[("fraud", "1")].id == old_id
    store = BaselineStore(service.config.baselines.path)
    assert store.load("fraud", "1", response.json()["baseline_id"]).n_rows == 2000


def test_artifact_upload_of_a_new_version_starts_accepting_it(make_client: Any) -> None:
    service, client = make_client(api_key=world.KEY)
    artifact = world.baseline(service.config, "fraud", version="7", seed=3)
    body = orjson.dumps(artifact.to_state(), option=orjson.OPT_SERIALIZE_NUMPY)
    response = client.post("/api/v1/models/fraud/baselines", content=body, headers=JSON)
    assert response.status_code == 201, response.text
    assert response.json()["baseline_id"] == artifact.id
    predictions, _ = world.messages("fraud", 0, 5, np.random.default_rng(1), version="7")
    assert service.handle(RawBatch(predictions=[orjson.dumps(p) for p in predictions])) == []


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        (lambda s: s | {"n_rows": s["n_rows"] + 1}, "body.id", "content hash"),
        (lambda s: {k: v for k, v in s.items() if k != "profile"}, "body", "profile"),
    ],
)
def test_bad_artifacts_are_422(make_client: Any, mutate: Any, field: str, words: str) -> None:
    service, client = make_client(api_key=world.KEY)
    state = world.baseline(service.config, "fraud").to_state()
    body = orjson.dumps(mutate(state), option=orjson.OPT_SERIALIZE_NUMPY)
    found = error(client.post("/api/v1/models/fraud/baselines", content=body, headers=JSON), 422)
    assert found["field"] == field and words in found["message"]


def test_an_artifact_of_another_model_is_422(make_client: Any) -> None:
    service, client = make_client(api_key=world.KEY)
    other = orjson.dumps(
        world.baseline(service.config, "churn").to_state(), option=orjson.OPT_SERIALIZE_NUMPY
    )
    found = error(client.post("/api/v1/models/fraud/baselines", content=other, headers=JSON), 422)
    assert found["field"] == "body.model" and "not 'fraud'" in found["message"]


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status", "field", "words"),
    [
        (
            "/api/v1/models/churn/baselines",
            b"age,plan,prediction\n1,a,1\n",
            "text/csv",
            422,
            "body",
            "'spend'",
        ),
        (
            "/api/v1/models/churn/baselines",
            b"\x00\x01garbage",
            "application/vnd.apache.parquet",
            422,
            "body",
            "Parquet",
        ),
        (
            "/api/v1/models/churn/baselines",
            b"age,spend,plan,prediction\n1,2,a,1\n3,1e200,b,0\n",
            "text/csv",
            422,
            "body",
            "column 'spend' holds 1 value(s) outside the accepted range",
        ),
        ("/api/v1/models/churn/baselines", b"", "text/csv", 400, "body", "empty"),
        ("/api/v1/models/churn/baselines", b"{", "application/json", 400, "body", "JSON"),
        ("/api/v1/models/churn/baselines", b"x", "image/png", 415, "header.content-type", "text/csv"),
        ("/api/v1/models/churn/baselines?version=..", b"a\n1\n", "text/csv", 422, "query.version", "'..'"),
        (
            "/api/v1/models/churn/baselines?version=a/b",
            b"a\n1\n",
            "text/csv",
            422,
            "query.version",
            "pattern",
        ),
        ("/api/v1/models/nobody/baselines", b"a\n1\n", "text/csv", 404, "path.model", "unknown model"),
    ],
)
def test_bad_baseline_uploads_are_4xx_naming_the_field(
    make_client: Any, path: str, body: bytes, content_type: str, status: int, field: str, words: str
) -> None:
    service, client = make_client(api_key=world.KEY)
    before = service.baselines[("churn", "1")].id
    found = error(client.post(path, content=body, headers={**WRITE, "content-type": content_type}), status)
    assert found["field"] == field
    assert words in found["message"]
    assert service.baselines[("churn", "1")].id == before


def test_a_line_that_is_neither_kind_is_counted_under_mixed(make_client: Any) -> None:
    """A mixed source's line with neither "features" nor "outcome" is not counted as a bad outcome:
    its reject carries the topic "mixed"; an outcome whose key is spelled with an escape still joins."""
    service, client = make_client(api_key=world.KEY)
    escaped = rb'{"prediction_id": "nope", "model": "churn", "timestamp": 1, "\u006futcome": "1"}'
    body = b"\n".join([b'{"hello": "world"}', b"{broken", escaped])
    answer = client.post(
        "/api/v1/events", content=body, headers={**WRITE, "content-type": "application/x-ndjson"}
    )
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert [r["topic"] for r in found["rejects"]] == ["mixed", "mixed"], found
    assert found["accepted"] == 1  # the escaped outcome (unknown prediction: counted, not rejected)
    rejected = {(k["reason"], k["topic"]): v for n, k, v in service.counters.items() if n == "rejected"}
    assert rejected == {("invalid_json", "mixed"): 1, ("missing_field", "mixed"): 1}, rejected
