"""`driftline run` as a user runs it: a real process, files in, /metrics out, clean stop."""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import yaml

from monitor.baselines.store import BaselineStore
from monitor.errors import DriftlineError
from monitor.state.factory import open_state_store
from tests.conftest import find_free_port
from tests.unit import stream_world as world

pytestmark = pytest.mark.integration
H = world.HOUR_MS


def _write_inputs(folder: Path, windows: int, n: int) -> None:
    rng = np.random.default_rng(0)
    lines = []
    for i in range(windows):
        predictions, outcomes = world.messages(i, n, rng, outcome_delay_s=60)
        for (_, prediction), (_, outcome) in zip(predictions, outcomes, strict=True):
            lines += [prediction, outcome]
    (folder / "events-000.jsonl").write_bytes(b"\n".join(lines) + b"\n" + b"{broken\n")


def _config(tmp_path: Path, inputs: list[dict], port: int, **sources: object) -> Path:
    cfg = world.config()
    BaselineStore(tmp_path / "baselines").save(world.baseline(cfg))
    data = cfg.model_dump(mode="json")
    data["baselines"]["path"] = "baselines"
    data["sources"] = {"inputs": inputs, "dead_letters": "dead.jsonl", "poll_interval": "50ms", **sources}
    data["api"] = {"port": port}
    data["evaluation"] = {"interval": "200ms"}
    data["state"] = {}
    path = tmp_path / "driftline.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _driftline(*args: str) -> list[str]:
    return [sys.executable, "-m", "monitor.cli", *args]


def test_run_reads_files_to_the_end_and_reports(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    _write_inputs(tmp_path / "in", windows=3, n=300)
    config = _config(tmp_path, [{"kind": "file", "path": "in/events-000.jsonl"}], find_free_port())
    done = subprocess.run(
        _driftline("run", "--config", str(config)), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "900 predictions, 900 outcomes, 900 joined, 1 rejected, 3 windows evaluated" in done.stderr
    dead = [orjson.loads(line) for line in (tmp_path / "dead.jsonl").read_bytes().splitlines()]
    assert [d["reason"] for d in dead] == ["invalid_json"]


def test_run_follows_a_directory_serves_metrics_and_stops_on_sigterm(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    port = find_free_port()
    config = _config(tmp_path, [{"kind": "directory", "path": "in"}], port)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        _driftline("run", "--config", str(config)), stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        _write_inputs(tmp_path / "in", windows=3, n=200)  # appears after start: followed
        deadline = time.monotonic() + 60
        body = ""
        while time.monotonic() < deadline:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                body = ""
            drift = 'driftline_feature_wasserstein_normed{feature="x1",model="m",model_version="1"}'
            if 'driftline_predictions_total{model="m",model_version="1"} 600.0' in body and drift in body:
                break
            time.sleep(0.2)
        assert 'driftline_predictions_total{model="m",model_version="1"} 600.0' in body
        assert 'driftline_feature_wasserstein_normed{feature="x1",model="m",model_version="1"}' in body
    finally:
        stderr = _stop(process)
    assert "finishing the current batch" in stderr and "600 predictions" in stderr


def test_run_refuses_a_bad_config_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "models: [{name: m, task: classification, features: [{name: x, kind: numeric}]}]\nsourcez: {}\n"
    )
    done = subprocess.run(
        _driftline("run", "--config", str(path)), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "sourcez: unknown key" in done.stderr and "Traceback" not in done.stderr


def test_kill_9_then_restart_counts_every_line_once(tmp_path: Path) -> None:
    """Embedded sources checkpoint state and file offsets together: a crash loses nothing and a
    restart counts nothing twice."""
    (tmp_path / "in").mkdir()
    _write_inputs(tmp_path / "in", windows=6, n=8000)  # 96,001 lines
    port = find_free_port()
    config = _config(
        tmp_path,
        [{"kind": "file", "path": "in/events-000.jsonl"}],
        port,
        batch_size=2000,
        checkpoint_interval="100ms",
    )
    store_path = tmp_path / "driftline-state"  # the default store: RocksDB, read-only beside the run

    process = subprocess.Popen(_driftline("run", "--config", str(config)), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    covered = 0
    while time.monotonic() < deadline and covered < 3_000_000:  # bytes of the file, about a third
        time.sleep(0.05)
        if (store_path / "CURRENT").exists():
            try:  # a read beside the running service may fail now and then: poll again
                store = open_state_store(f"rocksdb:///{store_path}", read_only=True)
                try:
                    stored = store.load("embedded", [0]).get(0)
                finally:
                    store.close()
            except DriftlineError:
                continue
            covered = sum(stored.offsets.values()) if stored else 0
        assert process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    store = open_state_store(f"rocksdb:///{store_path}")
    covered = sum(store.load("embedded", [0])[0].offsets.values())  # the last checkpoint before the kill
    store.close()
    assert 0 < covered < (tmp_path / "in" / "events-000.jsonl").stat().st_size

    done = subprocess.run(
        _driftline("run", "--config", str(config)), capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    assert f"resumed from the checkpoint: {covered} bytes of input already counted" in done.stderr
    assert (
        "48,000 predictions, 48,000 outcomes, 48,000 joined, 1 rejected, 6 windows evaluated" in done.stderr
    )


def test_run_starts_without_a_baseline_and_takes_one_uploaded_through_the_api(tmp_path: Path) -> None:
    """The path of the compose stack with one's own model: the service starts before any baseline
    exists (not ready, predictions dead-lettered as unknown_version), a baseline uploaded over the
    API makes it ready, and the predictions that follow are monitored."""
    (tmp_path / "in").mkdir()
    port = find_free_port()
    config = _config(tmp_path, [{"kind": "directory", "path": "in"}], port)
    for path in (tmp_path / "baselines").rglob("*"):  # _config built one: this user has none yet
        if path.is_file():
            path.unlink()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DRIFTLINE_API_KEY": "upload-key-3b7e"}
    process = subprocess.Popen(
        _driftline("run", "--config", str(config)), stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        ready = _wait_json(f"{base}/readyz", lambda body: body["checks"].get("state_loaded") is True)
        assert ready["checks"]["baselines_loaded"] is False and ready["ready"] is False, ready
        reference = world.rows(5000, np.random.default_rng(3)).to_csv(index=False).encode()
        upload = urllib.request.Request(
            f"{base}/api/v1/models/m/baselines",
            data=reference,
            method="POST",
            headers={"Content-Type": "text/csv", "Authorization": "Bearer upload-key-3b7e"},
        )
        with urllib.request.urlopen(upload, timeout=60) as response:
            assert response.status == 201
        assert _wait_json(f"{base}/readyz", lambda body: body["ready"])["ready"] is True
        _write_inputs(tmp_path / "in", windows=3, n=200)
        predictions = 'driftline_predictions_total{model="m",model_version="1"} 600.0'
        deadline = time.monotonic() + 60
        body = ""
        while predictions not in body and time.monotonic() < deadline:
            body = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
            time.sleep(0.2)
        assert predictions in body
    finally:
        stderr = _stop(process)
    assert "no baselines yet" in stderr


def _stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM, as a user stops the service: it must exit 0; its standard error."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    return stderr


def _wait_json(url: str, done: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body = orjson.loads(response.read())
        except urllib.error.HTTPError as err:  # /readyz answers 503 while not ready
            body = orjson.loads(err.read())
        except OSError:
            body = {}
        if body and done(body):
            return body
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered as expected; last: {body}")
