"""Helpers for the Kafka pipeline tests: seeded data, `driftline run` processes, stored-state
summaries. Kept apart from the tests so each test reads as a scenario."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from consumers.kafka import stored_partitions
from monitor.baselines.baseline import Baseline
from monitor.baselines.store import BaselineStore
from monitor.config import DriftlineConfig, load_config
from monitor.core.sketch import NumericSketch
from monitor.errors import ConfigError, DriftlineError
from monitor.evaluation.evaluator import Evaluator
from monitor.pipeline.counters import Counters
from monitor.service import Service, load_baselines
from monitor.sinks.dead_letters import MemoryDeadLetters
from monitor.state.factory import open_state_store
from tests.integration.kafka_fixtures import FAST_GROUP_TIMEOUTS
from tests.unit import stream_world as world

H = world.HOUR_MS
PARTITIONS = 4

# (arrival, topic, key, value): a message, when it is produced and where to.
Event = tuple[int, str, bytes, bytes]


def stream(n_predictions: int, seed: int = 0, windows: int = 6) -> tuple[list[tuple[bytes, bytes]], ...]:
    """(key, value) predictions over `windows` hours (feature x1 drifts in the last two) and an
    outcome for every second prediction, 10 minutes later; two broken messages at the end."""
    rng = np.random.default_rng(seed)
    predictions, outcomes = [], []
    for w in range(windows):
        shift = 0.7 if w >= windows - 2 else 0.0
        preds, outs = world.messages(
            w, n_predictions // windows, rng, shift, outcome_every=2, prefix=f"{seed}-"
        )
        predictions += [(pid.encode(), m) for pid, m in preds]
        outcomes += [(pid.encode(), m) for pid, m in outs]
    predictions += [(b"bad-1", b"{truncated"), (b"bad-2", b'{"model": "m"}')]
    return predictions, outcomes


# A test's consumer group: short polls, fast group joins, an exit once the topics are read.
QUICK_GROUP = {
    "poll_timeout": "200ms",
    **FAST_GROUP_TIMEOUTS,
    "stop_when_idle": "4s",
    "dead_letter_topic": "dead-letters",
}


def write_config(
    folder: Path,
    bootstrap: str,
    group: str,
    state_url: str,
    *,
    client: str,
    model: tuple[DriftlineConfig, list[Baseline]] | None = None,
    **kafka: Any,
) -> Path:
    """A `driftline run` config reading the test topics through `client` (sources.kafka.client):
    the stream world's model, or `model` (a config and its baselines)."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg, baselines = model if model is not None else (world.config(), [])
    store = BaselineStore(folder / "baselines")
    if not store.versions("m"):
        for built in baselines or [world.baseline(cfg)]:
            store.save(built)
    data = cfg.model_dump(mode="json")
    data["models"][0]["outcome_ttl"] = "7d"  # nothing expires within the test streams
    data["baselines"]["path"] = "baselines"
    data["sources"] = {
        "dead_letters": "dead-letters.jsonl",
        "kafka": {
            "bootstrap_servers": [bootstrap],
            "client": client,
            "group_id": group,
            "max_poll_records": 2000,
            "checkpoint_interval": "300ms",
            **QUICK_GROUP,
            **kafka,
        },
    }
    data["api"] = {"enabled": False}
    data["evaluation"] = {"interval": "1s"}
    data["state"] = {"url": state_url}
    path = folder / "driftline.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def produce_events(broker: Any, events: Sequence[Event], *, create: bool = True) -> None:
    """Each (arrival, topic, key, value) event produced to its topic, in order; first (`create`)
    the test topics made, with `PARTITIONS` partitions each."""
    if create:
        for name in ("predictions", "outcomes", "dead-letters"):
            broker.create_topic(name, PARTITIONS)
    for topic in ("predictions", "outcomes"):
        broker.produce(topic, [(key, value) for _, t, key, value in events if t == topic])


@dataclass
class Instance:
    process: subprocess.Popen[str]
    log: Path

    def wait(self, timeout: float = 180) -> int:
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


def start(config: Path, name: str) -> Instance:
    log = config.parent / f"{name}.log"
    handle = log.open("a")
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "run", "--config", str(config)],
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return Instance(process, log)


def checkpointed_offsets(state_url: str, group: str) -> int:
    """Messages (both topics, all partitions) covered by the stored checkpoints (read beside the
    running instance: read-only, which a RocksDB store needs; 0 before the instance has made it)."""
    try:
        store = open_state_store(state_url, read_only=True)
    except ConfigError as err:
        if "no RocksDB store" in str(err):
            return 0
        raise
    try:
        stored = store.load(group, range(PARTITIONS))
        return sum(sum(c.offsets.values()) for c in stored.values())
    finally:
        store.close()


