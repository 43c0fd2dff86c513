"""Rule validation messages, the default rule set, signatures, backoff and request rendering."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from alerts.config import DEFAULT_RULES, AlertsConfig, ReceiverConfig
from alerts.notifiers import render
from alerts.outbox import backoff, overflow
from alerts.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature, verify_signature
from monitor.config import parse_config
from monitor.errors import ConfigError

MODEL = {"name": "churn", "task": "classification", "features": [{"name": "age", "kind": "numeric"}]}
NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


def parse(alerts: dict[str, Any]) -> AlertsConfig:
    return parse_config({"models": [MODEL], "alerts": alerts}).alerts


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"signal": "drift_share", "threshold": 0.5, "resolve_threshold": 0.7},
            "rule 'bad': resolve_threshold",
        ),
        ({"signal": "feature_drift", "threshold": 1, "for": 0}, "rule 'bad': `for` must be at least 1"),
        ({"signal": "performance_drop", "threshold": 1, "metric": "speed"}, "rule 'bad': unknown metric"),
        ({"signal": "drift_share", "threshold": 1, "features": ["age"]}, "rule 'bad': `features` only"),
        ({"signal": "drift_share", "threshold": 1, "receivers": ["nobody"]}, "rule 'bad': unknown receivers"),
        ({"signal": "drift_share", "threshold": 1, "treshold": 2}, "alerts.rules.0.treshold: unknown key"),
        ({"signal": "drifts", "threshold": 1}, "alerts.rules.0.signal"),
    ],
)
def test_bad_rules_fail_at_start_up_naming_the_rule(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match="invalid") as err:
        parse({"rules": [{"name": "bad", **rule}]})
    assert message in str(err.value)


def test_retraining_must_name_existing_rules() -> None:
    policy = {"model": "churn", "url": "http://x/retrain", "on": ["feature_drift", "nope"]}
    with pytest.raises(ConfigError, match=r"retraining policy of model 'churn': unknown rules \['nope'\]"):
        parse({"retraining": [policy]})


def test_defaults_apply_and_a_user_rule_replaces_the_default_of_its_name() -> None:
    alerts = parse(
        {
            "rules": [
                {
                    "name": "feature_drift",
                    "signal": "feature_drift",
                    "threshold": 0.2,
                    "statistic": "psi",
                    "for": "2h",
                }
            ]
        }
    )
    rules = {r.name: r for r in alerts.effective_rules()}
    assert set(rules) == {r.name for r in DEFAULT_RULES}
    assert rules["feature_drift"].statistic == "psi" and rules["feature_drift"].for_ == timedelta(hours=2)
    assert rules["no_data"].threshold == 7200.0  # '2h' as seconds
    assert parse({"default_rules": False, "rules": []}).effective_rules() == []


def test_signature_verifies_and_rejects_tampering_and_replay() -> None:
    body, ts = b'{"a":1}', int(NOW.timestamp())
    sig = signature(b"k", ts, body)
    assert verify_signature(b"k", str(ts), body, sig, now=ts + 10)
    assert not verify_signature(b"k", str(ts), body + b" ", sig, now=ts)
    assert not verify_signature(b"other", str(ts), body, sig, now=ts)
    assert not verify_signature(b"k", str(ts + 1), body, sig, now=ts)  # timestamp is signed
    assert not verify_signature(b"k", str(ts), body, sig, now=ts + 301)  # too old: a replay
    assert not verify_signature(b"k", None, body, sig, now=ts)


def test_backoff_grows_exponentially_with_jitter_up_to_the_ceiling() -> None:
    rng = random.Random(1)
    delays = [
        backoff(n, timedelta(seconds=1), timedelta(seconds=60), rng).total_seconds() for n in range(1, 10)
    ]
    for n, delay in enumerate(delays, start=1):
        base = min(60, 2 ** (n - 1))
        assert base / 2 <= delay <= base
    assert len(set(delays)) == len(delays)


def test_overflow_drops_the_oldest() -> None:
    assert overflow(["003", "001", "002"], 2) == [("alerts.outbox", "001")]
    assert overflow(["1"], 2) == []


DOC = {
    "id": "abc",
    "status": "firing",
    "alertname": "feature_drift",
    "rule": "feature_drift",
    "severity": "warning",
    "model": "churn",
    "model_version": "1",
    "subject": "spend",
    "labels": {"team": "ml"},
    "value": 1.0,
    "op": ">=",
    "threshold": 1.0,
    "summary": "spend drifted",
    "fired_at": "2026-01-05T11:00:00Z",
    "resolved_at": None,
    "repeat_interval_seconds": 3600.0,
}


def test_webhook_requests_are_signed_over_timestamp_and_body() -> None:
    receiver = ReceiverConfig(name="ops", kind="webhook", url="http://127.0.0.1:1/h")
    request = render(receiver, b"s3cret", DOC, "abc", NOW)
    assert request is not None and orjson.loads(request.body) == DOC
    assert request.headers["Idempotency-Key"] == "abc"
    ts = request.headers[TIMESTAMP_HEADER]
    assert verify_signature(b"s3cret", ts, request.body, request.headers[SIGNATURE_HEADER], NOW.timestamp())


def test_alertmanager_request_has_labels_and_times() -> None:
    receiver = ReceiverConfig(name="am", kind="alertmanager", url="http://127.0.0.1:9093/")
    request = render(receiver, None, DOC, "abc", NOW)
    assert request is not None and request.url == "http://127.0.0.1:9093/api/v2/alerts"
    [alert] = orjson.loads(request.body)
    assert alert["labels"] == {
        "alertname": "feature_drift",
        "severity": "warning",
        "model": "churn",
        "model_version": "1",
        "source": "driftline",
        "feature": "spend",
        "team": "ml",
    }
    assert alert["startsAt"] == "2026-01-05T11:00:00Z" and alert["endsAt"] == "2026-01-05T15:00:00Z"
    resolved = render(
        receiver, None, {**DOC, "status": "resolved", "resolved_at": "2026-01-05T12:30:00Z"}, "x", NOW
    )
    assert resolved is not None and orjson.loads(resolved.body)[0]["endsAt"] == "2026-01-05T12:30:00Z"


def test_slack_and_log_receivers() -> None:
    slack = render(
        ReceiverConfig(name="s", kind="slack", url="https://hooks.example/x"), None, DOC, "abc", NOW
    )
    assert slack is not None and "FIRING" in orjson.loads(slack.body)["text"]
    assert render(ReceiverConfig(name="l", kind="log"), None, DOC, "abc", NOW) is None


def test_an_estimated_drop_rule_names_a_metric_that_is_estimated() -> None:
    rule = {"name": "est", "signal": "estimated_performance_drop", "metric": "log_loss", "threshold": 0.1}
    with pytest.raises(ValueError, match="'log_loss' is not estimated without outcomes"):
        AlertsConfig.model_validate({"rules": [rule]})
    AlertsConfig.model_validate({"rules": [rule | {"metric": "roc_auc"}]})
