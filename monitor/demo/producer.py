"""`driftline demo-produce`: the demo's churn stream for a running service, through Kafka.

The docker-compose stack runs it twice: once with `--baseline-only` before driftline starts
(driftline needs the model's baseline at start-up), then as the producer that replays a day of
predictions and outcomes into the `predictions` and `outcomes` topics, keyed by prediction id.
The model and the data are seeded, so both runs train the same model; an existing baseline is
kept, so the service and the stream always agree on it.

Timestamps start 24 hours before now (on the hour), so Kibana's and Grafana's default "last 24
hours" shows the whole day; `--start` pins them instead.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from monitor.baselines.baseline import build_baseline
from monitor.baselines.store import BaselineStore
from monitor.config import DriftlineConfig, load_config
from monitor.demo.data import Event, World, customers, held_out, score, train_model
from monitor.demo.run import HOUR_MS, MODEL, generate
from monitor.errors import BaselineError, DriftlineError

VERSION = "1"


@dataclass(frozen=True)
class Produced:
    baseline_id: str
    baseline_built: bool
    predictions: int = 0
    outcomes: int = 0
    malformed: int = 0


def default_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=24)


def ensure_baseline(
    config: DriftlineConfig, train: pd.DataFrame, now: datetime, validation: pd.DataFrame | None = None
) -> tuple[str, bool]:
    """The active baseline of churn v1: the existing one, or one built from the training data (with
    the reference performance measured on `validation`, held-out rows)."""
    store = BaselineStore(config.baselines.path)
    try:
        return store.active_id(MODEL, VERSION), False
    except BaselineError:
        pass
    baseline = build_baseline(
        train,
        config.model(MODEL),
        config.baselines,
        VERSION,
        "demo-train",
        now,
        performance=validation,
        performance_source="demo-held-out",
    )
    store.save(baseline)
    return baseline.id, True


def produce_demo(
    config_path: Path,
    bootstrap: str | None,
    now: datetime,
    seed: int = 7,
    rows: int = 2000,
    speed: float = 0.0,
    start: datetime | None = None,
    baseline_only: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> Produced:
    """Build the baseline if missing, then (unless `baseline_only`) produce the stream to Kafka at
    `speed` simulated hours per second (0: as fast as the broker takes it)."""
    config = load_config(config_path)
    config.model(MODEL)  # a clear error if the config has no churn model
    rng = np.random.default_rng(seed)
    train = customers(20_000, World(), rng)
    model = train_model(train)
    train["prediction"], train["score"] = score(model, train)
    baseline_id, built = ensure_baseline(config, train, now, held_out(model, seed))
    progress(f"baseline {baseline_id} for {MODEL} v{VERSION} ({'built' if built else 'already there'})")
    if baseline_only:
        return Produced(baseline_id, built)
    bootstrap = bootstrap or _bootstrap_of(config)
    events = generate(model, rows, rng, int((start or default_start(now)).timestamp() * 1000))
    progress(f"producing {len(events):,} events to {bootstrap}")
    counts = _produce(events, bootstrap, config, speed)
    return Produced(baseline_id, built, counts["predictions"], counts["outcomes"], counts["malformed"])


def _bootstrap_of(config: DriftlineConfig) -> str:
    if config.sources.kafka is None:
        raise DriftlineError("demo-produce needs --bootstrap or sources.kafka in the config")
    return ",".join(config.sources.kafka.bootstrap_servers)


def _produce(events: list[Event], bootstrap: str, config: DriftlineConfig, speed: float) -> dict[str, int]:
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    kafka = config.sources.kafka
    topics = {
        "predictions": kafka.predictions_topic if kafka else "predictions",
        "outcomes": kafka.outcomes_topic if kafka else "outcomes",
    }
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        for topic in topics.values():
            # One at a time: a topic that exists must not stop the other being made.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(topic, 1, replication_factor=1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    counts = {"predictions": 0, "outcomes": 0, "malformed": 0}
    t0, first = time.monotonic(), events[0].arrival_ms if events else 0
    try:
        for event in events:
            if speed > 0:
                due = (event.arrival_ms - first) / HOUR_MS / speed
                if due > time.monotonic() - t0:
                    producer.flush()
                    time.sleep(due - (time.monotonic() - t0))
            producer.send(topics[event.topic], key=event.key or None, value=event.message)
            counts[event.topic if event.key else "malformed"] += 1
        producer.flush()
    finally:
        producer.close()
    return counts
