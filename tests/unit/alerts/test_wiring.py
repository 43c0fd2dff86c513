"""`attach_sinks` builds the engine from the config: a sink of the service, its alert snapshot,
events to exporters that take them, and a delivery thread that close_sinks stops."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from consumers.runner import attach_sinks
from monitor.config import parse_config, resolve_paths
from monitor.service import Service
from monitor.sinks.dead_letters import JsonlDeadLetters
from monitor.state.durable_results import DurableResults
from tests.unit import stream_world as world
from tests.unit.alerts.factory import window


class EventSink:
    """An in-memory exporter that takes events, like the Elasticsearch exporter."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def write(self, results: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def send_event(self, kind: str, doc_id: str, document: dict[str, Any], timestamp: datetime) -> None:
        self.events.append((kind, doc_id, document))


def service_for(tmp_path: Path, alerts: dict[str, Any] | None) -> Service:
    data = world.config().model_dump(mode="json", by_alias=True, exclude={"alerts", "api"})
    data["state"] = {"url": "sqlite:///state.db"}
    if alerts is not None:
        data["alerts"] = alerts
    config = resolve_paths(parse_config(data), tmp_path)
    return Service(config, {("m", "1"): world.baseline(config)}, JsonlDeadLetters(tmp_path / "dead.jsonl"))


def test_no_alerts_section_builds_no_engine(tmp_path: Path) -> None:
    service = service_for(tmp_path, None)
    attach_sinks(service, service.config)
    assert [type(s) for s in service.sinks] == [DurableResults]  # only the stored results
    assert service.alert_snapshot() == {"active": [], "recent": []}
    service.close_sinks()


def test_the_engine_is_a_sink_serves_the_snapshot_and_stops_with_the_service(tmp_path: Path) -> None:
    rules = [{"name": "drift", "signal": "feature_drift", "threshold": 1, "models": ["m"]}]
    service = service_for(
        tmp_path, {"rules": rules, "default_rules": False, "receivers": [{"name": "l", "kind": "log"}]}
    )
    exporter = EventSink()
    service.sinks.append(exporter)
    attach_sinks(service, service.config)
    assert len(service.sinks) == 3  # the stored results, the exporter, the engine
    assert any(t.name == "alert-delivery" for t in threading.enumerate())
    service._publish([window(1, drifted=("spend",), model="m")])
    assert [a["subject"] for a in service.alert_snapshot()["active"]] == ["spend"]
    assert [(k, d["status"]) for k, _, d in exporter.events] == [("alert", "firing")]
    service.close_sinks()
    assert not any(t.name == "alert-delivery" for t in threading.enumerate())
