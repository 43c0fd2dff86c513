"""`driftline init` on data shipped with scikit-learn: a classifier with scores (breast cancer, 30
features) and a regressor (diabetes, 10 features): the config it writes loads, names every feature
with its kind, turns the default alert rules on, and the baseline is built."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

from monitor.baselines.store import BaselineStore
from monitor.cli import app
from monitor.config import load_config

runner = CliRunner()


def classifier_csv(folder: Path) -> Path:
    data = load_breast_cancer(as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(data.data, data.target)
    frame = data.data.copy()
    frame["label"] = data.target
    frame["pred"] = model.predict(data.data)
    frame["proba"] = model.predict_proba(data.data)[:, 1]
    frame.insert(0, "patient_id", range(len(frame)))
    path = folder / "cancer.csv"
    frame.to_csv(path, index=False)
    return path


def regressor_parquet(folder: Path) -> Path:
    data = load_diabetes(as_frame=True, scaled=False)
    model = LinearRegression().fit(data.data, data.target)
    frame = data.data.copy()
    frame["progression"] = data.target
    frame["prediction"] = model.predict(data.data)
    path = folder / "diabetes.parquet"
    frame.to_parquet(path)
    return path


def test_a_classifier_with_scores(tmp_path: Path) -> None:
    data = classifier_csv(tmp_path)
    config = tmp_path / "conf" / "driftline.yaml"
    args = ["init", "--data", str(data), "--target", "label", "--prediction", "pred", "--score", "proba"]
    result = runner.invoke(app, [*args, "--config", str(config)])
    assert result.exit_code == 0, result.output
    cfg = load_config(config)
    model = cfg.model("cancer")
    assert model.task == "classification" and (model.prediction, model.score, model.target) == (
        "pred",
        "proba",
        "label",
    )
    assert [f.name for f in model.features] == list(load_breast_cancer().feature_names)
    assert {f.kind for f in model.features} == {"numeric"}
    assert cfg.alerts.active and cfg.api.enabled and cfg.sources.inputs[0].kind == "directory"
    assert cfg.state.url.startswith("rocksdb:") and cfg.state.url.endswith("driftline-state")
    text = config.read_text()
    assert "#   patient_id: an id" in text  # skipped, with the reason, where the user sees it
    assert "rule: float -> numeric" in result.output and "patient_id" in result.output
    baseline = BaselineStore(cfg.baselines.path).load("cancer", "1")
    assert baseline.n_rows == 569 and baseline.reference_performance is not None
    assert baseline.reference_performance["roc_auc"] is not None
    assert "driftline replay -c" in result.output


def test_a_regressor_from_parquet(tmp_path: Path) -> None:
    data = regressor_parquet(tmp_path)
    config = tmp_path / "driftline.yaml"
    result = runner.invoke(
        app, ["init", "-d", str(data), "-t", "progression", "-m", "diabetes", "-c", str(config), "-v", "7"]
    )
    assert result.exit_code == 0, result.output
    model = load_config(config).model("diabetes")
    assert model.task == "regression" and model.score is None
    assert [f.name for f in model.features] == list(load_diabetes().feature_names)
    assert "# score: proba" in config.read_text()  # the optional keys are there, commented out
    assert BaselineStore(tmp_path / "baselines").load("diabetes", "7").reference_performance["mae"] > 0


def test_an_existing_config_is_kept_without_force(tmp_path: Path) -> None:
    data = classifier_csv(tmp_path)
    config = tmp_path / "driftline.yaml"
    config.write_text("# mine\n")
    args = ["init", "-d", str(data), "-p", "pred", "-t", "label", "-c", str(config)]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "pass --force" in refused.output
    assert config.read_text() == "# mine\n"
    forced = runner.invoke(app, [*args, "--force", "--exclude", "mean radius", "-x", "mean area"])
    assert forced.exit_code == 0, forced.output
    names = [f.name for f in load_config(config).model("cancer").features]
    assert "mean radius" not in names and "mean area" not in names
    assert len(names) == 29  # 30 - 2 excluded, + proba (not named as the score here, so a feature)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["-p", "predicted"], "no column 'predicted' for --prediction (the model's output"),
        (["-p", "pred", "-t", "truth"], "no column 'truth' for --target"),
        (["-p", "pred", "--task", "ranking"], "--task must be classification or regression"),
    ],
)
def test_a_missing_column_writes_nothing(tmp_path: Path, extra: list[str], words: str) -> None:
    data = classifier_csv(tmp_path)
    config = tmp_path / "driftline.yaml"
    result = runner.invoke(app, ["init", "-d", str(data), "-c", str(config), *extra])
    assert result.exit_code == 2
    assert words in result.output and "Traceback" not in result.output
    assert not config.exists() and not (tmp_path / "baselines").exists()


def test_names_yaml_would_misread_are_kept(tmp_path: Path) -> None:
    """Column names that YAML would read as something else (true, 1e3, a colon, quotes)."""
    frame = pd.DataFrame(
        {"true": [1.5, 2.5, 3.5] * 10, "1e3": [0.1, 0.2, 0.3] * 10, 'a: "b"': ["x", "y", "z"] * 10}
    )
    frame["prediction"] = [0, 1, 1] * 10
    frame.to_csv(tmp_path / "odd.csv", index=False)
    config = tmp_path / "driftline.yaml"
    result = runner.invoke(app, ["init", "-d", str(tmp_path / "odd.csv"), "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert [f.name for f in load_config(config).model("odd").features] == ["true", "1e3", 'a: "b"']
    assert yaml.safe_load(config.read_text())["models"][0]["name"] == "odd"
