"""Seeded streams with concept changes at known points, for a classifier and a regressor, fed to a
real Service (one partition or several) the way the service reads: an hour of predictions, the
outcomes that have come by then, an evaluation pass."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from monitor.baselines.baseline import Baseline, build_baseline
from monitor.config import DriftlineConfig, parse_config
from monitor.evaluation.results import WindowResult
from monitor.pipeline.events import OutcomeBatch, PredictionBatch
from monitor.pipeline.monitor import Batch
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters

H = 3_600_000
NOW = datetime(2026, 1, 1, tzinfo=UTC)
TASKS = ("classification", "regression")


def config(task: str, **concept: Any) -> DriftlineConfig:
    model: dict[str, Any] = {
        "name": "m",
        "task": task,
        "features": [{"name": "x", "kind": "numeric"}],
        "target": "y",
        "window": "1h",
        "allowed_lateness": "1m",
        "outcome_ttl": "6h",
        "window_sample": 0,
        "concept_drift": concept,
    }
    return parse_config({"models": [model]})


def rows(task: str, n: int, rng: np.random.Generator, degraded: bool = False) -> pd.DataFrame:
    """A classifier right 90 % of the time (70 % when degraded); a regressor with |Gaussian|
    errors of scale 1 (1.5 when degraded)."""
    x = rng.normal(0, 1, n)
    frame = pd.DataFrame({"x": x})
    if task == "classification":
        frame["prediction"] = (x > 0).astype(int).astype(str)
        agree = rng.random(n) < (0.7 if degraded else 0.9)
        frame["y"] = np.where(agree, frame["prediction"], np.where(frame["prediction"] == "1", "0", "1"))
    else:
        frame["prediction"] = 3 * x
        frame["y"] = frame["prediction"] + rng.normal(0, 1.5 if degraded else 1.0, n)
    return frame


def baseline(cfg: DriftlineConfig, seed: int = 0) -> Baseline:
    task = cfg.models[0].task
    return build_baseline(
        rows(task, 20_000, np.random.default_rng(seed)),
        cfg.models[0],
        cfg.baselines,
        "1",
        "train",
        NOW,
        performance=rows(task, 10_000, np.random.default_rng(seed + 1)),
        performance_source="held-out",
    )


def service(cfg: DriftlineConfig) -> Service:
    return Service(cfg, {("m", "1"): baseline(cfg)}, MemoryDeadLetters(), clock=lambda: NOW)


Outcomes = tuple[int, int, OutcomeBatch]  # (arrival ms, partition, batch)


@dataclass(frozen=True)
class Stream:
    """Hour i: `n` predictions; their outcomes `delay_ms` later (a share `late_share` of them
    `late_ms` later instead). `degraded(i)` says whether hour i's predictions are of the new concept.
    Predictions go to `partitions` partitions by id (as Kafka keys them); each hour is seeded on
    its own, so a stream split across restarts is the same stream."""

    task: str
    degraded: Callable[[int], bool]
    n: int = 1500
    delay_ms: int = 20 * 60_000
    late_share: float = 0.0
    late_ms: int = 5 * H
    partitions: int = 1
    seed: int = 0

    def hour(self, i: int) -> tuple[list[PredictionBatch], list[Outcomes]]:
        rng = np.random.default_rng([self.seed, i])
        frame = rows(self.task, self.n, rng, self.degraded(i))
        ids = np.asarray([f"{i}-{j}" for j in range(self.n)], dtype=object)
        ts = i * H + np.sort(rng.integers(0, H, self.n))
        late = rng.random(self.n) < self.late_share
        arrival = ts + np.where(late, self.late_ms, self.delay_ms)
        step = arrival // STEP_MS * STEP_MS
        predictions, outcomes = [], []
        for p in range(self.partitions):
            mine = np.arange(self.n) % self.partitions == p
            predictions.append(_predictions(frame[mine], ids[mine], ts[mine]))
            for t in np.unique(step[mine]).tolist():
                chosen = mine & (step == t)
                outcomes.append((int(t), p, _outcomes(frame[chosen], ids[chosen], arrival[chosen])))
        return predictions, outcomes


STEP_MS = 10 * 60_000


def _predictions(frame: pd.DataFrame, ids: np.ndarray, ts: np.ndarray) -> PredictionBatch:
    prediction = frame["prediction"].to_numpy()
    return PredictionBatch(
        model="m",
        model_version="1",
        prediction_id=ids,
        timestamp=np.asarray(ts, dtype=np.int64),
        features={"x": frame["x"].to_numpy(dtype=float)},
        prediction=prediction.astype(object) if prediction.dtype == object else prediction.astype(float),
        score=np.full(len(frame), np.nan),
        segment=np.full(len(frame), None, dtype=object),
    )


def _outcomes(frame: pd.DataFrame, ids: np.ndarray, ts: np.ndarray) -> OutcomeBatch:
    y = frame["y"].to_numpy()
    return OutcomeBatch(
        model="m",
        prediction_id=ids,
        timestamp=np.asarray(ts, dtype=np.int64),
        outcome=y.astype(object) if y.dtype == object else y.astype(float),
    )


@dataclass
class Run:
    """Every result of every evaluation pass, in order, and the outcomes still on their way."""

    results: list[WindowResult] = field(default_factory=list)
    waiting: list[Outcomes] = field(default_factory=list)

    def latest(self) -> dict[int, WindowResult]:
        return {hour_of(r): r for r in self.results}


def hour_of(result: WindowResult) -> int:
    return int(result.window_start.timestamp() * 1000) // H


def feed(service: Service, stream: Stream, hours: range, run: Run | None = None, finish: bool = True) -> Run:
    """The given hours: each hour's predictions, then in ten-minute steps the outcomes that have
    arrived, each step followed by an evaluation pass; `finish`: then the outcomes still on their
    way, and the final pass (the input has ended)."""
    run = run or Run()
    for i in hours:
        predictions, outcomes = stream.hour(i)
        for p, batch in enumerate(predictions):
            service.partition(p).ingest(Batch(predictions={("m", "1"): batch}))
        run.waiting += outcomes
        for step in range(1, 7):
            now = i * H + step * STEP_MS
            arrived = sorted((w for w in run.waiting if w[0] < now), key=lambda w: w[0])
            run.waiting = [w for w in run.waiting if w[0] >= now]
            for _, p, outs in arrived:
                service.partition(p).ingest(Batch(outcomes={"m": outs}))
            run.results += service.evaluate()
    if finish:
        for _, p, outs in sorted(run.waiting, key=lambda w: w[0]):
            service.partition(p).ingest(Batch(outcomes={"m": outs}))
            run.results += service.evaluate()
        run.waiting = []
        run.results += service.evaluate(flush=True)
    return run
