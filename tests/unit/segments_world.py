"""A seeded world for drift per segment: a classifier with numeric features `f00`, `f01`, ... and
one categorical `c`, each row in a segment `s00`, `s01`, ... (the reference's column `region`,
the live messages' `"segment"` field). Segment k is drawn with weight 1 / (k + 1) (or all alike),
so the segments rank by frequency in their order, and the cap keeps the first ones. Every feature is
independent standard normal (c uniform over a, b, c) in every segment, unless `shift` moves one
feature in one segment. Events are the JSON messages a user sends, so they go through
Service.handle."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd

from monitor.baselines.baseline import Baseline, build_baseline
from monitor.config import DriftlineConfig, parse_config

HOUR_MS = 3_600_000
START_MS = int(datetime(2026, 5, 4, tzinfo=UTC).timestamp() * 1000)
NOW = datetime(2026, 6, 1, tzinfo=UTC)  # the service's clock: after every event of the world


def feature_names(n_features: int) -> list[str]:
    return [f"f{i:02d}" for i in range(n_features)]


def segment_names(n_segments: int) -> list[str]:
    return [f"s{i:02d}" for i in range(n_segments)]


def config(n_features: int, segments: dict[str, Any] | None) -> DriftlineConfig:
    features = [{"name": name, "kind": "numeric"} for name in feature_names(n_features)]
    features.append({"name": "c", "kind": "categorical"})
    model = {
        "name": "churn",
        "task": "classification",
        "features": features,
        "window": "1h",
        "allowed_lateness": "1m",
        "window_sample": 100,
        "segments": segments,
    }
    return parse_config({"models": [model]})


def rows(
    n: int,
    rng: np.random.Generator,
    n_features: int,
    n_segments: int,
    shift: tuple[str, str, float] | None = None,
    skewed: bool = True,
) -> pd.DataFrame:
    """`shift`: (segment, feature, delta): that feature's values in that segment move by delta.
    `skewed` False: every segment equally frequent."""
    weights = 1 / np.arange(1, n_segments + 1) if skewed else np.ones(n_segments)
    region = np.asarray(segment_names(n_segments), dtype=object)[
        rng.choice(n_segments, n, p=weights / weights.sum())
    ]
    frame = pd.DataFrame({name: rng.normal(0, 1, n) for name in feature_names(n_features)})
    frame["c"] = rng.choice(["a", "b", "c"], n)
    frame["prediction"] = rng.choice(["0", "1"], n)
    frame["region"] = region
    if shift is not None:
        segment, feature, delta = shift
        frame.loc[frame["region"] == segment, feature] += delta
    return frame


def baseline(cfg: DriftlineConfig, frame: pd.DataFrame) -> dict[tuple[str, str], Baseline]:
    built = build_baseline(
        frame,
        cfg.models[0],
        cfg.baselines,
        "1",
        "train",
        datetime(2026, 5, 1, tzinfo=UTC),
        require_target=False,
    )
    return {("churn", "1"): built}


def messages(frame: pd.DataFrame, hour: int, rng: np.random.Generator) -> list[bytes]:
    """One prediction message per row, in hour `hour`; the segment from the row's `region`."""
    ts = START_MS + hour * HOUR_MS + np.sort(rng.integers(0, HOUR_MS, len(frame)))
    names = [c for c in frame.columns if c not in ("prediction", "region")]
    values = frame[names].to_dict("records")
    out = []
    for j, (features, prediction, region, t) in enumerate(
        zip(values, frame["prediction"], frame["region"], ts.tolist(), strict=True)
    ):
        body = {
            "prediction_id": f"{hour}-{j}",
            "model": "churn",
            "model_version": "1",
            "timestamp": t / 1000,
            "features": features,
            "prediction": prediction,
        }
        if region is not None:
            body["segment"] = region
        out.append(orjson.dumps(body))
    return out
