"""Events posted over HTTP to `driftline run` are durable once answered: a kill -9 right after the
answer loses none of them, and a restart counts each once."""

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import orjson
import pytest

from tests.conftest import find_free_port
from tests.integration.test_run_command import _config, _driftline
from tests.unit import stream_world as world

pytestmark = pytest.mark.integration
KEY = "test-key-for-crash"


def _get(url: str) -> str:
    return urllib.request.urlopen(url, timeout=2).read().decode()


def _start(config: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DRIFTLINE_API_KEY": KEY}
    process = subprocess.Popen(_driftline("run", "--config", str(config)), stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if "ready" in _get(f"http://127.0.0.1:{port}/readyz"):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("driftline run did not answer /readyz within 60 s")


def _predictions_total(port: int) -> float:
    for line in _get(f"http://127.0.0.1:{port}/metrics").splitlines():
        if line.startswith("driftline_predictions_total{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_posted_events_survive_a_kill_9_right_after_the_answer(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()  # a followed, empty directory: no source batch ever checkpoints
    port = find_free_port()
    config = _config(tmp_path, [{"kind": "directory", "path": "in"}], port, checkpoint_interval="1h")
    predictions, _ = world.messages(0, 500, np.random.default_rng(3), outcome_delay_s=60)
    body = orjson.dumps({"predictions": [orjson.loads(m) for _, m in predictions]})

    process = _start(config, port)
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/events",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"},
        )
        answer = orjson.loads(urllib.request.urlopen(request, timeout=30).read())
        assert answer["accepted"] == 500
        process.send_signal(signal.SIGKILL)  # at once: no shutdown checkpoint
        process.wait(timeout=30)
    finally:
        process.kill()

    process = _start(config, port)  # the restart resumes from the checkpoint the POST took
    try:
        assert _predictions_total(port) == 500
        request = urllib.request.Request(  # the same batch again: every id is a duplicate
            f"http://127.0.0.1:{port}/api/v1/events",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"},
        )
        urllib.request.urlopen(request, timeout=30).read()
        assert _predictions_total(port) == 1000  # accepted by the decoder; the join knows them:
        metrics = _get(f"http://127.0.0.1:{port}/metrics")
        assert 'driftline_duplicate_predictions_total{model="m",model_version="1"} 500.0' in metrics
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
