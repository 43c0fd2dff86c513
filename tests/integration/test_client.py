"""driftline.client against the real service: over HTTP to `driftline run`, and through a real
Kafka-protocol broker (Tansu) to `driftline run` consuming it; a classifier with scores and a
regressor (tests/integration/client_world.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftline.client import Client, ClientError
from monitor.api.app import ApiServer
from monitor.config import load_config
from monitor.service import Service, load_baselines
from monitor.sinks.dead_letters import MemoryDeadLetters
from tests.conftest import find_free_port
from tests.integration import client_world as world
from tests.integration import kafka_pipeline as kp

pytestmark = pytest.mark.integration
START = (datetime.now(UTC) - timedelta(hours=8)).replace(minute=0, second=0, microsecond=0)


def _get(url: str) -> bytes:
    return urllib.request.urlopen(url, timeout=5).read()


def _start(config: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "DRIFTLINE_API_KEY": world.KEY, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "run", "--config", str(config)],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if b'"ready":true' in _get(f"http://127.0.0.1:{port}/readyz"):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"driftline run did not get ready: {process.communicate()[1][-2000:]}")


def _log_all(client: Client, served: list[world.Served]) -> dict[str, list[str]]:
    """Every live row of both models: predictions spread over two hours, outcomes an hour later."""
    ids = {}
    for s in served:
        at = [START + timedelta(seconds=20 * i) for i in range(len(s.features))]
        ids[s.model] = client.log_predictions(
            s.features, model=s.model, version="1", prediction=s.prediction, score=s.score, timestamps=at
        )
        client.log_outcomes(
            ids[s.model], s.truth, model=s.model, timestamps=[t + timedelta(hours=1) for t in at]
        )
    return ids


def _metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{{wanted}}} not in /metrics")


def test_http_to_driftline_run(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    port = find_free_port()
    config, served = world.write_config(
        tmp_path, {"inputs": [{"kind": "directory", "path": "in"}]}, {"port": port}
    )
    process = _start(config, port)
    try:
        client = Client(url=f"http://127.0.0.1:{port}", api_key=world.KEY, batch_size=100)
        ids = _log_all(client, served)
        n = {s.model: len(s.features) for s in served}
        assert {m: len(set(v)) for m, v in ids.items()} == n
        wrong = client.log_predictions(  # a version the service does not know: rejected, reported
            served[0].features.head(2), model="cancer", version="9", prediction=[0, 1]
        )
        assert [(r.prediction_id, r.reason) for r in client.rejected] == [
            (i, "unknown_version") for i in wrong
        ]
        strict = Client(url=f"http://127.0.0.1:{port}", api_key=world.KEY, on_reject="raise")
        with pytest.raises(ClientError, match="1 of 1 predictions rejected") as raised:
            strict.log_predictions({"x": [1]}, model="cancer", version="1", prediction=[5], score=[1.5])
        assert raised.value.rejected[0].reason == "out_of_range"

        metrics = _get(f"http://127.0.0.1:{port}/metrics").decode()
        for model, count in n.items():
            labels = {"model": model, "model_version": "1"}
            assert _metric(metrics, "driftline_predictions_total", **labels) == count
            assert _metric(metrics, "driftline_joined_pairs_total", **labels) == count
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr[-3000:]
    total = sum(n.values())
    assert f"{total:,} predictions, {total:,} outcomes, {total:,} joined, 3 rejected" in stderr


def test_http_retries_a_service_that_is_not_ready_and_never_retries_a_4xx(tmp_path: Path) -> None:
    """The real service answers 503 until its state is loaded (start-up): the client backs off and
    retries until it is; a wrong key (401) is raised at once with the server's message."""
    config, served = world.write_config(tmp_path, {}, {"port": 0, "api_key": world.KEY})
    cfg = load_config(config)
    service = Service(cfg, load_baselines(cfg), MemoryDeadLetters())
    service.expect_state()  # as `driftline run` does until the runner restored its checkpoint
    server = ApiServer(service, port=0)
    try:
        client = Client(url=server.url, api_key=world.KEY, retries=5, backoff=0.01)
        slept: list[float] = []

        def sleep(seconds: float) -> None:  # the service becomes ready after the second refusal
            slept.append(seconds)
            if len(slept) == 2:
                service.state_loaded.set()

        client.transport.sleep = sleep  # type: ignore[attr-defined]
        ids = client.log_predictions(
            served[1].features.head(5), model="diabetes", version="1", prediction=served[1].prediction[:5]
        )
        assert len(slept) == 2 and service.counters.total("predictions") == 5 and len(ids) == 5

        wrong = Client(url=server.url, api_key="not-the-key", retries=5, backoff=0.01)
        wrong.transport.sleep = slept.append  # type: ignore[attr-defined]
        with pytest.raises(ClientError, match="HTTP 401") as raised:
            wrong.log_outcomes(ids, [1.0] * 5, model="diabetes")
        assert raised.value.status == 401 and len(slept) == 2  # not retried
    finally:
        server.close()


