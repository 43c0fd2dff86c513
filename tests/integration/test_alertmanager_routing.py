"""driftline → a real Alertmanager's v2 API → its routing → a webhook receiver (the test's HTTP
server) that gets Alertmanager's own payload naming the alert; resolution follows with endsAt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alerts.config import AlertsConfig
from alerts.engine import AlertEngine
from alerts.receiver import WebhookReceiver
from monitor.state.sqlite import SqliteStateStore
from tests.integration.alertmanager_fixtures import AlertmanagerFactory
from tests.unit.alerts.factory import window

pytestmark = pytest.mark.integration


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver().start()
    yield r
    r.stop()


def _alerts_in(payloads: list[Any], status: str) -> list[dict[str, Any]]:
    return [a for p in payloads for a in p["alerts"] if a["status"] == status]


def test_alertmanager_routes_driftline_alerts_and_their_resolution(
    tmp_path: Path, receiver: WebhookReceiver, alertmanager_server: AlertmanagerFactory
) -> None:
    am = alertmanager_server(
        {
            "route": {
                "receiver": "blackhole",
                "group_by": ["alertname", "model", "feature"],
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "1h",
                # Only driftline's alerts reach the test's receiver: routing really applies.
                "routes": [{"matchers": ['source="driftline"', 'severity="warning"'], "receiver": "ml-team"}],
            },
            "receivers": [
                {"name": "blackhole"},
                {
                    "name": "ml-team",
                    "webhook_configs": [{"url": receiver.url("/am"), "send_resolved": True}],
                },
            ],
        }
    )
    config = AlertsConfig.model_validate(
        {
            "default_rules": False,
            "rules": [
                {"name": "SpendDrift", "signal": "feature_drift", "threshold": 1, "features": ["spend"]}
            ],
            "receivers": [{"name": "am", "kind": "alertmanager", "url": am.url}],
            "delivery": {"backoff_initial": "100ms", "backoff_max": "1s"},
        }
    )
    store = SqliteStateStore(tmp_path / "state.db")
    engine = AlertEngine(config, store, {"churn": 100})
    engine.start()
    try:
        engine.write([window(1, drifted=("spend", "age"))])
        assert receiver.wait_for(lambda r: _alerts_in([d.json for d in r.received("/am")], "firing"), 30), (
            am.log_path.read_text()
        )
        [held] = am.alerts()
        assert held["labels"]["alertname"] == "SpendDrift" and held["status"]["state"] == "active"
        engine.write([window(2)])
        assert receiver.wait_for(lambda r: _alerts_in([d.json for d in r.received("/am")], "resolved"), 30)
    finally:
        engine.close()
    payloads = [d.json for d in receiver.received("/am")]
    firing = _alerts_in(payloads, "firing")[0]
    assert firing["labels"] == {
        "alertname": "SpendDrift",
        "severity": "warning",
        "model": "churn",
        "model_version": "1",
        "feature": "spend",
        "source": "driftline",
    }
    assert payloads[0]["receiver"] == "ml-team" and payloads[0]["groupLabels"]["alertname"] == "SpendDrift"
    assert _alerts_in(payloads, "resolved")[0]["labels"]["feature"] == "spend"
