"""Receivers: how a notification becomes an HTTP request, and sending it.

- webhook: the notification document as JSON, signed (alerts.signing) when a secret is set;
- slack: an incoming-webhook message ({"text": ...});
- alertmanager: `POST /api/v2/alerts` with one alert, so Alertmanager's routing, grouping,
  inhibition and silences apply. A firing alert carries an `endsAt` three repeat intervals
  ahead (driftline re-sends it every repeat interval, so it stays active while it fires, and
  expires on its own if driftline goes away); a resolved one carries its resolution time;
- log: written to the `driftline.alerts` logger, nothing sent.

`render` is pure (the document, the receiver, the delivery time); `send` does the I/O with the
standard library, so a receiver's answer is (status code, error text).
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from alerts.config import ReceiverConfig
from alerts.signing import IDEMPOTENCY_HEADER, signed_headers

log = logging.getLogger("driftline.alerts")
USER_AGENT = "driftline-alerts/1"


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    status: int | None  # HTTP status, None when no answer came (refused, timeout)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def render(
    receiver: ReceiverConfig, secret: bytes | None, document: dict[str, Any], key: str, now: datetime
) -> Request | None:
    """The request that delivers `document` to `receiver` (None for the log receiver)."""
    if receiver.kind == "log":
        return None
    assert receiver.url is not None  # checked by ReceiverConfig
    if receiver.kind == "slack":
        body = orjson.dumps({"text": slack_text(document)})
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: key}
    elif receiver.kind == "alertmanager":
        body = orjson.dumps([alertmanager_alert(document, now)])
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: key}
        return Request(receiver.url.rstrip("/") + "/api/v2/alerts", body, {**headers, **receiver.headers})
    else:
        body = orjson.dumps(document)
        headers = signed_headers(secret, int(now.timestamp()), body, key)
    return Request(receiver.url, body, {**headers, **receiver.headers})


def slack_text(doc: dict[str, Any]) -> str:
    icon = {"firing": ":rotating_light:", "resolved": ":white_check_mark:"}.get(doc.get("status", ""), "")
    where = f"{doc.get('model')} v{doc.get('model_version')}"
    feature = f" · {doc['subject']}" if doc.get("subject") else ""
    status, severity, rule = doc.get("status", "").upper(), doc.get("severity"), doc.get("rule")
    threshold = f"{doc.get('op')} {doc.get('threshold')}"
    return (
        f"{icon} *{status}* [{severity}] {rule} — {where}{feature}\n"
        f"{doc.get('summary', '')} (value {doc.get('value')}, threshold {threshold})"
    )


def _subject_label(doc: dict[str, Any]) -> str:
    """What an alert's subject is: a segment for drift or quality per segment, else a feature."""
    return (
        "segment"
        if doc.get("signal") in ("segment_drift", "segment_quality", "segment_performance")
        else "feature"
    )


def alertmanager_alert(doc: dict[str, Any], now: datetime) -> dict[str, Any]:
    labels = {
        "alertname": doc["alertname"],
        "severity": doc["severity"],
        "model": doc["model"],
        "model_version": doc["model_version"],
        "source": "driftline",
        **({_subject_label(doc): doc["subject"]} if doc.get("subject") else {}),
        **doc.get("labels", {}),
    }
    if doc["status"] == "resolved":
        ends = doc["resolved_at"]
    else:
        ends = _iso(now + 3 * timedelta(seconds=float(doc.get("repeat_interval_seconds", 14400))))
    return {
        "labels": labels,
        "annotations": {
            "summary": doc.get("summary", ""),
            "value": str(doc.get("value")),
            "threshold": f"{doc.get('op')} {doc.get('threshold')}",
        },
        "startsAt": doc["fired_at"],
        "endsAt": ends,
    }


def send(request: Request | None, timeout: float, document: dict[str, Any] | None = None) -> Answer:
    """Deliver one request; any 2xx is success. Never raises for network trouble."""
    if request is None:
        log.warning("alert %s", orjson.dumps(document or {}).decode())
        return Answer(200)
    http = urllib.request.Request(
        request.url, data=request.body, headers={"User-Agent": USER_AGENT, **request.headers}, method="POST"
    )
    try:
        with urllib.request.urlopen(http, timeout=timeout) as response:
            response.read()
            return Answer(int(response.status))
    except urllib.error.HTTPError as err:
        detail = err.read()[:200].decode("utf-8", "replace")
        return Answer(err.code, f"HTTP {err.code}: {detail}".strip())
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        return Answer(None, f"{type(err).__name__}: {reason}")