def wait_for_checkpoint(
    state_url: str, group: str, at_least: int, instance: Instance, timeout: float = 120
) -> int:
    deadline = time.monotonic() + timeout
    failed: DriftlineError | None = None
    while time.monotonic() < deadline:
        try:  # a read beside the writing instance may fail now and then: poll again
            covered = checkpointed_offsets(state_url, group)
        except DriftlineError as err:
            covered, failed = 0, err
        if covered >= at_least:
            return covered
        assert instance.process.poll() is None, instance.log.read_text()[-3000:]
        time.sleep(0.05)
    raise AssertionError(
        f"no checkpoint covering {at_least} messages within {timeout}s (last error: {failed})"
    )


# The share of each topic produced before the kills; the rest comes after them (crash_then_finish).
HEAD = 0.8


def crash_then_finish(
    broker: Any, config: Path, state_url: str, group: str, events: Sequence[Event], shares: Sequence[float]
) -> None:
    """Produce the first `HEAD` of each topic's events; for each share in turn, start an instance
    and kill -9 it once a checkpoint covers that share of them and more than the kill before (or
    all of them); then produce the rest and run an instance to the end.

    Holding the rest back until the kills are done puts the last kill before the end of the input
    however fast an instance reads: with everything produced at once, a fast instance could read
    past the last share and to the end between two checkpoints, leaving nothing to resume. Asking
    for more than the kill before makes each instance store progress of its own before it dies,
    even when the one before it checkpointed past several shares at once."""
    head, tail = [], []
    seen: Counter[str] = Counter()
    per_topic = Counter(topic for _, topic, _, _ in events)
    for event in events:
        seen[event[1]] += 1
        (head if seen[event[1]] <= int(per_topic[event[1]] * HEAD) else tail).append(event)
    produce_events(broker, head)
    last_kill = 0
    for share in shares:
        instance = start(config, "crashed")
        at_least = min(max(int(len(head) * share), last_kill + 1), len(head))
        last_kill = wait_for_checkpoint(state_url, group, at_least, instance)
        instance.kill()
    produce_events(broker, tail, create=False)
    instance = start(config, "crashed")
    assert instance.wait() == 0, instance.log.read_text()[-3000:]


@contextmanager
def stored_service(config: Path, group: str) -> Iterator[tuple[Service, dict[int, Any]]]:
    cfg = load_config(config)
    service = Service(cfg, load_baselines(cfg), MemoryDeadLetters())
    store = open_state_store(cfg.state.url)
    try:
        yield service, stored_partitions(service, store, group)
    finally:
        store.close()


def summary(config: Path, group: str) -> dict[str, Any]:
    """Every count the stored state holds: per window rows, targets, pairs, expired, per-bin and
    per-category sketch counts; and the event counters."""
    with stored_service(config, group) as (_, partitions):
        windows: dict[tuple[str, str, int], dict[str, Any]] = {}
        counters = Counters()
        for monitor in partitions.values():
            counters = counters.merge(monitor.counters)
            for (model, version), s in monitor.streams.items():
                for start, w in s.windows.items():
                    entry = windows.setdefault(
                        (model, version, start),
                        {"rows": 0, "targets": 0, "pairs": 0, "expired": 0, "bins": {}},
                    )
                    entry["rows"] += w.sketch.n_rows
                    entry["targets"] += w.sketch.n_targets
                    entry["pairs"] += w.performance.n
                    entry["expired"] += w.expired
                    for name, sketch in w.sketch.features.items():
                        counts = (
                            sketch.counts
                            if isinstance(sketch, NumericSketch)
                            else np.append(sketch.counts, [sketch.n_unseen, sketch.missing])
                        )
                        previous = entry["bins"].get(name)
                        entry["bins"][name] = (
                            counts.tolist()
                            if previous is None
                            else [a + b for a, b in zip(previous, counts.tolist(), strict=True)]
                        )
        return {
            "windows": windows,
            "counters": dict(((n, tuple(sorted(lb.items()))), v) for n, lb, v in counters.items()),
        }


def final_results(config: Path, group: str) -> dict[int, Any]:
    """Per-window results evaluated from the stored state of every partition."""
    with stored_service(config, group) as (service, partitions):
        monitors = list(partitions.values())
        for monitor in monitors:
            monitor.close_all()
        evaluator = Evaluator(service.config, service.baselines)
        results = [evaluator.evaluate(d, service.clock()) for d in evaluator.due(monitors)]
        return {int(r.window_start.timestamp() * 1000) // H: r for r in results}