def test_http_gives_up_on_an_unreachable_service_after_its_retries() -> None:
    client = Client(url=f"http://127.0.0.1:{find_free_port()}", retries=2, backoff=0.01, timeout=2)
    slept: list[float] = []
    client.transport.sleep = slept.append  # type: ignore[attr-defined]
    with pytest.raises(ClientError, match="gave up after 3 attempts; last: URLError"):
        client.log_outcomes(["a"], [1], model="m")
    assert len(slept) == 2 and all(0 <= s <= 0.02 for s in slept)


def test_kafka_to_driftline_run(kafka_broker: Any, kafka_group_id: str, tmp_path: Path) -> None:
    for name in ("predictions", "outcomes", "dead-letters"):
        kafka_broker.create_topic(name, kp.PARTITIONS)
    kafka = {
        "bootstrap_servers": [kafka_broker.bootstrap],
        "group_id": kafka_group_id,
        "checkpoint_interval": "300ms",
        **kp.QUICK_GROUP,
    }
    config, served = world.write_config(tmp_path, {"kafka": kafka}, {"enabled": False})
    with Client(kafka=kafka_broker.bootstrap) as client:
        ids = _log_all(client, served)
        client.log_predictions({"x": [1.0]}, model="cancer", version="1", prediction=[1], score=[7.0])
    instance = kp.start(config, "run")
    assert instance.wait() == 0, instance.log.read_text()[-3000:]
    counters = kp.summary(config, kafka_group_id)["counters"]
    for s in served:
        labels = (("model", s.model), ("model_version", "1"))
        assert counters[("predictions", labels)] == len(s.features)
        assert counters[("joined", labels)] == len(s.features)
        assert counters[("outcomes", (("model", s.model),))] == len(ids[s.model])
    assert counters[("rejected", (("reason", "out_of_range"), ("topic", "predictions")))] == 1
    # Keyed by prediction id: each prediction and its outcome went to the same partition.
    consumer = kafka_broker.new_consumer("predictions", "outcomes", group_id=f"{kafka_group_id}-check")
    seen: dict[tuple[str, bytes], int] = {}
    deadline = time.monotonic() + 30
    expected = 2 * sum(len(s.features) for s in served) + 1
    while len(seen) < expected and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=200).values():
            for record in batch:
                seen[(record.topic, record.key)] = record.partition
    assert len(seen) == expected
    for key in (k for (topic, k) in seen if topic == "outcomes"):
        assert seen[("outcomes", key)] == seen[("predictions", key)]


def test_the_service_and_client_agree_on_scores_and_values(tmp_path: Path) -> None:
    """What the client logged is what the service summarised: the window's feature means equal the
    logged values' means (classifier), and its performance is the model's on the logged rows."""
    config, served = world.write_config(tmp_path, {}, {"port": 0, "api_key": world.KEY})
    cfg = load_config(config)
    service = Service(cfg, load_baselines(cfg), MemoryDeadLetters())
    server = ApiServer(service, port=0)
    try:
        client = Client(url=server.url, api_key=world.KEY)
        s = served[0]
        at = START + timedelta(minutes=5)
        ids = client.log_predictions(
            s.features, model=s.model, version="1", prediction=s.prediction, score=s.score, timestamps=at
        )
        client.log_outcomes(ids, s.truth, model=s.model, timestamps=at + timedelta(minutes=30))
        results = service.evaluate(flush=True)
    finally:
        server.close()
    (result,) = [r for r in results if r.model == "cancer"]
    assert result.performance.n_pairs == len(s.features)
    accuracy = float(np.mean(s.prediction == s.truth))
    assert result.performance.metrics["accuracy"] == pytest.approx(accuracy)
    assert result.performance.metrics["roc_auc"] is not None
