"""Version comparison in the alerts: the `version_rollback` rule fires on a candidate window whose
verdict is rollback (subject: the baseline version), and the version webhook is delivered, signed,
once per verdict change, to a local HTTP receiver, not again after a restart of the engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alerts.config import DEFAULT_RULES, AlertsConfig
from alerts.engine import AlertEngine
from alerts.outbox import DELIVERY_LOG, OUTBOX
from alerts.receiver import WebhookReceiver
from alerts.rules import observe
from monitor.evaluation.results import WindowResult
from monitor.state.sqlite import SqliteStateStore
from tests.unit import canary_world as world

SECRET = b"version-secret"


@pytest.fixture(scope="module")
def candidate_windows() -> list[WindowResult]:
    """The candidate's windows of a canary 6.5 points worse: hold first, then rollback."""
    cfg = world.config()
    running = world.service(cfg, world.baselines(cfg))
    return list(world.looks(running, 8, 1000, np.random.default_rng(6), 0.865, 0.80))


def test_the_rollback_rule_fires_on_the_candidate_with_the_baseline_version_as_subject(
    candidate_windows: list[WindowResult],
) -> None:
    rule = next(r for r in DEFAULT_RULES if r.name == "version_rollback")
    values = [observe(rule, r, 1) for r in candidate_windows]
    assert all(len(found) == 1 and found[0].key.subject == "1" for found in values)
    verdicts = [r.comparison.verdict for r in candidate_windows if r.comparison is not None]
    assert [found[0].value for found in values] == [float(v == "rollback") for v in verdicts]
    assert verdicts[0] == "hold" and verdicts[-1] == "rollback"


def engine(store: SqliteStateStore, receiver: WebhookReceiver) -> AlertEngine:
    config = AlertsConfig.model_validate(
        {
            "default_rules": False,
            "versions": [{"model": "m", "url": receiver.url("/versions"), "secret": SECRET.decode()}],
            "delivery": {"backoff_initial": "50ms", "backoff_max": "300ms", "flush_timeout": "5s"},
        }
    )
    return AlertEngine(config, store, {"m": 100})


def test_a_verdict_change_is_delivered_once_signed_with_its_evidence(
    tmp_path: Path, candidate_windows: list[WindowResult]
) -> None:
    receiver = WebhookReceiver(SECRET).start()
    store = SqliteStateStore(tmp_path / "state.db")
    first = engine(store, receiver)
    first.start()
    try:
        for result in candidate_windows[:-2]:
            first.write([result])
        assert receiver.wait_for(lambda r: len(r.received()) >= 1, timeout=10)
        assert receiver.wait_for(lambda _: store.load_records(OUTBOX) == {}, timeout=10)
    finally:
        first.close()
    store = SqliteStateStore(tmp_path / "state.db")
    second = engine(store, receiver)  # a restart: the verdict it last announced is stored
    second.start()
    try:
        second.write(candidate_windows[-2:])  # still rollback: nothing new to announce
        second.write(candidate_windows[:1])  # a verdict back at hold: a change, not in `on`
        assert receiver.wait_for(lambda _: store.load_records(OUTBOX) == {}, timeout=10)
        logged = store.load_records(DELIVERY_LOG)
    finally:
        second.close()
        receiver.stop()
    deliveries = receiver.received("/versions")
    assert len(deliveries) == 1, [d.json["verdict"] for d in deliveries]  # `on` leaves hold out
    delivery = deliveries[0]
    assert delivery.verified is True and delivery.key == delivery.json["idempotency_key"]
    body = delivery.json
    assert (body["type"], body["model"], body["baseline_version"], body["candidate_version"]) == (
        "driftline.version_verdict",
        "m",
        "1",
        "2",
    )
    assert body["verdict"] == "rollback" and "B is worse" in body["reason"]
    evidence = body["evidence"]
    assert evidence["cumulative"]["difference_upper"] < 0 and evidence["mode"] == "canary"
    assert evidence["window"]["n_a"] + evidence["window"]["n_b"] == 1000
    assert len(logged) == 1  # the webhook delivery log, as for retraining


def test_a_rule_limited_to_versions_leaves_the_others_out(candidate_windows: list[WindowResult]) -> None:
    config = AlertsConfig.model_validate(
        {"rules": [{"name": "v1_rollback", "signal": "version_rollback", "threshold": 1, "versions": ["1"]}]}
    )
    only_v1 = next(r for r in config.effective_rules() if r.name == "v1_rollback")
    assert all(observe(only_v1, r, 1) == [] for r in candidate_windows)  # the windows are version 2's
    everyone = only_v1.model_copy(update={"versions": []})
    assert all(len(observe(everyone, r, 1)) == 1 for r in candidate_windows)
