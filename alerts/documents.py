"""What the engine hands out: notification documents, the API snapshot, delivery targets.

A notification document is the JSON every receiver is rendered from (the webhook receives it
as is). Its `id` is the idempotency key: derived from the alert key, the firing episode, the
kind of notice and its number in the episode, so the same notice always gets the same id —
across retries and restarts — and a receiver can drop duplicates by it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson

from alerts.config import AlertsConfig, RuleConfig
from alerts.delivery import Target
from alerts.notifiers import Request, render
from alerts.rules import AlertKey, Observation
from alerts.signing import signed_headers
from alerts.state import AlertState, Notice, Policy

RECENT = 50  # resolved alerts in the snapshot
log = logging.getLogger("driftline.alerts")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def policy_of(rule: RuleConfig, alerts: AlertsConfig) -> Policy:
    windows = rule.for_ if isinstance(rule.for_, int) else 1
    return Policy(
        op=rule.op,
        threshold=rule.threshold,
        resolve_threshold=rule.resolve_threshold,
        for_windows=windows,
        for_duration=None if isinstance(rule.for_, int) else rule.for_,
        repeat_interval=rule.repeat_interval or alerts.repeat_interval,
        cooldown=rule.cooldown if rule.cooldown is not None else alerts.cooldown,
    )


def notice_id(state: AlertState, notice: Notice) -> str:
    text = f"{state.key}|{state.episode}|{notice}|{state.notices}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def summary(rule: RuleConfig, key: AlertKey, value: float | None) -> str:
    template = rule.summary or "{rule} on {model} v{model_version} {feature}: value {value}"
    try:
        return template.format(
            rule=rule.name,
            model=key.model,
            model_version=key.model_version,
            feature=key.subject,
            segment=key.subject,
            baseline_version=key.subject,
            value=value,
        ).strip()
    except (KeyError, ValueError, TypeError, IndexError):
        return f"{rule.name} on {key.model} v{key.model_version} {key.subject}: value {value}".strip()


def notification(
    rule: RuleConfig,
    alerts: AlertsConfig,
    state: AlertState,
    notice: Notice,
    obs: Observation | None,
    now: datetime,
) -> dict[str, Any]:
    key = AlertKey.parse(state.key)
    policy = policy_of(rule, alerts)
    return {
        "type": "driftline.alert",
        "id": notice_id(state, notice),
        "status": "resolved" if notice == "resolved" else "firing",
        "repeat": notice == "repeat",
        "alertname": rule.name,
        "rule": rule.name,
        "signal": rule.signal,
        "severity": rule.severity,
        "labels": dict(rule.labels),
        "model": key.model,
        "model_version": key.model_version,
        "subject": key.subject,
        "value": state.value,
        "op": rule.op,
        "threshold": rule.threshold,
        "resolve_threshold": rule.resolve_threshold,
        "summary": summary(rule, key, state.value),
        "fired_at": _iso(state.fired_at),
        "fired_window_start": _iso(state.fired_window),
        "resolved_at": _iso(state.resolved_at),
        "window_start": _iso(obs.window_start) if obs else None,
        "window_end": _iso(obs.window_end) if obs else None,
        "episode": state.episode,
        "repeat_interval_seconds": policy.repeat_interval.total_seconds(),
        "created_at": _iso(now),
    }


def state_document(state: AlertState, rule: RuleConfig | None) -> dict[str, Any]:
    key = AlertKey.parse(state.key)
    return {
        "key": state.key,
        "rule": key.rule,
        "model": key.model,
        "model_version": key.model_version,
        "subject": key.subject,
        "status": state.status,
        "severity": None if rule is None else rule.severity,
        "summary": None if rule is None else summary(rule, key, state.value),
        "value": state.value,
        "since": _iso(state.since),
        "fired_at": _iso(state.fired_at),
        "fired_window_start": _iso(state.fired_window),
        "resolved_at": _iso(state.resolved_at),
        "episode": state.episode,
        "updated_at": _iso(state.updated_at),
    }


def snapshot_of(
    states: Iterable[AlertState], rules: Mapping[str, RuleConfig]
) -> dict[str, list[dict[str, Any]]]:
    """Firing alerts ("active"), recently resolved ones, newest first ("recent"), and those whose
    condition holds but not yet for long enough ("pending"), as JSON dicts."""
    ordered = sorted(states, key=lambda s: s.key)
    recent = sorted((s for s in ordered if s.resolved_at is not None), key=lambda s: s.resolved_at or 0)
    recent.reverse()

    def documents(chosen: Iterable[AlertState]) -> list[dict[str, Any]]:
        return [state_document(s, rules.get(s.key.split("/", 1)[0])) for s in chosen]

    return {
        "active": documents(s for s in ordered if s.status == "firing"),
        "recent": documents(recent[:RECENT]),
        "pending": documents(s for s in ordered if s.status == "pending"),
    }


def targets(alerts: AlertsConfig) -> dict[str, Target]:
    """Delivery targets by outbox receiver name: every receiver, `retraining:<model>` and
    `version:<model>`."""
    found: dict[str, Target] = {}
    for receiver in alerts.receivers:
        secret = receiver.resolved_secret()
        if receiver.kind == "webhook" and secret is None:
            log.warning("webhook receiver %r has no secret: its requests are not signed", receiver.name)

        def draw(doc: dict[str, Any], key: str, now: datetime, r: Any = receiver, s: Any = secret) -> Any:
            return render(r, s, doc, key, now)

        found[receiver.name] = Target(draw, receiver.timeout.total_seconds())
    for policy in alerts.retraining:
        found[f"retraining:{policy.model}"] = Target(
            signed_render(policy.url, policy.resolved_secret()), policy.timeout.total_seconds()
        )
    for webhook in alerts.versions:
        found[f"version:{webhook.model}"] = Target(
            signed_render(webhook.url, webhook.resolved_secret()), webhook.timeout.total_seconds()
        )
    return found


def signed_render(url: str, secret: bytes | None) -> Any:
    """A webhook request of a retraining trigger or a version verdict: the payload as it is, signed."""

    def draw(doc: dict[str, Any], key: str, now: datetime) -> Request:
        body = orjson.dumps(doc)
        return Request(url, body, signed_headers(secret, int(now.timestamp()), body, key))

    return draw
