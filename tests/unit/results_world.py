"""A seeded world of two models for the tests of stored results: `churn`, a classifier with
scores, and `price`, a regressor. Both drift from hour `drift_from` on (churn in `spend`, price
in `area`, which also makes the regressor's errors grow). Events are the JSON messages a user
sends, so the same world feeds Service.handle, files for `driftline run`, and the CLI tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import yaml

from monitor.baselines.baseline import Baseline, build_baseline
from monitor.baselines.store import BaselineStore
from monitor.config import DriftlineConfig, parse_config, resolve_paths
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters

HOUR_S = 3600
START_S = int(datetime(2026, 5, 4, tzinfo=UTC).timestamp())
MODELS = ("churn", "price")
FEATURES = {
    "churn": {"age": "numeric", "spend": "numeric", "plan": "categorical"},
    "price": {"rooms": "numeric", "area": "numeric", "city": "categorical"},
}
DRIFTED = {"churn": "spend", "price": "area"}


def model_sections(**overrides: Any) -> list[dict[str, Any]]:
    common = {
        "window": "1h",
        "allowed_lateness": "1m",
        "outcome_ttl": "6h",
        "window_sample": 300,
        **overrides,
    }
    return [
        {
            "name": "churn",
            "task": "classification",
            "features": [{"name": n, "kind": k} for n, k in FEATURES["churn"].items()],
            "score": "score",
            "target": "y",
            **common,
        },
        {
            "name": "price",
            "task": "regression",
            "features": [{"name": n, "kind": k} for n, k in FEATURES["price"].items()],
            "target": "y",
            **common,
        },
    ]


def config_data(model: dict[str, Any] | None = None, **sections: Any) -> dict[str, Any]:
    """The config as YAML would hold it; `model`: settings for both models (outcome_ttl, ...)."""
    return {
        "models": model_sections(**(model or {})),
        "baselines": {"path": "baselines", "reservoir_size": 1000},
        "sources": {"dead_letters": "dead-letters.jsonl"},
        "state": {"url": "sqlite:///state.db"},
        **sections,
    }


def config(folder: Path, model: dict[str, Any] | None = None, **sections: Any) -> DriftlineConfig:
    return resolve_paths(parse_config(config_data(model, **sections)), folder)


def decided_by_p_values(cfg: DriftlineConfig, model: str) -> DriftlineConfig:
    """`cfg` with `model`'s columns decided by KS and chi-square p-values, as on a small reference
    (its 4,000 reference rows count as small); the other model's stay decided by distances."""
    small = {"small_sample": 10_000}
    models = [
        m.model_copy(update={"drift": m.drift.model_copy(update=small)}) if m.name == model else m
        for m in cfg.models
    ]
    return cfg.model_copy(update={"models": models})


def write_config(folder: Path, model: dict[str, Any] | None = None, **sections: Any) -> Path:
    """The world's config as a YAML file in `folder`, with its baselines built and stored there."""
    path = folder / "driftline.yaml"
    path.write_text(yaml.safe_dump(config_data(model, **sections)))
    save_baselines(config(folder, model, **sections))
    return path


def rows(model: str, n: int, rng: np.random.Generator, drift: bool = False) -> pd.DataFrame:
    if model == "churn":
        frame = pd.DataFrame(
            {
                "age": rng.normal(40, 10, n).round(1),
                "spend": rng.normal(80 if drift else 50, 15, n).round(2),
                "plan": rng.choice(["basic", "pro", "team"], n, p=[0.6, 0.3, 0.1]),
            }
        )
        score = 1 / (1 + np.exp(-(frame["spend"] - 55) / 8))
        frame["score"] = score.round(4)
        frame["prediction"] = (score > 0.5).astype(int).astype(str)
        frame["y"] = np.where(rng.random(n) < score, "1", "0")
        return frame
    frame = pd.DataFrame(
        {
            "rooms": rng.integers(1, 7, n).astype(float),
            "area": rng.normal(140 if drift else 90, 20, n).round(1),
            "city": rng.choice(["north", "south"], n),
        }
    )
    frame["prediction"] = (30_000 * frame["rooms"] + 1_000 * np.minimum(frame["area"], 110)).round(0)
    frame["y"] = (30_000 * frame["rooms"] + 1_000 * frame["area"] + rng.normal(0, 5_000, n)).round(0)
    return frame


def baseline(cfg: DriftlineConfig, model: str, version: str = "1", held_out: int = 0) -> Baseline:
    """Built from 4,000 training rows; with `held_out` rows, reference performance measured on them."""
    seed = MODELS.index(model)
    reference = rows(model, 4000, np.random.default_rng(seed))
    performance = rows(model, held_out, np.random.default_rng(100 + seed)) if held_out else None
    return build_baseline(
        reference,
        cfg.model(model),
        cfg.baselines,
        version,
        "train.csv",
        datetime(2026, 5, 1, tzinfo=UTC),
        performance=performance,
        performance_source="held-out" if held_out else "",
    )


def save_baselines(cfg: DriftlineConfig) -> dict[tuple[str, str], Baseline]:
    store = BaselineStore(cfg.baselines.path)
    built = {}
    for model in MODELS:
        built[(model, "1")] = baseline(cfg, model)
        store.save(built[(model, "1")])
    return built


def ticking(start: datetime = datetime(2026, 5, 6, tzinfo=UTC)) -> Callable[[], datetime]:
    """A clock one second later at every reading: each evaluation has its own evaluated_at."""
    seconds = itertools.count()
    return lambda: start + timedelta(seconds=next(seconds))


def service(cfg: DriftlineConfig, clock: Callable[[], datetime] | None = None) -> Service:
    return Service(cfg, save_baselines(cfg), MemoryDeadLetters(), clock=clock or ticking())


def messages(
    model: str, hour: int, n: int, rng: np.random.Generator, drift: bool = False
) -> tuple[list[bytes], list[bytes]]:
    """Predictions in `hour` and their outcomes ten minutes later, as JSON messages."""
    frame = rows(model, n, rng, drift)
    times = START_S + hour * HOUR_S + np.sort(rng.uniform(0, HOUR_S - 1, n))
    predictions, outcomes = [], []
    for j, (row, t) in enumerate(zip(frame.to_dict("records"), times.tolist(), strict=True)):
        pid = f"{model}-{hour}-{j}"
        body: dict[str, Any] = {
            "prediction_id": pid,
            "model": model,
            "model_version": "1",
            "timestamp": t,
            "features": {k: row[k] for k in FEATURES[model]},
            "prediction": row["prediction"],
        }
        if model == "churn":
            body["score"] = row["score"]
        predictions.append(orjson.dumps(body))
        outcome = {"prediction_id": pid, "model": model, "timestamp": t + 600, "outcome": row["y"]}
        outcomes.append(orjson.dumps(outcome))
    return predictions, outcomes


def event_lines(hours: int, n: int, drift_from: int, seed: int = 1) -> list[bytes]:
    """Every message of `hours` hours of both models, predictions before their outcomes."""
    rng = np.random.default_rng(seed)
    lines: list[bytes] = []
    for hour in range(hours):
        for model in MODELS:
            predictions, outcomes = messages(model, hour, n, rng, drift=hour >= drift_from)
            lines += predictions + outcomes
    return lines


def feed(service: Service, hours: range, n: int, drift_from: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    for hour in hours:
        for model in MODELS:
            predictions, outcomes = messages(model, hour, n, rng, drift=hour >= drift_from)
            service.handle(RawBatch(predictions=predictions, outcomes=outcomes))
