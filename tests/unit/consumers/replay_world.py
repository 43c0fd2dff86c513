"""A seeded world for replay tests: a classifier with scores and a regressor, their baselines, and
histories (one row per prediction, outcomes known later) with a feature shift from a given hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitor.baselines.baseline import Baseline, build_baseline
from monitor.config import DriftlineConfig, parse_config, resolve_paths

START = datetime(2026, 3, 2, tzinfo=UTC)
FEATURES = {"income": "numeric", "age": "numeric", "plan": "categorical", "rooms": "categorical"}


def config(folder: Path, **extra: Any) -> DriftlineConfig:
    features = [{"name": n, "kind": k} for n, k in FEATURES.items()]
    common = {"features": features, "window": "1h", "allowed_lateness": "1m", "outcome_ttl": "12h"}
    data = {
        "models": [
            {"name": "clf", "task": "classification", "score": "score", "target": "y", **common},
            {"name": "reg", "task": "regression", "target": "y", **common},
        ],
        "baselines": {"path": "baselines", "reservoir_size": 1000},
        "sources": {"dead_letters": "dead-letters.jsonl"},
        **extra,
    }
    return resolve_paths(parse_config(data), folder)


def rows(n: int, rng: np.random.Generator, task: str, shift: float = 0.0) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "income": rng.normal(50 + 15 * shift, 10, n),
            "age": rng.integers(18, 90, n).astype(float),
            "plan": rng.choice(["basic", "pro", "team"], n, p=[0.6, 0.3, 0.1]),
            "rooms": rng.integers(1, 5, n),
        }
    )
    signal = (frame["income"] - 50) / 10
    if task == "classification":
        frame["score"] = 1 / (1 + np.exp(-signal.to_numpy()))
        frame["prediction"] = (frame["score"] > 0.5).astype(int)
        flip = rng.random(n) < 0.1
        frame["y"] = np.where(flip, 1 - frame["prediction"], frame["prediction"])
    else:
        frame["prediction"] = 100 + 20 * signal.to_numpy()
        frame["y"] = frame["prediction"] + rng.normal(0, 5, n)
    return frame


def baselines(cfg: DriftlineConfig) -> dict[tuple[str, str], Baseline]:
    rng = np.random.default_rng(0)
    built = {}
    for model in cfg.models:
        reference = rows(5000, rng, model.task)
        built[(model.name, "1")] = build_baseline(reference, model, cfg.baselines, "1", "test", START)
    return built


def history(
    task: str, hours: int, per_hour: int, shift_from: int | None = None, seed: int = 1, delay_min: int = 30
) -> pd.DataFrame:
    """`hours` of predictions (ISO timestamps), each with its outcome `delay_min` minutes later;
    from hour `shift_from` on, income is shifted by 1.5 standard deviations. Rows are shuffled: a
    log export is rarely in time order."""
    rng = np.random.default_rng(seed)
    parts = []
    for hour in range(hours):
        part = rows(per_hour, rng, task, 1.5 if shift_from is not None and hour >= shift_from else 0.0)
        at = [START + timedelta(hours=hour, seconds=int(s)) for s in np.sort(rng.integers(0, 3600, per_hour))]
        part["timestamp"] = [t.isoformat().replace("+00:00", "Z") for t in at]
        part["outcome_timestamp"] = [
            (t + timedelta(minutes=delay_min)).isoformat().replace("+00:00", "Z") for t in at
        ]
        part["prediction_id"] = [f"{task[:3]}-{hour}-{i}" for i in range(per_hour)]
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.rename(columns={"y": "outcome"})
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
