"""A seeded world for estimated performance: a scored classifier whose accuracy moves with its
inputs alone (a covariate shift, P(y | x) fixed), and a regressor whose error grows where its
inputs move. Events are the JSON messages a user sends, so they go through Service.handle.

Classifier `churn`: the truth is P(y = 1 | x) = sigmoid(2 x - 1); the model's score is an
over-confident but monotone function of it (sigmoid(2.6 x - 1.3)), so calibration has work to do;
the prediction is score >= 0.5. On the reference x ~ N(1.5, 1): most rows sit far from the
boundary, accuracy about 0.84. Shifted, x ~ N(0.5, 0.3): rows crowd at the boundary and accuracy
falls to about 0.62, with no change in how outcomes follow inputs.

Regressor `price`: y = 3 x + noise whose spread grows with |x| (0.2 + |x|), the model predicts 3 x
exactly; shifted, x moves from N(0, 1) to N(1.5, 0.5), still inside the reference's range (DLE's
loss models extrapolate flat beyond it), so the MAE grows from about 0.8 to about 1.4.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import orjson
import pandas as pd

from monitor.baselines.baseline import Baseline, build_baseline
from monitor.config import DriftlineConfig, parse_config

HOUR_MS = 3_600_000
START_MS = int(datetime(2026, 5, 4, tzinfo=UTC).timestamp() * 1000)
NOW = datetime(2026, 6, 1, tzinfo=UTC)  # the service's clock: after every event of the world
SHIFTED = {"churn": (0.5, 0.3), "price": (1.5, 0.5)}
STATIONARY = {"churn": (1.5, 1.0), "price": (0.0, 1.0)}


def config() -> DriftlineConfig:
    common = {"window": "1h", "allowed_lateness": "1m", "outcome_ttl": "2d", "window_sample": 200}
    features = [{"name": "x", "kind": "numeric"}, {"name": "c", "kind": "categorical"}]
    return parse_config(
        {
            "models": [
                {"name": "churn", "task": "classification", "features": features, "score": "score"}
                | {"target": "y"}
                | common,
                {"name": "price", "task": "regression", "features": features, "target": "y"} | common,
            ]
        }
    )


def rows(model: str, n: int, rng: np.random.Generator, shifted: bool = False) -> pd.DataFrame:
    mean, spread = (SHIFTED if shifted else STATIONARY)[model]
    x = rng.normal(mean, spread, n)
    frame = pd.DataFrame({"x": x, "c": rng.choice(["a", "b"], n)})
    if model == "churn":
        truth = 1 / (1 + np.exp(-(2 * x - 1)))
        frame["score"] = 1 / (1 + np.exp(-(2.6 * x - 1.3)))
        frame["prediction"] = (frame["score"] >= 0.5).astype(int).astype(str)
        frame["y"] = (rng.random(n) < truth).astype(int).astype(str)
    else:
        frame["prediction"] = 3 * x
        frame["y"] = 3 * x + rng.normal(0, 1, n) * (0.2 + np.abs(x))
    return frame


def baselines(cfg: DriftlineConfig, seed: int = 0) -> dict[tuple[str, str], Baseline]:
    """Per model: 10,000 training rows, the reference performance and the estimator fitted on
    20,000 held-out ones. DLE needs that many: fitted on 5,000, its loss models' own error where
    the shifted rows go (the reference's tail) was 0.04 of MAE across seeds, more than the band's
    allowance for it (0.024 in all), and biased low (boosted trees shrink the steep tail)."""
    out = {}
    for i, model in enumerate(cfg.models):
        reference = rows(model.name, 10_000, np.random.default_rng(seed + i))
        held_out = rows(model.name, 20_000, np.random.default_rng(seed + 100 + i))
        out[(model.name, "1")] = build_baseline(
            reference,
            model,
            cfg.baselines,
            "1",
            "train",
            datetime(2026, 5, 1, tzinfo=UTC),
            performance=held_out,
            performance_source="held-out",
        )
    return out


def messages(
    model: str, hour: int, n: int, rng: np.random.Generator, shifted: bool = False, delay_h: float = 24
) -> tuple[list[bytes], list[bytes], pd.DataFrame]:
    """Prediction and outcome messages of hour `hour`, and the rows behind them; every outcome
    arrives `delay_h` hours after its prediction."""
    frame = rows(model, n, rng, shifted)
    ts = START_MS + hour * HOUR_MS + np.sort(rng.integers(0, HOUR_MS, n))
    predictions, outcomes = [], []
    for j, (row, t) in enumerate(zip(frame.to_dict("records"), ts.tolist(), strict=True)):
        pid = f"{model}-{hour}-{j}"
        body = {
            "prediction_id": pid,
            "model": model,
            "model_version": "1",
            "timestamp": t / 1000,
            "features": {"x": row["x"], "c": row["c"]},
            "prediction": row["prediction"],
        }
        if model == "churn":
            body["score"] = row["score"]
        predictions.append(orjson.dumps(body))
        outcome = {"prediction_id": pid, "model": model, "timestamp": t / 1000 + delay_h * 3600}
        outcomes.append(orjson.dumps(outcome | {"outcome": row["y"]}))
    return predictions, outcomes, frame
