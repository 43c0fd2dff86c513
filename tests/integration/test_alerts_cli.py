"""`driftline alerts test`: one sample notification per receiver, each one's answer reported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.receiver import WebhookReceiver
from tests.conftest import find_free_port
from tests.integration.alertmanager_fixtures import AlertmanagerFactory

pytestmark = pytest.mark.integration
MODEL = {"name": "churn", "task": "classification", "features": [{"name": "age", "kind": "numeric"}]}


def _run(tmp_path: Path, receivers: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "driftline.yaml"
    path.write_text(yaml.safe_dump({"models": [MODEL], "alerts": {"receivers": receivers}}))
    command = [sys.executable, "-m", "monitor.cli", "alerts", "test", "--config", str(path)]
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


def test_reports_each_receivers_answer_and_fails_if_any_failed(
    tmp_path: Path, alertmanager_server: AlertmanagerFactory
) -> None:
    am = alertmanager_server({"route": {"receiver": "null"}, "receivers": [{"name": "null"}]})
    receiver = WebhookReceiver(b"cli-secret").start()
    slack_server = WebhookReceiver().start()  # Slack's incoming webhooks are not signed
    try:
        good = [
            {"name": "hook", "kind": "webhook", "url": receiver.url("/hook"), "secret": "cli-secret"},
            {"name": "am", "kind": "alertmanager", "url": am.url},
            {"name": "chat", "kind": "slack", "url": slack_server.url("/slack")},
            {"name": "logged", "kind": "log"},
        ]
        done = _run(tmp_path, good)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.count(" 200 ") == 4 and done.stdout.count(" ok ") == 4, done.stdout
        [delivery] = receiver.received("/hook")
        assert delivery.verified and delivery.json["test"] is True
        assert [a["labels"]["alertname"] for a in am.alerts()] == ["driftline_test"]
        [slack] = slack_server.received("/slack")
        assert "driftline_test" in slack.json["text"]

        down = {"name": "down", "kind": "webhook", "url": f"http://127.0.0.1:{find_free_port()}/x"}
        done = _run(tmp_path, [*good, down])
        assert done.returncode == 1
        assert "Connection refused" in done.stdout and "1 of 5 receivers failed" in done.stderr
    finally:
        receiver.stop()
        slack_server.stop()


def test_a_config_without_receivers_says_so(tmp_path: Path) -> None:
    done = _run(tmp_path, [])
    assert done.returncode == 1 and "no receivers under alerts.receivers" in done.stderr
