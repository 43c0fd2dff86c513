"""`driftline run` kept alive by the messages that used to stop it (a real process on a followed
directory): a huge finite feature, both float extremes in one window, a prediction dated 2199 and
infinities in strings, for a classifier with scores and a regressor. It is killed (-9) after it
took them, before any checkpoint, so the restart replays them from the start: the crash loop of
the issue. It stays up, counts each message once per run, and its HTTP API answers 4xx for them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import orjson
import pytest
import yaml

from monitor.baselines.store import BaselineStore
from tests.conftest import find_free_port
from tests.unit import poison_world as world

pytestmark = pytest.mark.integration
KEY = "poison-test-key"


def _config(folder: Path, port: int) -> Path:
    cfg = world.config()
    store = BaselineStore(folder / "baselines")
    for baseline in world.baselines(cfg).values():
        store.save(baseline)
    data = cfg.model_dump(mode="json")
    data["baselines"]["path"] = "baselines"
    data["sources"] = {
        "inputs": [{"kind": "directory", "path": "in", "topic": "mixed"}],
        "dead_letters": "dead.jsonl",
        "poll_interval": "50ms",
        "batch_size": 2,  # 1e200 comes alone, after the rows of its window: it raised OverflowError
        "checkpoint_interval": "1h",  # no checkpoint before the kill: the restart replays everything
    }
    data["api"] = {"port": port}
    data["evaluation"] = {"interval": "200ms"}
    data["state"] = {}
    path = folder / "driftline.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _traffic(hours: range, seed: int, prefix: str = "") -> list[bytes]:
    rng = np.random.default_rng(seed)
    lines: list[bytes] = []
    for hour in hours:
        for model in world.MODELS:
            predictions, outcomes = world.messages(model, hour, 200, rng, prefix)
            lines += predictions + outcomes
    return lines


def _poison(hour: int) -> list[bytes]:
    """Each model's 1e200 first (one batch of two), then the others."""
    kinds = [world.poison(model, hour) for model in world.MODELS]
    return [k.pop("huge") for k in kinds] + [m for k in kinds for m in k.values()]


def _metrics(port: int) -> str:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return ""


def _counted(port: int) -> dict[str, float]:
    """The counters this test follows, from /metrics."""
    wanted = {
        "predictions": "driftline_predictions_total{",
        "outcomes": "driftline_outcomes_total{",
        "value_out_of_range": 'driftline_rejected_messages_total{reason="value_out_of_range"',
        "future_timestamp": 'driftline_rejected_messages_total{reason="future_timestamp"',
        "wrong_type": 'driftline_rejected_messages_total{reason="wrong_type"',
        "internal_error": 'driftline_rejected_messages_total{reason="internal_error"',
    }
    totals = dict.fromkeys(wanted, 0.0)
    for line in _metrics(port).splitlines():
        for name, prefix in wanted.items():
            if line.startswith(prefix):
                totals[name] += float(line.rsplit(" ", 1)[1])
    return totals


def _wait_for(process: subprocess.Popen[str], port: int, expected: dict[str, float]) -> dict[str, float]:
    deadline = time.monotonic() + 90
    counted: dict[str, float] = {}
    while time.monotonic() < deadline:
        assert process.poll() is None, "driftline run exited"
        counted = _counted(port)
        if all(counted[k] == v for k, v in expected.items()):
            return counted
        time.sleep(0.2)
    raise AssertionError(f"counters {counted}, expected {expected}")


def _post(port: int, messages: list[bytes]) -> tuple[int, dict]:
    body = b'{"messages": [' + b",".join(messages) + b"]}"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/events",
        data=body,
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())


def test_poison_messages_neither_stop_run_nor_its_restart(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    port = find_free_port()
    config = _config(tmp_path, port)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DRIFTLINE_API_KEY": KEY}
    command = [sys.executable, "-m", "monitor.cli", "run", "--config", str(config)]
    events = tmp_path / "in" / "events.jsonl"
    # Normal hours, then every poison message (1e200 and the +-1e308 pair land in hour 1, which
    # already holds rows), then the hours after the year-2199 prediction.
    lines = _traffic(range(0, 2), seed=1) + _poison(1) + _traffic(range(2, 4), seed=2)
    events.write_bytes(b"\n".join(lines) + b"\n")
    expected = {
        "predictions": 2 * 4 * 200.0,
        "outcomes": 2 * 4 * 200.0,
        "value_out_of_range": 6.0,  # 1e200, 1e308 and -1e308, for both models
        "future_timestamp": 2.0,
        "wrong_type": 2.0,  # "Infinity" in a string for a numeric feature
        "internal_error": 0.0,
    }

    with (tmp_path / "first.log").open("w") as log:
        first = subprocess.Popen(command, stderr=log, text=True, env=env)
        try:
            _wait_for(first, port, expected)
            first.send_signal(signal.SIGKILL)  # a crash before any checkpoint: the restart replays all
            first.wait(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()

    with (tmp_path / "second.log").open("w") as log:
        second = subprocess.Popen(command, stderr=log, text=True, env=env)
        try:
            _wait_for(second, port, expected)  # the replay: the same messages, the same counts, still up
            # Through the HTTP API too: 422 for each poison message alone, never 500 ...
            for message in _poison(2):
                status, answer = _post(port, [message])
                assert status == 422, answer
                assert answer["rejected"] == 1 and answer["rejects"][0]["reason"] == _reason(message)
            # ... and 200 for a batch with good messages, listing the poison one.
            good = _traffic(range(3, 4), seed=9, prefix="api-")[:3]
            status, answer = _post(port, [*good, _poison(3)[0]])
            assert status == 200 and (answer["accepted"], answer["rejected"]) == (3, 1)
            # More poison and traffic after the restart, appended to the followed file.
            with events.open("ab") as out:
                out.write(b"\n".join(_poison(4) + _traffic(range(4, 6), seed=3)) + b"\n")
            after = {
                "predictions": 2 * 6 * 200.0 + 3,
                "outcomes": 2 * 6 * 200.0,
                "value_out_of_range": 6.0 + 6 + 1 + 6,  # file, API one by one, API batch, file again
                "future_timestamp": 2.0 + 2 + 2,
                "wrong_type": 2.0 + 2 + 2,
                "internal_error": 0.0,
            }
            _wait_for(second, port, after)
            assert "driftline_late_predictions_total" not in _metrics(port)  # the 2199 ones moved nothing
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=60)
        finally:
            if second.poll() is None:
                second.kill()
    stderr = (tmp_path / "second.log").read_text()
    assert second.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "resumed from the checkpoint" not in stderr  # it replayed the poison from the start
    # Hour 5 of each model is still open when a followed source stops: 10 windows, none failed.
    assert "2,403 predictions, 2,400 outcomes, 2,400 joined, 31 rejected, 10 windows evaluated" in stderr


def _reason(message: bytes) -> str:
    if b"2199" in message:
        return "future_timestamp"
    return "wrong_type" if b'"Infinity"' in message else "value_out_of_range"
