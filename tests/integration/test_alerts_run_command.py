"""`driftline run` with alerts, as a real process: a `kill -9` after an alert fired but before
its delivery (the receiver is down) still delivers every notification exactly once after the
restart — from the durable outbox, without firing again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from alerts.outbox import OUTBOX, load
from alerts.receiver import WebhookReceiver
from monitor.baselines.store import BaselineStore
from monitor.errors import DriftlineError
from monitor.state.factory import open_state_store
from tests.conftest import find_free_port
from tests.unit import stream_world as world

pytestmark = pytest.mark.integration
SECRET = "kill-nine-secret"


def _config(tmp_path: Path, receiver_url: str) -> Path:
    cfg = world.config()
    BaselineStore(tmp_path / "baselines").save(world.baseline(cfg))
    data = cfg.model_dump(mode="json", by_alias=True, exclude={"alerts", "api"})
    data["baselines"]["path"] = "baselines"
    data["sources"] = {
        "inputs": [{"kind": "directory", "path": "in"}],
        "dead_letters": "dead.jsonl",
        "poll_interval": "50ms",
        "checkpoint_interval": "100ms",
    }
    data["api"] = {"port": find_free_port()}
    data["evaluation"] = {"interval": "200ms"}
    data["state"] = {}
    data["alerts"] = {
        "receivers": [{"name": "ops", "kind": "webhook", "url": receiver_url, "secret": SECRET}],
        "delivery": {"backoff_initial": "100ms", "backoff_max": "500ms", "flush_timeout": "10s"},
    }
    path = tmp_path / "driftline.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _write_inputs(folder: Path) -> None:
    rng = np.random.default_rng(3)
    lines = []
    for i in range(4):  # x1 shifts by two standard deviations from window 2 on
        predictions, outcomes = world.messages(i, 400, rng, shift=2.0 if i >= 2 else 0.0, outcome_delay_s=60)
        lines += [p for _, p in predictions] + [o for _, o in outcomes]
    (folder / "events-000.jsonl").write_bytes(b"\n".join(lines) + b"\n")


def _outbox(store_path: Path) -> list:
    store = open_state_store(f"rocksdb:///{store_path}", read_only=True)
    try:
        return load(store.load_records(OUTBOX))
    finally:
        store.close()


def test_kill_9_between_firing_and_delivery_delivers_exactly_once_after_restart(tmp_path: Path) -> None:
    port = find_free_port()
    receiver = WebhookReceiver(SECRET.encode(), port=port)  # down during the first run
    config = _config(tmp_path, receiver.url("/hook"))
    (tmp_path / "in").mkdir()
    _write_inputs(tmp_path / "in")
    store_path = tmp_path / "driftline-state"  # the default store: RocksDB, read-only beside the run
    command = [sys.executable, "-m", "monitor.cli", "run", "--config", str(config)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    first = subprocess.Popen(command, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 90
        pending: list = []
        while time.monotonic() < deadline:
            try:
                pending = _outbox(store_path) if (store_path / "CURRENT").exists() else []
            except DriftlineError:  # a read beside the running service may fail now and then
                pending = []
            fired = [e for e in pending if e.document["rule"] == "feature_drift"]
            if fired and all(e.attempts >= 2 for e in fired):  # fired, and delivery has failed
                break
            assert first.poll() is None, "driftline run exited early"
            time.sleep(0.1)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    pending = _outbox(store_path)
    assert any(e.document["rule"] == "feature_drift" and e.document["subject"] == "x1" for e in pending)
    expected = {e.idempotency_key for e in pending}

    receiver.start()
    second = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert receiver.wait_for(lambda r: set(r.counts()) >= expected, timeout=90), receiver.counts()
        deadline = time.monotonic() + 30
        while _outbox(store_path) and time.monotonic() < deadline:
            time.sleep(0.1)
        second.send_signal(signal.SIGTERM)
        _, stderr = second.communicate(timeout=60)
    finally:
        if second.poll() is None:
            second.kill()
        receiver.stop()
    assert second.returncode == 0, stderr[-3000:]
    counts = receiver.counts()
    assert set(counts.values()) == {1}, counts  # nothing twice, including what the restart re-evaluated
    assert all(d.verified for d in receiver.received())
    firing_x1 = [
        d for d in receiver.received() if d.json["rule"] == "feature_drift" and d.json["subject"] == "x1"
    ]
    assert [d.json["status"] for d in firing_x1] == ["firing"]
    assert _outbox(store_path) == []
