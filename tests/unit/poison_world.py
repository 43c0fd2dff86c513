"""A seeded two-model world for the robustness tests: `churn` is a classifier with scores, `price`
a regressor. Messages are JSON bytes, as every source hands them to Service.handle; the service's
clock is fixed at NOW and normal traffic is dated in the hours before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from monitor.baselines.baseline import Baseline, build_baseline
from monitor.config import DriftlineConfig, parse_config, resolve_paths
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from tests.unit.results_world import FEATURES, model_sections

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
HOUR_S = 3600
START_S = int((NOW - timedelta(hours=12)).timestamp())  # traffic: the 12 hours before NOW
MODELS = ("churn", "price")


def config(folder: Path | None = None, **sources: Any) -> DriftlineConfig:
    data = {
        # The results world's two models, with a small row sample: windows of more rows are compared
        # on their binned sketches.
        "models": model_sections(allowed_lateness="5m", window_sample=50),
        "baselines": {"path": "baselines", "reservoir_size": 500},
        "sources": {"dead_letters": "dead-letters.jsonl", **sources},
    }
    cfg = parse_config(data)
    return resolve_paths(cfg, folder) if folder is not None else cfg


def rows(model: str, n: int, rng: np.random.Generator) -> pd.DataFrame:
    if model == "churn":
        frame = pd.DataFrame(
            {
                "age": rng.normal(40, 10, n).round(1),
                "spend": rng.normal(50, 15, n).round(2),
                "plan": rng.choice(["basic", "pro", "team"], n, p=[0.6, 0.3, 0.1]),
            }
        )
        frame["score"] = 1 / (1 + np.exp(-(frame["spend"] - 55) / 10))
        frame["prediction"] = (frame["score"] > 0.5).astype(int).astype(str)
        agree = rng.random(n) < 0.9
        frame["y"] = np.where(agree, frame["prediction"], np.where(frame["prediction"] == "1", "0", "1"))
        return frame
    frame = pd.DataFrame(
        {
            "rooms": rng.integers(1, 7, n).astype(float),
            "area": rng.normal(80, 25, n).round(1),
            "city": rng.choice(["oslo", "bergen", "tromso"], n, p=[0.5, 0.3, 0.2]),
        }
    )
    frame["prediction"] = (1000 * frame["area"] + 5000 * frame["rooms"]).round(0)
    frame["y"] = (frame["prediction"] * rng.normal(1, 0.1, n)).round(0)
    return frame


def baselines(cfg: DriftlineConfig) -> dict[tuple[str, str], Baseline]:
    built = {}
    for i, model in enumerate(MODELS):
        reference = rows(model, 3000, np.random.default_rng(i))
        built[(model, "1")] = build_baseline(
            reference, cfg.model(model), cfg.baselines, "1", "train.csv", NOW - timedelta(days=30)
        )
    return built


def service(cfg: DriftlineConfig) -> Service:
    return Service(cfg, baselines(cfg), MemoryDeadLetters(), clock=lambda: NOW)


def prediction(model: str, pid: str, t: float, row: dict[str, Any]) -> dict[str, Any]:
    message = {
        "prediction_id": pid,
        "model": model,
        "model_version": "1",
        "timestamp": t,
        "features": {k: row[k] for k in FEATURES[model]},
        "prediction": row["prediction"],
    }
    if model == "churn":
        message["score"] = row["score"]
    return message


def messages(
    model: str, hour: int, n: int, rng: np.random.Generator, prefix: str = ""
) -> tuple[list[bytes], list[bytes]]:
    """Predictions of `model` dated in hour `hour` of the traffic, and their outcomes 10 minutes later."""
    frame = rows(model, n, rng)
    times = START_S + hour * HOUR_S + np.sort(rng.uniform(0, HOUR_S - 1, n))
    predictions, outcomes = [], []
    for j, (row, t) in enumerate(zip(frame.to_dict("records"), times.tolist(), strict=True)):
        pid = f"{prefix}{model}-{hour}-{j}"
        predictions.append(orjson.dumps(prediction(model, pid, t, row)))
        outcome = {"prediction_id": pid, "model": model, "timestamp": t + 600, "outcome": row["y"]}
        outcomes.append(orjson.dumps(outcome))
    return predictions, outcomes


def poison(model: str, hour: int) -> dict[str, bytes]:
    """One message of each kind from the issue, for `model` in hour `hour` (prediction ids unique)."""
    t = START_S + hour * HOUR_S + 60
    row = rows(model, 1, np.random.default_rng(hour)).to_dict("records")[0]
    numeric = next(n for n, k in FEATURES[model].items() if k == "numeric")

    def with_value(pid: str, value: float) -> bytes:
        message = prediction(model, pid, t, row)
        message["features"][numeric] = value
        return orjson.dumps(message)

    future = prediction(model, f"{model}-2199-{hour}", t, row)
    future["timestamp"] = "2199-06-01T00:00:00Z"
    return {
        "huge": with_value(f"{model}-huge-{hour}", 1e200),
        "max": with_value(f"{model}-max-{hour}", 1e308),
        "min": with_value(f"{model}-min-{hour}", -1e308),
        "future": orjson.dumps(future),
        "inf_text": orjson.dumps(prediction(model, f"{model}-inf-{hour}", t, row)).replace(
            f'"{numeric}":'.encode(), f'"{numeric}":"Infinity","x_{numeric}":'.encode()
        ),
    }
