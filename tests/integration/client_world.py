"""Two models on data shipped with scikit-learn, for the client's tests against the real service: a
classifier with scores (breast cancer, 30 features) and a regressor (diabetes, 10 features). Their
baselines come from the training halves; the other halves are what the client logs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from monitor.baselines.baseline import build_baseline
from monitor.baselines.store import BaselineStore
from monitor.config import parse_config

KEY = "client-test-key-9c2e"


@dataclass
class Served:
    """What one model's live half looks like to the client: features, its outputs, the truth."""

    model: str
    features: pd.DataFrame
    prediction: np.ndarray
    score: np.ndarray | None
    truth: np.ndarray


def _halves(frame: pd.DataFrame, target: pd.Series) -> tuple[Any, ...]:
    order = np.random.default_rng(0).permutation(len(frame))
    train, live = order[: len(order) // 2], order[len(order) // 2 :]
    return frame.iloc[train], target.iloc[train], frame.iloc[live].reset_index(drop=True), target.iloc[live]


def models() -> tuple[dict[str, Any], dict[str, pd.DataFrame], list[Served]]:
    """Config entries of both models, their reference frames, and their live halves."""
    cancer = load_breast_cancer(as_frame=True)
    x, y, live_x, live_y = _halves(cancer.data, cancer.target)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x, y)
    ref_c = x.assign(prediction=clf.predict(x), score=clf.predict_proba(x)[:, 1], y=y.to_numpy())
    diabetes = load_diabetes(as_frame=True, scaled=False)
    dx, dy, live_dx, live_dy = _halves(diabetes.data, diabetes.target)
    reg = LinearRegression().fit(dx, dy)
    ref_r = dx.assign(prediction=reg.predict(dx), y=dy.to_numpy())
    entries = [
        {
            "name": "cancer",
            "task": "classification",
            "features": [{"name": str(c), "kind": "numeric"} for c in cancer.data.columns],
            "score": "score",
            "target": "y",
            "outcome_ttl": "30d",
        },
        {
            "name": "diabetes",
            "task": "regression",
            "features": [{"name": str(c), "kind": "numeric"} for c in diabetes.data.columns],
            "target": "y",
            "outcome_ttl": "30d",
        },
    ]
    served = [
        Served("cancer", live_x, clf.predict(live_x), clf.predict_proba(live_x)[:, 1], live_y.to_numpy()),
        Served("diabetes", live_dx, reg.predict(live_dx), None, live_dy.to_numpy()),
    ]
    return {"models": entries}, {"cancer": ref_c, "diabetes": ref_r}, served


def write_config(folder: Path, sources: dict[str, Any], api: dict[str, Any]) -> tuple[Path, list[Served]]:
    """A config with both models, their baselines built (version 1), and the given sources and API."""
    entries, references, served = models()
    cfg = parse_config(entries)
    store = BaselineStore(folder / "baselines")
    for model in cfg.models:
        baseline = build_baseline(
            references[model.name], model, cfg.baselines, "1", "train", datetime(2026, 1, 1, tzinfo=UTC)
        )
        store.save(baseline)
    data = {
        **entries,
        "baselines": {"path": "baselines"},
        "sources": {"dead_letters": "dead-letters.jsonl", "poll_interval": "50ms", **sources},
        "state": {"url": "sqlite:///state.db"},
        "api": api,
        "evaluation": {"interval": "500ms"},
    }
    path = folder / "driftline.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, served
