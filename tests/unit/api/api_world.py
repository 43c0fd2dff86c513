"""A seeded two-model world for the HTTP API tests: `churn` meets drift in `spend` and `plan`
(two of its three features: dataset drift), `fraud` stays stationary. The service is real;
messages go through Service.handle like any source's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from monitor.baselines.baseline import Baseline, build_baseline
from monitor.baselines.store import BaselineStore
from monitor.config import DriftlineConfig, parse_config, resolve_paths
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters

HOUR_S = 3600
START_S = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp())
MODELS = ("churn", "fraud")
FEATURES = {"age": "numeric", "spend": "numeric", "plan": "categorical"}
DRIFTED = ("spend", "plan")
KEY = "test-key-5f1d2c"


def config(folder: Path, **api: Any) -> DriftlineConfig:
    model = {
        "task": "classification",
        "features": [{"name": n, "kind": k} for n, k in FEATURES.items()],
        "target": "y",
        "window": "1h",
        "allowed_lateness": "1m",
        "outcome_ttl": "6h",
        "window_sample": 500,
    }
    data = {
        "models": [{"name": name, **model} for name in MODELS],
        "baselines": {"path": "baselines", "reservoir_size": 1000},
        "sources": {"dead_letters": "dead-letters.jsonl"},
        "api": api,
    }
    return resolve_paths(parse_config(data), folder)


def rows(n: int, rng: np.random.Generator, drift: bool = False) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n).round(1),
            "spend": rng.normal(80 if drift else 50, 15, n).round(2),
            "plan": rng.choice(["basic", "pro", "team"], n, p=[0.2, 0.3, 0.5] if drift else [0.6, 0.3, 0.1]),
        }
    )
    frame["prediction"] = (frame["spend"] > 55).astype(int).astype(str)
    agree = rng.random(n) < 0.9
    frame["y"] = np.where(agree, frame["prediction"], np.where(frame["prediction"] == "1", "0", "1"))
    return frame


def baseline(cfg: DriftlineConfig, model: str, version: str = "1", seed: int = 0) -> Baseline:
    reference = rows(5000, np.random.default_rng(seed))
    return build_baseline(
        reference, cfg.model(model), cfg.baselines, version, "train.csv", datetime(2026, 3, 1, tzinfo=UTC)
    )


def service(cfg: DriftlineConfig) -> Service:
    """A service with a stored, active baseline for version 1 of both models."""
    store = BaselineStore(cfg.baselines.path)
    baselines = {}
    for i, model in enumerate(MODELS):
        built = baseline(cfg, model, seed=i)
        store.save(built)
        baselines[(model, "1")] = built
    return Service(cfg, baselines, MemoryDeadLetters(), clock=lambda: datetime(2026, 3, 3, tzinfo=UTC))


def messages(
    model: str, window: int, n: int, rng: np.random.Generator, drift: bool = False, version: str = "1"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Predictions in hour `window` and their outcomes ten minutes later."""
    frame = rows(n, rng, drift)
    times = START_S + window * HOUR_S + np.sort(rng.uniform(0, HOUR_S, n))
    predictions, outcomes = [], []
    for j, (row, t) in enumerate(zip(frame.to_dict("records"), times.tolist(), strict=True)):
        pid = f"{model}-{version}-{window}-{j}"
        predictions.append(
            {
                "prediction_id": pid,
                "model": model,
                "model_version": version,
                "timestamp": t,
                "features": {k: row[k] for k in FEATURES},
                "prediction": row["prediction"],
            }
        )
        outcomes.append({"prediction_id": pid, "model": model, "timestamp": t + 600, "outcome": row["y"]})
    return predictions, outcomes


def feed(
    service: Service, model: str, window: int, n: int, rng: np.random.Generator, drift: bool = False
) -> None:
    predictions, outcomes = messages(model, window, n, rng, drift)
    service.handle(
        RawBatch(
            predictions=[orjson.dumps(p) for p in predictions], outcomes=[orjson.dumps(o) for o in outcomes]
        )
    )


def run_day(service: Service, windows: int = 6, drift_from: int = 3, n: int = 400, seed: int = 1) -> None:
    """`windows` hours of both models; churn drifts from hour `drift_from` on; then evaluate all."""
    rng = np.random.default_rng(seed)
    for window in range(windows):
        for model in MODELS:
            feed(service, model, window, n, rng, drift=model == "churn" and window >= drift_from)
    service.evaluate(flush=True)
