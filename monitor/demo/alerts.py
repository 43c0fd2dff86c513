"""The demo's alerting: a local signed-webhook receiver, the config that points alerts and the
churn model's retraining webhook at it, and the lines the demo's summary prints about them.

Kept here so monitor/demo/run.py only wires it in: the demo shows the injected feature drift firing
a drift alert and exactly one retraining webhook, delivered through the real engine, outbox and
delivery thread to a real HTTP server that checks every signature.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from alerts.defaults import DEFAULT_RULE_SPECS
from alerts.receiver import WebhookReceiver

STATE_FOLDER = "alerts-state"  # a RocksDB store, the default kind
FEATURE_DRIFT = next(spec for spec in DEFAULT_RULE_SPECS if spec["name"] == "feature_drift")


class DemoAlerts:
    def __init__(self, workdir: Path, model: str) -> None:
        # A fresh alert state per run: alerts that fired in a previous run in this folder would
        # otherwise still be firing, and fire nothing new.
        shutil.rmtree(workdir / STATE_FOLDER, ignore_errors=True)
        self.model = model
        self.secret = secrets.token_hex(16)
        self.receiver = WebhookReceiver(self.secret.encode()).start()
        self.snapshot: dict[str, list[dict[str, Any]]] = {"active": [], "recent": []}

    def config(self) -> dict[str, Any]:
        """Top-level config keys to add to the demo's config."""
        return {
            "state": {"url": f"rocksdb:///{STATE_FOLDER}"},
            "alerts": {
                # The default drift rule for version 1 only: the canary's own (smaller) windows
                # must not trigger the retraining of the model the demo is about.
                "rules": [{**FEATURE_DRIFT, "versions": ["1"]}],
                "receivers": [
                    {
                        "name": "demo-webhook",
                        "kind": "webhook",
                        "url": self.receiver.url("/alerts"),
                        "secret": self.secret,
                    }
                ],
                "retraining": [
                    {
                        "model": self.model,
                        "url": self.receiver.url("/retrain"),
                        "on": ["feature_drift"],
                        "min_interval": "24h",
                        "max_per_day": 1,
                        "secret": self.secret,
                    }
                ],
                # The canary's verdicts (rollback, promote) against version 1, once per change.
                "versions": [
                    {"model": self.model, "url": self.receiver.url("/versions"), "secret": self.secret}
                ],
                "delivery": {"backoff_initial": "200ms", "backoff_max": "2s", "flush_timeout": "10s"},
            },
        }

    def first_fired(self, rule: str, window_of: Callable[[datetime], int]) -> tuple[int | None, list[str]]:
        """The first window where `rule` fired, and the subjects (features) that fired there."""
        fired = [
            (window_of(datetime.fromisoformat(a["fired_window_start"].replace("Z", "+00:00"))), a["subject"])
            for a in self.snapshot["active"] + self.snapshot["recent"]
            if a["rule"] == rule and a["fired_window_start"]
        ]
        if not fired:
            return None, []
        first = min(w for w, _ in fired)
        return first, sorted(s for w, s in fired if w == first)

    def summary(self, window_of: Callable[[datetime], int], expected_window: int) -> tuple[list[str], bool]:
        """Lines for the demo's summary, and whether alerting went as it should."""
        window, features = self.first_fired("feature_drift", window_of)
        alerts = self.receiver.received("/alerts")
        retrains = self.receiver.received("/retrain")
        verified = all(d.verified for d in alerts + retrains)
        lines = [
            "drift alert: "
            + (
                "[red]did not fire[/]"
                if window is None
                else f"feature_drift fired at window {window} ({', '.join(features)})"
            )
            + f"; {len(alerts)} alert notifications delivered to {self.receiver.url('/alerts')}"
            + (", signatures verified" if verified else " [red](bad signatures)[/]")
        ]
        if len(retrains) == 1:
            body = retrains[0].json
            drifted = ", ".join(f["column"] for f in body["evidence"].get("drifted_features", []))
            lines.append(
                f"retraining webhook delivered once: model {body['model']} v{body['model_version']}, "
                f"reason {body['reason']!r}, drifted features {drifted or '-'}"
            )
        else:
            lines.append(f"[red]retraining webhook delivered {len(retrains)} times (expected once)[/]")
        verdicts = self.receiver.received("/versions")
        for delivery in verdicts:
            body = delivery.json
            at = body["verdict_window_start"]
            where = (
                ""
                if at is None
                else f" at window {window_of(datetime.fromisoformat(at.replace('Z', '+00:00')))}"
            )
            lines.append(
                f"version webhook: {body['model']} v{body['candidate_version']} {body['verdict']}{where} "
                f"against v{body['baseline_version']} ({body['reason']})"
                + ("" if delivery.verified else " [red](bad signature)[/]")
            )
        ok = window == expected_window and len(retrains) == 1 and verified
        ok = ok and all(d.verified for d in verdicts)
        return lines, ok

    def close(self) -> None:
        self.receiver.stop()
