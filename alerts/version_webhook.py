"""Version-comparison webhooks: a signed POST when a candidate version's verdict changes (to
`rollback` or `promote`, or as a webhook's `on` says), so a deployment can act on it.

The engine keeps the last verdict it announced per comparison (`VERDICTS` record namespace, key
`<model>/<baseline>/<candidate>`), written in the same transaction as the outbox entry, so a
verdict change is announced once, across restarts; a comparison starts at `hold`, so a candidate
that stays on hold sends nothing. The idempotency key names the comparison, the verdict and when it
changed: the receiver can drop a delivery it has already acted on. The payload carries the evidence
(the comparison section of the window's document: the verdict's cumulative sums and confidence
bounds, that window's own evidence, the prediction drift).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

VERDICTS = "alerts.verdicts"  # record namespace: comparison -> the verdict last announced


def comparison_key(model: str, baseline: str, candidate: str) -> str:
    return f"{model}/{baseline}/{candidate}"


def verdict_key(comparison: str, verdict: str, since: str) -> str:
    return hashlib.sha256(f"verdict|{comparison}|{verdict}|{since}".encode()).hexdigest()[:32]


def payload(window: dict[str, Any], key: str, now: datetime) -> dict[str, Any]:
    """The request body: `window` is the window_document of the candidate window whose evaluation
    showed the new verdict."""
    comparison = window["comparison"]
    return {
        "type": "driftline.version_verdict",
        "idempotency_key": key,
        "model": window["model"],
        "baseline_version": comparison["baseline_version"],
        "candidate_version": comparison["candidate_version"],
        "verdict": comparison["verdict"],
        "verdict_since": comparison["verdict_since"],
        "verdict_window_start": comparison["verdict_window_start"],
        "reason": comparison["cumulative"]["reason"],
        "sent_at": now.isoformat().replace("+00:00", "Z"),
        "evidence": {
            "mode": comparison["mode"],
            "comparison_since": comparison["since"],
            "cumulative": comparison["cumulative"],
            "window_start": window["window_start"],
            "window_end": window["window_end"],
            "window": comparison["window"],
            "prediction_drift": comparison["prediction_drift"],
        },
    }
