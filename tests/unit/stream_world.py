"""A small seeded world for pipeline tests: a baseline and columnar batches with known drift."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import orjson
import pandas as pd

from monitor.baselines.baseline import Baseline, build_baseline
from monitor.config import DriftlineConfig, parse_config
from monitor.pipeline.events import OutcomeBatch, PredictionBatch

HOUR_MS = 3_600_000
FEATURES = {"x1": "numeric", "x2": "numeric", "x3": "numeric", "c1": "categorical", "c2": "categorical"}


def config(**model: object) -> DriftlineConfig:
    return parse_config(
        {
            "models": [
                {
                    "name": "m",
                    "task": "classification",
                    "features": [{"name": n, "kind": k} for n, k in FEATURES.items()],
                    "target": "y",
                    "window": "1h",
                    "allowed_lateness": "1m",
                    "outcome_ttl": "6h",
                    **model,
                }
            ]
        }
    )


def rows(n: int, rng: np.random.Generator, shift: float = 0.0, concept: bool = False) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "x1": rng.normal(shift, 1, n),
            "x2": rng.normal(0, 1, n),
            "x3": rng.exponential(1, n),
            "c1": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
            "c2": rng.choice(["u", "v"], n),
        }
    )
    # The model predicts x2 > 0; the truth follows it 90% of the time, or, after a concept
    # change, only 70% of the time (features unchanged).
    frame["prediction"] = (frame["x2"] > 0).astype(int).astype(str)
    agree = rng.random(n) < (0.7 if concept else 0.9)
    frame["y"] = np.where(agree, frame["prediction"], np.where(frame["prediction"] == "1", "0", "1"))
    return frame


def baseline(cfg: DriftlineConfig, seed: int = 0) -> Baseline:
    """Built from 20,000 training rows, with the reference performance measured on 5,000 held-out ones."""
    reference = rows(20_000, np.random.default_rng(seed))
    held_out = rows(5_000, np.random.default_rng(seed + 10_000))
    return build_baseline(
        reference,
        cfg.models[0],
        cfg.baselines,
        "1",
        "test",
        datetime(2026, 1, 1, tzinfo=UTC),
        performance=held_out,
        performance_source="held-out",
    )


def predictions(frame: pd.DataFrame, ids: list[str], ts: np.ndarray) -> PredictionBatch:
    return PredictionBatch(
        model="m",
        model_version="1",
        prediction_id=np.asarray(ids, dtype=object),
        timestamp=np.asarray(ts, dtype=np.int64),
        features={
            n: frame[n].to_numpy(dtype=float if k == "numeric" else object) for n, k in FEATURES.items()
        },
        prediction=frame["prediction"].to_numpy(dtype=object),
        score=np.full(len(frame), np.nan),
        segment=np.full(len(frame), None, dtype=object),
    )


def outcomes(frame: pd.DataFrame, ids: list[str], ts: np.ndarray) -> OutcomeBatch:
    return OutcomeBatch(
        model="m",
        prediction_id=np.asarray(ids, dtype=object),
        timestamp=np.asarray(ts, dtype=np.int64),
        outcome=frame["y"].to_numpy(dtype=object),
    )


Message = tuple[str, bytes]  # (prediction_id, JSON)


def messages(
    window: int,
    n: int,
    rng: np.random.Generator,
    shift: float = 0.0,
    outcome_delay_s: float = 600,
    outcome_every: int = 1,
    prefix: str = "",
) -> tuple[list[Message], list[Message]]:
    """JSON prediction messages for hour `window` of the world, and outcome messages for every
    `outcome_every`-th of them, `outcome_delay_s` later (timestamps in epoch seconds)."""
    frame = rows(n, rng, shift=shift)
    ts = window * HOUR_MS + np.sort(rng.integers(0, HOUR_MS, n))
    predictions, outcomes = [], []
    for j, (row, t) in enumerate(zip(frame.to_dict("records"), ts.tolist(), strict=True)):
        pid = f"{prefix}{window}-{j}"
        body = {
            "prediction_id": pid,
            "model": "m",
            "model_version": "1",
            "timestamp": t / 1000,
            "features": {k: row[k] for k in FEATURES},
            "prediction": row["prediction"],
        }
        predictions.append((pid, orjson.dumps(body)))
        if j % outcome_every == 0:
            outcome = {
                "prediction_id": pid,
                "model": "m",
                "timestamp": t / 1000 + outcome_delay_s,
                "outcome": row["y"],
            }
            outcomes.append((pid, orjson.dumps(outcome)))
    return predictions, outcomes
