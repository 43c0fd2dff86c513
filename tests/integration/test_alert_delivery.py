"""Alert delivery end to end over real HTTP: signed webhooks, a receiver that is down for part of
the run, and retraining webhooks, with the engine on a real SQLite store and its own thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alerts.config import AlertsConfig
from alerts.engine import AlertEngine
from alerts.outbox import DELIVERY_LOG, OUTBOX, load
from alerts.receiver import WebhookReceiver
from monitor.state.sqlite import SqliteStateStore
from tests.conftest import find_free_port
from tests.unit.alerts.factory import window

pytestmark = pytest.mark.integration
SECRET = b"integration-secret"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(SECRET, port=find_free_port())  # not started: each test decides when
    yield r
    r.stop()


def engine_for(store: SqliteStateStore, receiver: WebhookReceiver, **alerts: Any) -> AlertEngine:
    config = AlertsConfig.model_validate(
        {
            "receivers": [
                {
                    "name": "ops",
                    "kind": "webhook",
                    "url": receiver.url("/hook"),
                    "secret": "integration-secret",
                }
            ],
            "delivery": {"backoff_initial": "50ms", "backoff_max": "300ms", "flush_timeout": "5s"},
            **alerts,
        }
    )
    return AlertEngine(config, store, {"churn": 100})


def test_a_receiver_down_for_a_while_gets_every_notification_once_when_back(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    store = SqliteStateStore(tmp_path / "state.db")
    engine = engine_for(store, receiver)
    engine.start()
    try:
        engine.write([window(0), window(1, drifted=("spend", "age"))])
        engine.write([window(2, drifted=("spend",))])
        engine.write([window(3)])
        expected = {e.idempotency_key for e in load(store.load_records(OUTBOX))}
        assert len(expected) >= 5  # age, spend, dataset drift fire; age and dataset drift resolve, ...

        def retried(_: object) -> bool:
            entries = load(store.load_records(OUTBOX))
            return bool(entries) and min(e.attempts for e in entries[:1]) >= 3

        assert receiver.wait_for(retried, timeout=30), "delivery was not retried while the receiver was down"
        assert receiver.received() == []
        receiver.start()  # back, on the same port
        assert receiver.wait_for(lambda r: set(r.counts()) >= expected, timeout=30)
        assert receiver.wait_for(lambda _: store.load_records(OUTBOX) == {}, timeout=10)
    finally:
        engine.close()
    counts = receiver.counts()
    assert set(counts) == expected and set(counts.values()) == {1}, counts
    assert all(d.verified for d in receiver.received())
    statuses = sorted((d.json["rule"], d.json["subject"], d.json["status"]) for d in receiver.received())
    assert ("feature_drift", "age", "resolved") in statuses and (
        "feature_drift",
        "spend",
        "firing",
    ) in statuses


def test_retraining_webhook_is_signed_carries_evidence_and_is_logged(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    receiver.start()
    store = SqliteStateStore(tmp_path / "state.db")
    policy = {
        "model": "churn",
        "url": receiver.url("/retrain"),
        "on": ["feature_drift"],
        "secret": "integration-secret",
    }
    engine = engine_for(store, receiver, retraining=[policy])
    engine.start()
    try:
        engine.write([window(1, drifted=("spend", "region")), window(2, drifted=("spend", "region", "age"))])
        assert receiver.wait_for(
            lambda r: len(r.received("/retrain")) >= 1 and len(r.received("/hook")) >= 3, 30
        )
        assert receiver.wait_for(lambda _: store.load_records(OUTBOX) == {}, timeout=10)
    finally:
        engine.close()
    [retrain] = receiver.received("/retrain")
    assert retrain.verified
    body = retrain.json
    assert body["model"] == "churn" and body["idempotency_key"] == retrain.key
    assert body["reason"].startswith("feature_drift")
    evidence = body["evidence"]
    assert evidence["baseline_id"] == "b-123" and evidence["window_end"] == "2026-01-05T02:00:00Z"
    assert {f["column"] for f in evidence["drifted_features"]} == {"spend", "region"}
    assert evidence["performance"]["reference"] == {"accuracy": 0.9}
    reopened = SqliteStateStore(tmp_path / "state.db")  # engine.close() closed its store
    [log] = reopened.load_records(DELIVERY_LOG).values()
    reopened.close()
    assert b'"outcome":"delivered"' in log and b'"status":200' in log
