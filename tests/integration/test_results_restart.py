"""Evaluated windows survive a restart: a real `driftline run` follows a directory until its
windows are evaluated, is stopped (SIGTERM) and started again, and its API lists every window
with the same content, its /metrics shows the same results, and reports still render. For a
classifier with scores and a regressor.

The outcome TTL is short, so the older windows become final before the stop: final windows leave
the checkpoints, so only the stored results can bring them back (before, the API lost them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import find_free_port
from tests.unit import results_world as world
from tests.unit.api.test_reports import evidently_verdicts

pytestmark = pytest.mark.integration
HOURS, ROWS, TTL_H = 8, 200, 3
LATENESS_S = 60  # the world's allowed_lateness
WAIT_S = 120  # generous: two cores shared with other work; a wait, not a timing assertion


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as response:
        body = response.read()
    return json.loads(body) if response.headers.get_content_type() == "application/json" else body.decode()


def expected_finals(lines: list[bytes]) -> dict[str, list[bool]]:
    """Which windows the outcome TTL has made final once every line is read: those whose end plus
    the TTL and the allowed lateness the newest outcome of their model has passed (the join's
    outcome watermark, monitor.pipeline.join)."""
    newest: dict[str, float] = {}
    for line in lines:
        message = orjson.loads(line)
        if "outcome" in message:
            newest[message["model"]] = max(newest.get(message["model"], 0.0), message["timestamp"])
    return {
        model: [
            world.START_S + (h + 1 + TTL_H) * world.HOUR_S + LATENESS_S <= newest[model]
            for h in range(HOURS - 1)
        ]
        for model in world.MODELS
    }


def windows_of(base: str) -> dict[str, list[dict[str, Any]]]:
    return {m: get(f"{base}/api/v1/models/{m}/windows?limit=1000")["windows"] for m in world.MODELS}


def settled(base: str, finals: dict[str, list[bool]]) -> dict[str, list[dict[str, Any]]] | None:
    """The windows once everything is evaluated, None before: every closed hour, with the final
    flags the TTL gives (set by the last predictions, read after every earlier outcome) and all
    outcomes joined in the windows that are not final. (A final window may have fewer pairs: read
    in one batch with the newer predictions, its outcomes come after the TTL has expired it.)"""
    try:
        found = windows_of(base)
    except (OSError, urllib.error.URLError):
        return None
    for model, windows in found.items():
        if [w["final"] for w in windows] != finals[model]:
            return None
        if any(w["performance"]["n_pairs"] != ROWS for w in windows if not w["final"]):
            return None
    return found


def result_metrics(base: str) -> list[str]:
    """The /metrics samples, but the time of the latest evaluation (a restart re-evaluates the
    windows that are not final, as it should)."""
    text = get(f"{base}/metrics")
    return sorted(
        line
        for line in text.splitlines()
        if line
        and not line.startswith("#")
        and not line.startswith("driftline_last_evaluation_timestamp_seconds")
    )


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def stop(process: subprocess.Popen[bytes], log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log.read_text()[-3000:]


def test_every_evaluated_window_is_back_in_the_api_after_a_restart(tmp_path: Path) -> None:
    port = find_free_port()
    base = f"http://127.0.0.1:{port}"
    (tmp_path / "in").mkdir()
    config = world.write_config(
        tmp_path,
        model={"outcome_ttl": f"{TTL_H}h"},
        sources={
            "inputs": [{"kind": "directory", "path": "in"}],  # followed: the service keeps running
            "dead_letters": "dead.jsonl",
            "poll_interval": "50ms",
            "checkpoint_interval": "100ms",
        },
        api={"port": port, "report_windows": 4},
        evaluation={"interval": "200ms"},
    )
    lines = world.event_lines(HOURS, ROWS, drift_from=4)
    finals = expected_finals(lines)
    assert {tuple(f) for f in finals.values()} == {(True,) * 5 + (False,) * 2}  # both kinds of window
    log = tmp_path / "driftline.log"

    first = start(config, log)
    try:
        (tmp_path / "in" / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")
        deadline = time.monotonic() + WAIT_S
        before = settled(base, finals)
        while before is None and time.monotonic() < deadline:
            assert first.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
            before = settled(base, finals)
        if before is None:
            shown = {
                m: [(w["final"], w["performance"]["n_pairs"]) for w in ws]
                for m, ws in windows_of(base).items()
            }
            raise AssertionError(
                f"the windows did not settle: expected finals {finals} with {ROWS} pairs where not "
                f"final; (final, pairs) found: {shown}\n{log.read_text()[-3000:]}"
            )
        one = {
            m: [get(f"{base}/api/v1/models/{m}/windows/{w['window_id']}") for w in before[m]]
            for m in world.MODELS
        }
        metrics = result_metrics(base)
        stop(first, log)
    finally:
        if first.poll() is None:
            first.kill()

    second = start(config, log)
    try:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            assert second.poll() is None, log.read_text()[-3000:]
            try:
                if get(f"{base}/readyz")["ready"]:
                    break
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        after = windows_of(base)
        for model in world.MODELS:
            assert [w["window_id"] for w in after[model]] == [w["window_id"] for w in before[model]]
            for old, new in zip(before[model], after[model], strict=True):
                if old["final"]:  # evaluated for the last time before the stop: back as stored
                    assert new == old
                else:  # still in the checkpoint: evaluated again after the restart, to the same result
                    assert {**new, "evaluated_at": None} == {**old, "evaluated_at": None}
            again = [get(f"{base}/api/v1/models/{model}/windows/{w['window_id']}") for w in after[model]]
            assert [{**d, "evaluated_at": None} for d in again] == [
                {**d, "evaluated_at": None} for d in one[model]
            ]
            newest = after[model][-1]["window_id"]
            page = get(f"{base}/api/v1/models/{model}/windows/{newest}/report?version=1")
            assert evidently_verdicts(page)[world.DRIFTED[model]] is True
        assert result_metrics(base) == metrics
        assert "evaluated windows loaded from the store" in log.read_text()
        stop(second, log)
    finally:
        if second.poll() is None:
            second.kill()
