"""The demo's world: a churn-like population, a model trained on it, and two kinds of drift.

* feature drift: customers' spend rises and the traffic moves towards other regions
  (inputs change, the model stays about as right as before);
* concept drift: the features keep their distribution but what drives churn changes
  (support calls stop mattering, tenure starts to matter the other way round), so
  the trained model's errors grow while every feature looks unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

NUMERIC = ["age", "tenure_months", "monthly_spend", "support_calls", "sessions_per_week"]
CATEGORICAL = ["plan", "region", "payment_method"]
FEATURES = NUMERIC + CATEGORICAL

PLANS = ["basic", "pro", "enterprise"]
REGIONS = ["eu", "us", "apac", "latam"]
PAYMENTS = ["card", "bank", "paypal"]


@dataclass(frozen=True)
class World:
    """How customers look (`feature_drift`) and why they churn (`concept_drift`)."""

    feature_drift: bool = False
    concept_drift: bool = False


def customers(n: int, world: World, rng: np.random.Generator) -> pd.DataFrame:
    spend_shift = 18.0 if world.feature_drift else 0.0
    region_mix = [0.15, 0.25, 0.45, 0.15] if world.feature_drift else [0.35, 0.35, 0.2, 0.1]
    frame = pd.DataFrame(
        {
            "age": rng.normal(41, 12, n).clip(18, 90).round(),
            "tenure_months": rng.gamma(2.0, 12.0, n).round(1),
            "monthly_spend": rng.lognormal(3.4, 0.45, n).round(2) + spend_shift,
            "support_calls": rng.poisson(1.4, n).astype(float),
            "sessions_per_week": rng.gamma(3.0, 1.5, n).round(1),
            "plan": rng.choice(PLANS, n, p=[0.45, 0.40, 0.15]),
            "region": rng.choice(REGIONS, n, p=region_mix),
            "payment_method": rng.choice(PAYMENTS, n, p=[0.6, 0.25, 0.15]),
        }
    )
    frame["churned"] = (rng.random(n) < churn_probability(frame, world)).astype(int)
    return frame


def churn_probability(frame: pd.DataFrame, world: World) -> np.ndarray:
    plan_effect = frame["plan"].map({"basic": 0.6, "pro": 0.0, "enterprise": -0.8}).to_numpy()
    if world.concept_drift:
        logit = (
            -1.2
            + 0.05 * (frame["tenure_months"] - 24)
            - 0.3 * (frame["support_calls"] - 1.4)
            - 0.4 * (frame["sessions_per_week"] - 4.5)
            - plan_effect
        )
    else:
        logit = (
            -1.2
            - 0.06 * (frame["tenure_months"] - 24)
            + 0.55 * (frame["support_calls"] - 1.4)
            - 0.25 * (frame["sessions_per_week"] - 4.5)
            + plan_effect
            + 0.01 * (frame["monthly_spend"] - 33)
        )
    return 1.0 / (1.0 + np.exp(-np.asarray(logit, dtype=float)))


def train_model(frame: pd.DataFrame, leave_out: tuple[str, ...] = ()) -> Pipeline:
    """A logistic regression on the features; `leave_out` numeric ones make a weaker version (the
    demo's canary is trained without `tenure_months`)."""
    numeric = [c for c in NUMERIC if c not in leave_out]
    model = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), numeric),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
                    ]
                ),
            ),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    )
    model.fit(frame[FEATURES], frame["churned"])
    return model


def held_out(model: Pipeline, seed: int, n: int = 20_000) -> pd.DataFrame:
    """Customers the model was not trained on, scored: the baseline's reference performance is
    measured on them (`--performance-data`), not on the training data the model has fitted. From a
    generator of their own, so the demo's stream is the same with or without them."""
    frame = customers(n, World(), np.random.default_rng([seed, 1]))
    frame["prediction"], frame["score"] = score(model, frame)
    return frame


def score(model: Pipeline, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(predicted label, probability of churn) for each row."""
    proba = model.predict_proba(frame[FEATURES])[:, 1]
    return (proba >= 0.5).astype(int), proba


def _iso(ms: np.ndarray) -> list[str]:
    return [f"{t}Z" for t in np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms")]


def prediction_messages(
    model: Pipeline, live: pd.DataFrame, ids: list[str], ts_ms: np.ndarray, version: str = "1"
) -> list[bytes]:
    predicted, proba = score(model, live)
    rows = live[FEATURES].to_dict("records")
    stamps = _iso(ts_ms)
    return [
        orjson.dumps(
            {
                "prediction_id": pid,
                "model": "churn",
                "model_version": version,
                "timestamp": stamp,
                "features": features,
                "prediction": int(label),
                "score": round(float(p), 6),
            }
        )
        for pid, stamp, features, label, p in zip(ids, stamps, rows, predicted, proba, strict=True)
    ]


def outcome_messages(ids: list[str], truth: np.ndarray, arrival_ms: np.ndarray) -> list[bytes]:
    stamps = _iso(arrival_ms)
    return [
        orjson.dumps({"prediction_id": pid, "model": "churn", "timestamp": stamp, "outcome": int(y)})
        for pid, y, stamp in zip(ids, truth, stamps, strict=True)
    ]


@dataclass(frozen=True)
class Canary:
    """A candidate version serving a random `share` of the rows (the rest go to version "1")."""

    model: Pipeline
    share: float
    rng: np.random.Generator  # draws which rows it serves, apart from the world's own draws
    version: str = "2"


@dataclass(frozen=True)
class Event:
    arrival_ms: int
    topic: str  # "predictions" or "outcomes"
    message: bytes
    key: bytes = b""  # the prediction id: the Kafka key that co-partitions a prediction and its outcome


def window_events(
    model: Pipeline,
    world: World,
    index: int,
    start_ms: int,
    window_ms: int,
    rows: int,
    rng: np.random.Generator,
    outcome_share: float = 0.9,
    median_delay_s: float = 2 * 3600,
    canary: Canary | None = None,
) -> list[Event]:
    """One window of predictions, and the outcomes that will arrive for them later (some never);
    with a `canary`, a random share of the rows is predicted by it instead."""
    live = customers(rows, world, rng)
    ts = np.sort(start_ms + rng.integers(0, window_ms, rows))
    ids = [f"w{index}-{j}" for j in range(rows)]
    served = np.zeros(rows, dtype=bool) if canary is None else canary.rng.random(rows) < canary.share
    servers = [("1", ~served, model)]
    if canary is not None:
        servers.append((canary.version, served, canary.model))
    events = []
    for version, chosen, by in servers:
        picked = np.flatnonzero(chosen)
        chosen_ids = [ids[i] for i in picked]
        messages = prediction_messages(by, live.iloc[picked], chosen_ids, ts[picked], version)
        events += [
            Event(int(t), "predictions", m, pid.encode())
            for t, m, pid in zip(ts[picked], messages, chosen_ids, strict=True)
        ]
    comes = np.flatnonzero(rng.random(rows) < outcome_share)
    delay_ms = (rng.lognormal(np.log(median_delay_s), 0.8, len(comes)) * 1000).astype(np.int64)
    arrival = ts[comes] + delay_ms
    messages = outcome_messages([ids[i] for i in comes], live["churned"].to_numpy()[comes], arrival)
    keys = [ids[i].encode() for i in comes]
    events += [Event(int(t), "outcomes", m, k) for t, m, k in zip(arrival, messages, keys, strict=True)]
    return events
