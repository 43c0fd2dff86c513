"""A user's first hour, in the README's steps and with no server: a CSV shipped with scikit-learn, a
model trained on it, `driftline init` on the training file, then `driftline replay` of generated
prediction events with a shift injected into one feature; the replay names that feature.

A classifier with scores (breast cancer) and a regressor (diabetes). Then the README's next steps,
still without a server: `driftline windows --config C --json` reads the replayed windows back from
the state store, and `driftline report --config C --model M --window latest --out F` renders the
newest window's Evidently report from the stored row sample, where the shifted feature drifted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

from monitor.cli import app
from tests.unit.api.test_reports import evidently_verdicts

HOURS, SHIFT_FROM, PER_HOUR = 6, 3, 2000
runner = CliRunner()


def _cancer() -> tuple[pd.DataFrame, Any, str, list[str]]:
    data = load_breast_cancer(as_frame=True)  # reads sklearn/datasets/data/breast_cancer.csv
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(data.data, data.target)
    train = data.data.assign(
        prediction=model.predict(data.data), score=model.predict_proba(data.data)[:, 1], target=data.target
    )
    return train, model, "worst radius", ["--target", "target", "--score", "score"]


def _diabetes() -> tuple[pd.DataFrame, Any, str, list[str]]:
    data = load_diabetes(as_frame=True, scaled=False)  # reads diabetes_data_raw.csv.gz
    model = LinearRegression().fit(data.data, data.target)
    train = data.data.assign(prediction=model.predict(data.data), target=data.target)
    return train, model, "bmi", ["--target", "target"]


def _events(train: pd.DataFrame, model: Any, shifted: str, features: list[str], score: bool) -> pd.DataFrame:
    """Hourly predictions on resampled training rows; from hour SHIFT_FROM the feature `shifted`
    grows by 30 %. The model predicts on what it sees; outcomes arrive 20 minutes later."""
    rng = np.random.default_rng(11)
    rows = train[features].iloc[rng.integers(0, len(train), HOURS * PER_HOUR)].reset_index(drop=True)
    hour = np.repeat(np.arange(HOURS), PER_HOUR)
    rows.loc[hour >= SHIFT_FROM, shifted] *= 1.3
    events = rows.copy()
    events["prediction"] = model.predict(rows)
    if score:
        events["score"] = model.predict_proba(rows)[:, 1]
    start = pd.Timestamp("2026-06-01T00:00:00Z")
    at = start + pd.to_timedelta(hour * 3600 + rng.integers(0, 3600, len(rows)), unit="s")
    events["timestamp"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    events["prediction_id"] = [f"e{i}" for i in range(len(rows))]
    events["outcome"] = train["target"].to_numpy()[rng.integers(0, len(train), len(rows))]
    events["outcome_timestamp"] = (at + pd.Timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return events


@pytest.mark.parametrize(("make", "name"), [(_cancer, "cancer"), (_diabetes, "diabetes")])
def test_from_a_scikit_learn_csv_to_the_drifted_feature(tmp_path: Path, make: Any, name: str) -> None:
    train, model, shifted, options = make()
    train.to_csv(tmp_path / "train.csv", index=False)
    config = tmp_path / "driftline.yaml"
    init = runner.invoke(
        app,
        ["init", "--data", str(tmp_path / "train.csv"), "--model", name, "--config", str(config), *options],
    )
    assert init.exit_code == 0, init.output

    features = [c for c in train.columns if c not in ("prediction", "score", "target")]
    _events(train, model, shifted, features, score="--score" in options).to_csv(
        tmp_path / "events.csv", index=False
    )
    replay = runner.invoke(
        app, ["replay", "-c", str(config), "--data", str(tmp_path / "events.csv"), "--json"]
    )
    assert replay.exit_code == 0, replay.output
    report = json.loads(replay.stdout)
    assert report["counters"]["predictions"] == HOURS * PER_HOUR and report["counters"]["rejected"] == 0
    flagged = [shifted in w["drifted_features"] for w in report["windows"]]
    assert flagged == [False] * SHIFT_FROM + [True] * (HOURS - SHIFT_FROM), report["windows"]
    fired = {
        a["subject"] for a in report["alerts"] if a["rule"] == "feature_drift" and a["status"] == "firing"
    }
    assert shifted in fired  # init's config has the default alert rules on

    listed = runner.invoke(app, ["windows", "--config", str(config), "--model", name, "--json"])
    assert listed.exit_code == 0, listed.output
    (stream,) = json.loads(listed.stdout)["streams"]
    windows = stream["windows"]
    assert [shifted in w["drift"]["drifted_features"] for w in windows] == flagged
    html = tmp_path / "report.html"
    shown = runner.invoke(
        app, ["report", "--config", str(config), "--model", name, "--window", "latest", "--out", str(html)]
    )
    assert shown.exit_code == 0, shown.output
    assert evidently_verdicts(html.read_text())[shifted] is True
