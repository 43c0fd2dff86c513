"""The engine over a real SQLite store: rules → state → outbox, persisted across restarts.
The delivery thread is not started here (tests/integration/test_alert_delivery.py does that)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from alerts.config import AlertsConfig
from alerts.engine import STATES, AlertEngine
from alerts.metrics import AlertEngineCollector
from alerts.outbox import OUTBOX, load
from alerts.retraining import TRIGGERS
from monitor.core.concept_episodes import Episode
from monitor.evaluation.concept import StreamEpisodeEvent
from monitor.pipeline.counters import Counters
from monitor.state.sqlite import SqliteStateStore
from tests.unit.alerts.factory import T0, window

MODELS = {"churn": 100}


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStateStore]:
    s = SqliteStateStore(tmp_path / "state.db")
    yield s
    s.close()


def config(**alerts: Any) -> AlertsConfig:
    base: dict[str, Any] = {"receivers": [{"name": "ops", "kind": "webhook", "url": "http://127.0.0.1:9/h"}]}
    return AlertsConfig.model_validate({**base, **alerts})


def outbox(store: SqliteStateStore) -> list[dict[str, Any]]:
    return [e.document for e in load(store.load_records(OUTBOX))]


def test_prometheus_metrics_count_firing_alerts_and_undelivered_notifications(
    store: SqliteStateStore,
) -> None:
    metrics = CollectorRegistry()
    engine = AlertEngine(config(), store, MODELS, clock=Clock(T0))
    metrics.register(AlertEngineCollector(engine))
    assert metrics.get_sample_value("driftline_alert_outbox_entries") == 0
    engine.write([window(0), window(1, drifted=("spend", "region"))])
    labels = {"rule": "feature_drift", "model": "churn", "model_version": "1"}
    firing = {
        s.labels["severity"]: s.value
        for m in metrics.collect()
        for s in m.samples
        if s.name == "driftline_alerts_firing" and s.labels.items() >= labels.items()
    }
    assert sum(firing.values()) == 2  # spend and region
    assert metrics.get_sample_value("driftline_alert_outbox_entries") == len(outbox(store)) == 3


def test_drifted_features_fire_one_alert_each_and_re_evaluation_does_not_repeat(
    store: SqliteStateStore,
) -> None:
    clock = Clock(T0)
    engine = AlertEngine(config(), store, MODELS, clock=clock)
    engine.write([window(0)])
    assert outbox(store) == []
    engine.write([window(1, drifted=("spend", "region"))])
    docs = outbox(store)
    fired = sorted((d["rule"], d["subject"]) for d in docs)
    assert fired == [("dataset_drift", ""), ("feature_drift", "region"), ("feature_drift", "spend")]
    assert {d["status"] for d in docs} == {"firing"} and len({d["id"] for d in docs}) == 3
    engine.write([window(1, drifted=("spend", "region"))])  # late outcomes: the window again
    assert len(outbox(store)) == 3
    active = engine.snapshot()["active"]
    assert {(a["rule"], a["subject"], a["status"]) for a in active} >= {("feature_drift", "spend", "firing")}


def test_a_restarted_engine_continues_from_the_stored_state(store: SqliteStateStore, tmp_path: Path) -> None:
    clock = Clock(T0)
    AlertEngine(config(), store, MODELS, clock=clock).write([window(1, drifted=("spend",))])
    assert [d["subject"] for d in outbox(store)] == ["spend"]
    again = SqliteStateStore(tmp_path / "state.db")
    try:
        engine = AlertEngine(config(), again, MODELS, clock=clock)
        engine.write([window(1, drifted=("spend",)), window(2, drifted=("spend",))])  # replayed input
        assert [d["subject"] for d in outbox(again)] == ["spend"]  # not sent again
        engine.write([window(3)])
        docs = outbox(again)
        assert [(d["subject"], d["status"]) for d in docs] == [("spend", "firing"), ("spend", "resolved")]
        assert docs[1]["episode"] == 1 and docs[1]["id"] != docs[0]["id"]
        assert engine.snapshot()["recent"][0]["subject"] == "spend"
    finally:
        again.close()


def test_performance_drop_waits_for_min_pairs(store: SqliteStateStore) -> None:
    engine = AlertEngine(config(), store, MODELS, clock=Clock(T0))
    engine.write([window(0, accuracy=0.7, pairs=50)])  # too few outcomes yet to judge
    assert outbox(store) == []
    engine.write([window(0, accuracy=0.7, pairs=400)])
    assert [(d["rule"], round(d["value"], 3)) for d in outbox(store)] == [("accuracy_drop", 0.2)]


def test_estimated_accuracy_drop_fires_without_outcomes_once_its_band_is_below_the_reference(
    store: SqliteStateStore,
) -> None:
    engine = AlertEngine(config(), store, MODELS, clock=Clock(T0))
    # 0.1 below the reference of 0.9, but the band reaches it: not shown, no alert.
    engine.write([window(0, accuracy=None, pairs=0, estimated=(0.8, 0.7, 0.91))])
    assert outbox(store) == []
    engine.write([window(1, accuracy=None, pairs=0, estimated=(0.8, 0.77, 0.83))])
    assert [(d["rule"], round(d["value"], 3)) for d in outbox(store)] == [("estimated_accuracy_drop", 0.1)]
    engine.write([window(2, accuracy=None, pairs=0, estimated=(0.89, 0.86, 0.92))])
    assert [(d["rule"], d["status"]) for d in outbox(store)][-1] == ("estimated_accuracy_drop", "resolved")


def test_retraining_is_triggered_once_within_its_interval_and_at_most_max_per_day(
    store: SqliteStateStore,
) -> None:
    clock = Clock(T0)
    policy = {"model": "churn", "url": "http://127.0.0.1:9/r", "on": ["feature_drift"]}
    policy |= {"min_interval": "2h", "max_per_day": 2}
    engine = AlertEngine(config(retraining=[policy]), store, MODELS, clock=clock)

    def retrains() -> list[dict[str, Any]]:
        return [e.document for e in load(store.load_records(OUTBOX)) if e.retraining]

    engine.write([window(1, drifted=("spend", "region"))])  # two alerts fire in one pass
    assert len(retrains()) == 1
    body = retrains()[0]
    assert body["model"] == "churn" and body["evidence"]["baseline_id"] == "b-123"
    assert sorted(f["column"] for f in body["evidence"]["drifted_features"]) == ["region", "spend"]
    assert body["evidence"]["window_start"] == "2026-01-05T01:00:00Z"
    for i, minutes in enumerate((30, 150, 300, 600)):  # refire age each time, at these minutes
        clock.now = T0 + timedelta(minutes=minutes)
        engine.write([window(2 + 2 * i)])  # resolve (cooldown 30m has passed by the next one)
        clock.now += timedelta(minutes=31)
        engine.write([window(3 + 2 * i, drifted=("age",))])
    # 30 min: too soon after the first (min_interval 2h); 150: second of the day; 300, 600: max 2/day
    assert len(retrains()) == 2
    history = orjson.loads(store.load_records(TRIGGERS)["churn"])
    assert len(history) == 2


def test_staleness_fires_when_no_prediction_arrives(store: SqliteStateStore) -> None:
    counters = Counters()
    clock = Clock(T0)
    rules = [{"name": "no_data", "signal": "staleness", "op": ">", "threshold": "1h"}]
    engine = AlertEngine(
        config(rules=rules, default_rules=False),
        store,
        MODELS,
        streams=[("churn", "1")],
        counters=lambda: counters,
        clock=clock,
    )
    counters.inc("predictions", 10, model="churn", model_version="1")
    engine.check(T0 + timedelta(minutes=30))
    clock.now = T0 + timedelta(minutes=90)
    engine.check(clock.now)  # an hour since the last arrival, not more
    assert outbox(store) == []
    engine.check(T0 + timedelta(minutes=91))
    assert [(d["rule"], d["model"], d["status"]) for d in outbox(store)] == [("no_data", "churn", "firing")]
    counters.inc("predictions", 5, model="churn", model_version="1")
    engine.check(T0 + timedelta(minutes=92))
    assert [d["status"] for d in outbox(store)] == ["firing", "resolved"]


def test_rejected_share_since_the_previous_pass(store: SqliteStateStore) -> None:
    counters = Counters()
    engine = AlertEngine(config(), store, MODELS, counters=lambda: counters, clock=Clock(T0))
    counters.inc("predictions", 1000, model="churn", model_version="1")
    counters.inc("rejected", 5, reason="invalid_json", topic="predictions")
    engine.write([window(0)])
    assert outbox(store) == []  # 0.5 % rejected
    counters.inc("predictions", 100, model="churn", model_version="1")
    counters.inc("rejected", 10, reason="invalid_json", topic="predictions")
    engine.write([window(1)])
    assert [(d["rule"], round(d["value"], 3)) for d in outbox(store)] == [("rejected_messages", 0.091)]


def test_states_are_written_only_when_they_change(store: SqliteStateStore) -> None:
    engine = AlertEngine(config(), store, MODELS, clock=Clock(T0))
    engine.write([window(0)])
    first = store.load_records(STATES)
    engine.write([window(0)])
    assert store.load_records(STATES) == first


def test_pending_alerts_are_listed_apart_and_events_go_to_listeners(store: SqliteStateStore) -> None:
    rules = [{"name": "missing", "signal": "missing_ratio", "op": ">", "threshold": 0.1, "for": 2}]
    engine = AlertEngine(config(rules=rules, default_rules=False), store, MODELS, clock=Clock(T0))
    events: list[tuple[str, str, str]] = []
    engine.event_listeners.append(lambda kind, doc_id, doc, at: events.append((kind, doc_id, doc["status"])))
    engine.write([window(0, missing=0.3)])
    snapshot = engine.snapshot()
    assert snapshot["active"] == [] and len(snapshot["pending"]) == 3 and events == []
    engine.write([window(1, missing=0.3)])
    assert {a["subject"] for a in engine.snapshot()["active"]} == {"age", "spend", "region"}
    engine.write([window(2)])
    assert ("alert", "missing/churn/1/age|1", "firing") in events
    assert ("alert", "missing/churn/1/age|1", "resolved") in events and len(events) == 6


def test_rules_and_policies_naming_unknown_models_fail_at_start_up(store: SqliteStateStore) -> None:
    from monitor.errors import ConfigError

    rules = [{"name": "fraud_drift", "signal": "drift_share", "threshold": 0.5, "models": ["fraud"]}]
    with pytest.raises(ConfigError, match=r"rule 'fraud_drift' names unknown models \['fraud'\]"):
        AlertEngine(config(rules=rules), store, MODELS)
    policy = {"model": "fraud", "url": "http://127.0.0.1:9/r", "on": ["feature_drift"]}
    with pytest.raises(ConfigError, match=r"alerts\.retraining: unknown model 'fraud'"):
        AlertEngine(config(retraining=[policy]), store, MODELS)


def _episode_event(kind: str, number: int = 1, model: str = "churn") -> StreamEpisodeEvent:
    start = int(T0.timestamp() * 1000)
    episode = Episode(
        number, start, start + 600_000, 3, kind == "start", "b-123", None if kind == "start" else "recovered"
    )
    return StreamEpisodeEvent(model, "1", kind, episode)


def test_the_concept_alert_fires_with_an_episode_and_resolves_when_it_closes(store: SqliteStateStore) -> None:
    clock = Clock(T0)
    policy = {"model": "churn", "url": "http://127.0.0.1:9/r", "on": ["concept_drift"]}
    engine = AlertEngine(config(retraining=[policy]), store, MODELS, clock=clock)
    # A window flagged by an episode does not fire it by itself: the episode does.
    engine.write([window(0, concept=True)])
    assert outbox(store) == []
    engine.write_episodes([_episode_event("start")])
    fired = [d for d in outbox(store) if d.get("rule") == "concept_drift"]
    assert [(d["status"], d["model"]) for d in fired] == [("firing", "churn")]
    (active,) = engine.snapshot()["active"]
    assert active["since"] == "2026-01-05T00:00:00Z"  # the episode's start, in event time
    retrains = [e.document for e in load(store.load_records(OUTBOX)) if e.retraining]
    assert retrains[0]["evidence"]["concept_drift_episode"]["episode"] == 1
    assert retrains[0]["evidence"]["concept_drift_episode"]["status"] == "open"
    engine.write_episodes([_episode_event("start")])  # announced again (a restart): nothing new
    assert len([d for d in outbox(store) if d.get("rule") == "concept_drift"]) == 1
    clock.now = T0 + timedelta(hours=2)
    engine.write_episodes([_episode_event("end")])
    statuses = [d["status"] for d in outbox(store) if d.get("rule") == "concept_drift"]
    assert statuses == ["firing", "resolved"]
    assert engine.snapshot()["active"] == []
    clock.now = T0 + timedelta(hours=5)
    engine.write_episodes([_episode_event("start", 2)])  # a second episode: a second firing
    statuses = [d["status"] for d in outbox(store) if d.get("rule") == "concept_drift"]
    assert statuses == ["firing", "resolved", "firing"]
