"""A seeded canary world for version comparison through the Service: a classifier served by a
baseline version "1" and a candidate "2", each row assigned to one of them at random (share
`share_b` to "2"), right with probability `accuracy_a` or `accuracy_b`. Every hour's predictions
and their outcomes (a second later) go through Service.ingest as columnar batches, and the service
evaluates after each hour, so the verdict is looked at once per window, as in production."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitor.baselines.baseline import Baseline, build_baseline
from monitor.config import DriftlineConfig, parse_config
from monitor.evaluation.results import WindowResult
from monitor.pipeline.events import OutcomeBatch, PredictionBatch
from monitor.pipeline.monitor import Batch, Monitor
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from monitor.state.factory import open_state_store
from monitor.state.partitions import restore_partition, save_partitions
from monitor.state.store import StateStore

HOUR_MS = 3_600_000
START_MS = int(datetime(2026, 5, 4, tzinfo=UTC).timestamp() * 1000)
LABELS = np.array(["0", "1"], dtype=object)


def config(compared: bool = True, **comparison: Any) -> DriftlineConfig:
    """The model with versions "1" and "2"; `compared` False: no comparison section (the base
    pipeline, for the benchmark)."""
    model = {
        "name": "m",
        "task": "classification",
        "features": [{"name": "x", "kind": "numeric"}],
        "target": "y",
        "window": "1h",
        "allowed_lateness": "1m",
        "outcome_ttl": "10m",
        "window_sample": 10,
        "concept_drift": {"enabled": False},
        "multivariate": {"enabled": False},
        "comparison": {"baseline": "1", "candidates": ["2"], **comparison} if compared else None,
    }
    return parse_config({"models": [model]})


def baselines(cfg: DriftlineConfig) -> dict[tuple[str, str], Baseline]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=2000), "prediction": rng.choice(LABELS, 2000)})
    frame["y"] = frame["prediction"]
    built = {}
    for version in ("1", "2"):
        built[("m", version)] = build_baseline(
            frame, cfg.models[0], cfg.baselines, version, "train", datetime(2026, 5, 1, tzinfo=UTC)
        )
    return built


def service(cfg: DriftlineConfig, built: dict[tuple[str, str], Baseline]) -> Service:
    return Service(cfg, built, MemoryDeadLetters(), clock=lambda: datetime(2026, 6, 1, tzinfo=UTC))


def hour_batch(
    hour: int, rows: int, rng: np.random.Generator, accuracy_a: float, accuracy_b: float, share_b: float
) -> Batch:
    to_b = rng.random(rows) < share_b
    y = rng.choice(LABELS, rows)
    right = rng.random(rows) < np.where(to_b, accuracy_b, accuracy_a)
    prediction = np.where(right, y, np.where(y == "1", "0", "1")).astype(object)
    ts = START_MS + hour * HOUR_MS + np.sort(rng.integers(0, HOUR_MS - 2000, rows))
    ids = np.asarray([f"{hour}-{j}" for j in range(rows)], dtype=object)
    x = rng.normal(size=rows)
    predictions = {}
    for version, chosen in (("1", ~to_b), ("2", to_b)):
        predictions[("m", version)] = PredictionBatch(
            model="m",
            model_version=version,
            prediction_id=ids[chosen],
            timestamp=ts[chosen],
            features={"x": x[chosen]},
            prediction=prediction[chosen],
            score=np.full(int(chosen.sum()), np.nan),
            segment=np.full(int(chosen.sum()), None, dtype=object),
        )
    outcomes = OutcomeBatch(model="m", prediction_id=ids, timestamp=ts + 1000, outcome=y)
    return Batch(predictions, {"m": outcomes})


def shadow_hour_batch(
    hour: int, rows: int, rng: np.random.Generator, accuracy_a: float, accuracy_b: float, same: float
) -> Batch:
    """Shadow traffic: every request predicted by both versions under one prediction id (the shadow
    logs a millisecond later), the candidate right exactly when the baseline version is on a share
    `same` of the rows (one uniform draw for both there, two elsewhere), then each outcome."""
    y = rng.choice(LABELS, rows)
    u = rng.random(rows)
    u_b = np.where(rng.random(rows) < same, u, rng.random(rows))
    ts = START_MS + hour * HOUR_MS + np.sort(rng.integers(0, HOUR_MS - 2000, rows))
    ids = np.asarray([f"{hour}-{j}" for j in range(rows)], dtype=object)
    x = rng.normal(size=rows)
    predictions = {}
    for version, right in (("1", u < accuracy_a), ("2", u_b < accuracy_b)):
        predictions[("m", version)] = PredictionBatch(
            model="m",
            model_version=version,
            prediction_id=ids,
            timestamp=ts + (version == "2"),
            features={"x": x},
            prediction=np.where(right, y, np.where(y == "1", "0", "1")).astype(object),
            score=np.full(rows, np.nan),
            segment=np.full(rows, None, dtype=object),
        )
    return Batch(predictions, {"m": OutcomeBatch("m", ids, ts + 1000, y)})


def looks(
    running: Service,
    hours: int,
    rows: int,
    rng: np.random.Generator,
    accuracy_a: float,
    accuracy_b: float,
    share_b: float = 0.5,
) -> Iterator[WindowResult]:
    """Feed canary hour after hour, evaluating after each; yields each evaluated candidate window."""
    batches = (hour_batch(hour, rows, rng, accuracy_a, accuracy_b, share_b) for hour in range(hours))
    return candidate_windows(running, batches)


def candidate_windows(running: Service, batches: Iterable[Batch]) -> Iterator[WindowResult]:
    """Ingest each batch and evaluate after it, then evaluate once more with every window flushed;
    yields each evaluated window of candidate version "2" that carries a comparison."""

    def candidates(results: list[WindowResult]) -> list[WindowResult]:
        chosen = (r for r in results if r.model_version == "2" and r.comparison is not None)
        return sorted(chosen, key=lambda r: r.window_start)

    for batch in batches:
        failed, _ = running.ingest(batch, [])
        assert failed == []
        yield from candidates(running.evaluate())
    yield from candidates(running.evaluate(flush=True))


def restarted(
    cfg: DriftlineConfig,
    built: dict[tuple[str, str], Baseline],
    feed: Callable[[Service, range], None],
    store_path: Path,
    saved: range,
    lost: range,
) -> tuple[Service, StateStore]:
    """A service fed the hours `saved`, checkpointed, fed the hours `lost` (evaluated, so their
    windows reached the comparison, but never checkpointed: the process dies), then a new service
    restored from that checkpoint and its comparison state, fed `lost` again; with its store, for
    the caller to close."""
    store = open_state_store(f"sqlite:///{store_path}")
    first = service(cfg, built)
    first.evaluator.comparison.attach(store)
    feed(first, saved)
    save_partitions(store, "g", [(0, {}, first.partition(0))])
    feed(first, lost)
    second = service(cfg, built)
    monitor = Monitor(cfg, built, 0)
    restore_partition(store, "g", store.load("g", [0])[0], monitor)
    second.partitions[0] = monitor
    second.evaluator.comparison.attach(store)
    feed(second, lost)
    return second, store
