"""Retraining webhooks: when a firing alert triggers a model's retraining, and with what evidence.

`allow` is the pure policy check (which rules, minimum interval, maximum per 24 hours) over the
trigger history, which the engine persists with the alert state. `payload` is what the
retraining endpoint receives: model, version, reason, the evidence from the window that fired
(drifted features with their statistics, performance against the reference, window range,
baseline id — all from `window_document`) and the idempotency key, which the endpoint should
use to ignore a delivery it has already acted on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson

from alerts.config import RetrainingPolicy

TRIGGERS = "alerts.retraining"  # record namespace: model -> trigger times (JSON list)
DAY = timedelta(days=1)


def allow(policy: RetrainingPolicy, rule: str, history: Sequence[datetime], now: datetime) -> bool:
    if rule not in policy.on:
        return False
    if history and now - max(history) < policy.min_interval:
        return False
    return sum(1 for t in history if now - t < DAY) < policy.max_per_day


def prune(history: Sequence[datetime], now: datetime) -> list[datetime]:
    """Triggers that still matter to `allow` (the last day, and the most recent one)."""
    kept = sorted(t for t in history if now - t < DAY)
    if history and not kept:
        kept = [max(history)]
    return kept


def encode_history(history: Sequence[datetime]) -> bytes:
    return orjson.dumps([t.isoformat() for t in history])


def decode_history(raw: bytes | None) -> list[datetime]:
    return [] if raw is None else [datetime.fromisoformat(t) for t in orjson.loads(raw)]


def trigger_key(model: str, version: str, alert_key: str, episode: int) -> str:
    return hashlib.sha256(f"retrain|{model}|{version}|{alert_key}|{episode}".encode()).hexdigest()[:32]


def payload(
    notification: dict[str, Any],
    window: dict[str, Any] | None,
    key: str,
    now: datetime,
    episode: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The retraining request: `notification` is the firing alert, `window` the window_document of
    the result that made it fire (None for signals without a window, such as staleness), `episode`
    the concept-drift episode (result_json.episode_document) that made the concept signal fire."""
    evidence: dict[str, Any] = {"alert": {k: notification.get(k) for k in ("rule", "subject", "value")}}
    if window is not None:
        drift = window["drift"]
        evidence.update(
            baseline_id=drift["baseline_id"],
            window_start=window["window_start"],
            window_end=window["window_end"],
            n_rows=drift["n_rows"],
            drift_share=drift["drift_share"],
            drifted_features=[f for f in drift["features"] if f["drift_detected"]],
            performance=window["performance"],
            concept_drift=window["concept_drift"],
        )
    if episode is not None:
        evidence["concept_drift_episode"] = episode
    return {
        "type": "driftline.retraining",
        "idempotency_key": key,
        "model": notification["model"],
        "model_version": notification["model_version"],
        "reason": f"{notification['rule']}: {notification.get('summary', '')}".strip(),
        "triggered_at": now.isoformat().replace("+00:00", "Z"),
        "evidence": evidence,
    }
