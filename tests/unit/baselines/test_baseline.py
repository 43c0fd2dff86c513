from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitor.baselines.baseline import Baseline, build_baseline, content_id
from monitor.baselines.reference_data import read_reference
from monitor.baselines.store import BaselineStore
from monitor.config import parse_config
from monitor.errors import BaselineError, DataError

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CONFIG = parse_config(
    {
        "models": [
            {
                "name": "churn",
                "task": "classification",
                "features": [{"name": "age", "kind": "numeric"}, {"name": "plan", "kind": "categorical"}],
                "score": "score",
                "target": "churned",
            }
        ],
        "baselines": {"reservoir_size": 100, "bins": 10},
    }
)
MODEL = CONFIG.models[0]


def _frame(n: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, n)
    age[:7] = np.nan
    return pd.DataFrame(
        {
            "age": age,
            "plan": rng.choice(["basic", "pro"], n, p=[0.7, 0.3]),
            "prediction": rng.integers(0, 2, n),
            "score": rng.random(n),
            "churned": rng.integers(0, 2, n),
        }
    )


def _build(frame: pd.DataFrame) -> object:
    return build_baseline(frame, MODEL, CONFIG.baselines, "3", "train.csv", NOW)


def test_baseline_summarises_reference() -> None:
    baseline = _build(_frame())
    age = baseline.profile.features["age"]
    assert age.missing == 7 and age.n_present == 493
    assert len(age.edges) >= 10 and age.moments.min == age.edges[0] and age.moments.max == age.edges[-1]
    plan = baseline.profile.features["plan"]
    assert plan.known == ("basic", "pro") and plan.counts.sum() == 500
    assert set(baseline.profile.prediction.known) == {"0", "1"}
    assert len(baseline.profile.reservoir) == 100
    perf = baseline.reference_performance
    assert perf is not None and 0.3 < perf["accuracy"] < 0.7 and perf["n"] == 500


def test_same_data_same_id_and_different_data_different_id() -> None:
    assert _build(_frame()).id == _build(_frame()).id
    assert _build(_frame()).id != _build(_frame(seed=1)).id


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["plan"]), r"lacks column\(s\) \['plan'\]"),
        (lambda f: f.assign(age=np.nan), "column 'age' is entirely missing"),
        (lambda f: f.assign(age="forty"), "column 'age' is configured numeric but holds non-numeric values"),
        (lambda f: f.assign(age=np.inf), "column 'age' holds infinite values"),
        (lambda f: f.iloc[:0], "has no rows"),
        (lambda f: f.drop(columns=["prediction"]), "lacks the prediction column 'prediction'"),
    ],
)
def test_bad_reference_data_names_the_column(change, message: str) -> None:
    with pytest.raises(DataError, match=message):
        _build(change(_frame()))


def _with(frame: pd.DataFrame, column: str, row: int, value: float) -> pd.DataFrame:
    frame = frame.copy()
    frame[column] = frame[column].astype(float)
    frame.loc[row, column] = value
    return frame


@pytest.mark.parametrize("value", [1e200, -1e101, 1.7976931348623157e308])
def test_values_past_the_accepted_range_are_refused_naming_column_and_row(value: float) -> None:
    # The live decoder rejects them (value_out_of_range): a baseline summarising them could not
    # be compared with any window, and its sums could overflow.
    with pytest.raises(DataError, match=r"model 'churn': column 'age' holds 1 value\(s\) outside") as caught:
        _build(_frame().pipe(_with, "age", 12, value))
    assert f"{value!r} at index 12" in str(caught.value) and "value_out_of_range" in str(caught.value)
    regressor = parse_config(
        {
            "models": [
                {
                    "name": "price",
                    "task": "regression",
                    "features": [{"name": "rooms", "kind": "numeric"}],
                    "target": "sold_for",
                }
            ]
        }
    ).models[0]
    frame = pd.DataFrame(
        {"rooms": [1.0, 2.0, 3.0], "prediction": [1e5, 2e5, 3e5], "sold_for": [1e5, 2e5, 3e5]}
    )
    for column in ("rooms", "prediction", "sold_for"):
        with pytest.raises(DataError, match=f"column '{column}' holds 1 value"):
            build_baseline(_with(frame, column, 1, value), regressor, CONFIG.baselines, "1", "t.csv", NOW)


def test_the_bounds_of_the_accepted_range_are_accepted() -> None:
    frame = _frame().pipe(_with, "age", 3, 1e100).pipe(_with, "age", 4, -1e100)
    age = _build(frame).profile.features["age"]
    assert (age.moments.min, age.moments.max) == (-1e100, 1e100) and np.isfinite(age.moments.m2)


def test_store_round_trip_and_active_pointer(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    first = _build(_frame())
    store.save(first)
    loaded = store.load("churn", "3")
    assert loaded.id == first.id and loaded.to_state() == first.to_state()
    second = _build(_frame(seed=2))
    store.save(second, activate=False)
    assert store.active_id("churn", "3") == first.id
    assert store.load("churn", "3", second.id).id == second.id
    assert store.versions("churn") == ["3"]
    assert [p.name for p in (tmp_path / "churn" / "3").iterdir() if p.name.startswith(".")] == []


def test_store_refuses_tampered_or_missing(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    path = store.save(_build(_frame()))
    with pytest.raises(BaselineError, match="no baseline for model 'churn' version '9'"):
        store.load("churn", "9")
    path.write_text(path.read_text().replace('"n_rows":500', '"n_rows":501'))
    with pytest.raises(BaselineError, match="does not match its content hash"):
        store.load("churn", "3")
    path.write_text("{")
    with pytest.raises(BaselineError, match="corrupt"):
        store.load("churn", "3")


def test_read_reference_csv_and_parquet(tmp_path: Path) -> None:
    frame = _frame()
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    seen: list[tuple[int, int]] = []
    csv = read_reference(tmp_path / "t.csv", ["age", "plan"], lambda done, total: seen.append((done, total)))
    assert list(csv.columns) == ["age", "plan"] and len(csv) == 500 and seen[-1][0] == seen[-1][1]
    parquet = read_reference(tmp_path / "t.parquet", ["age", "plan", "nope"])
    assert list(parquet.columns) == ["age", "plan"] and len(parquet) == 500


def test_read_reference_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="is empty"):
        read_reference(tmp_path / "empty.csv", ["a"])
    (tmp_path / "header.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="has no rows"):
        read_reference(tmp_path / "header.csv", ["a"])
    with pytest.raises(DataError, match="does not exist"):
        read_reference(tmp_path / "missing.csv", ["a"])
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(DataError, match=r"expected a \.csv or \.parquet"):
        read_reference(tmp_path / "x.json", ["a"])


def test_categories_past_the_limit_are_kept_as_unseen() -> None:
    settings = CONFIG.baselines.model_copy(update={"max_categories": 2})
    frame = _frame()
    frame["plan"] = ["basic"] * 300 + ["pro"] * 150 + ["team"] * 40 + [None] * 10
    baseline = build_baseline(frame, MODEL, settings, "3", "train.csv", NOW)
    plan = baseline.profile.features["plan"]
    assert plan.known == ("basic", "pro") and plan.counts.tolist() == [300, 150]
    assert plan.unseen == {"team": 40} and plan.missing == 10
    assert baseline.truncated_categories == ("plan",)


# ---------------------------------------------------------------- reference performance


def _accuracy_frame(n: int, accuracy: float, seed: int) -> pd.DataFrame:
    frame = _frame(n, seed)
    rng = np.random.default_rng(seed + 100)
    right = rng.random(n) < accuracy
    frame["churned"] = np.where(right, frame["prediction"], 1 - frame["prediction"])
    return frame


def test_reference_performance_comes_from_held_out_rows_when_given() -> None:
    train, held_out = _accuracy_frame(2000, 0.95, 0), _accuracy_frame(1000, 0.80, 1)
    baseline = build_baseline(
        train,
        MODEL,
        CONFIG.baselines,
        "3",
        "train.csv",
        NOW,
        performance=held_out,
        performance_source="v.csv",
    )
    perf = baseline.reference_performance
    assert perf is not None and perf["n"] == 1000 and perf["accuracy"] == pytest.approx(0.80, abs=0.03)
    assert baseline.reference_origin == {"method": "held_out", "source": "v.csv", "rows": 1000}
    # The target drift profile still comes from the training data.
    assert baseline.profile.target is not None and baseline.profile.target.counts.sum() == 2000


def test_in_sample_performance_is_inflated_by_the_documented_margin() -> None:
    baseline = _build(_accuracy_frame(2000, 0.95, 0))
    origin = baseline.reference_origin
    assert origin is not None and origin["method"] == "in_sample_inflated"
    raw = origin["in_sample"]["accuracy"]
    perf = baseline.reference_performance
    assert perf is not None
    assert 1 - perf["accuracy"] == pytest.approx(1.25 * (1 - raw) + 0.01)  # error 1.25 e + 0.01
    assert perf["log_loss"] == pytest.approx(1.25 * origin["in_sample"]["log_loss"])
    assert perf["n"] == 2000


def test_regression_in_sample_errors_are_inflated() -> None:
    config = parse_config(
        {
            "models": [
                {
                    "name": "price",
                    "task": "regression",
                    "features": [{"name": "age", "kind": "numeric"}],
                    "target": "y",
                }
            ]
        }
    )
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"age": rng.normal(size=500), "prediction": rng.normal(size=500)})
    frame["y"] = frame["prediction"] + rng.normal(0, 2, 500)
    baseline = build_baseline(frame, config.models[0], config.baselines, "1", "t.csv", NOW)
    perf, origin = baseline.reference_performance, baseline.reference_origin
    assert perf is not None and origin is not None
    for metric in ("mae", "rmse", "abs_error_std"):
        assert perf[metric] == pytest.approx(1.25 * origin["in_sample"][metric])
    assert 1 - perf["r2"] == pytest.approx(1.25 * (1 - origin["in_sample"]["r2"]))


def test_a_configured_target_missing_from_the_data_is_an_error_unless_waived() -> None:
    frame = _frame().drop(columns=["churned"])
    with pytest.raises(DataError, match=r"names target 'churned' .* \(--no-target\)"):
        _build(frame)
    waived = build_baseline(frame, MODEL, CONFIG.baselines, "3", "t.csv", NOW, require_target=False)
    assert waived.profile.target is None and waived.reference_performance is None
    assert waived.reference_origin is None
    held_out = build_baseline(
        frame, MODEL, CONFIG.baselines, "3", "t.csv", NOW, performance=_frame(200, 5), require_target=False
    )
    assert held_out.reference_performance is not None and held_out.reference_performance["n"] == 200


def test_held_out_rows_need_the_prediction_and_the_target() -> None:
    with pytest.raises(DataError, match=r"performance data lacks column\(s\) \['churned'\]"):
        build_baseline(
            _frame(),
            MODEL,
            CONFIG.baselines,
            "3",
            "t.csv",
            NOW,
            performance=_frame().drop(columns=["churned"]),
        )
    no_target = MODEL.model_copy(update={"target": None})
    with pytest.raises(DataError, match="names none"):
        build_baseline(_frame(), no_target, CONFIG.baselines, "3", "t.csv", NOW, performance=_frame())


def test_a_baseline_without_a_recorded_origin_keeps_its_id() -> None:
    # Built before the origin was recorded: the field is absent from its content, so its id is unchanged.
    baseline = _build(_frame())
    state = baseline.to_state()
    del state["reference_origin"]
    old = Baseline.from_state(state)
    assert old.reference_origin is None
    content = {k: v for k, v in state.items() if k not in ("id", "created_at", "source")}
    assert old.id == content_id(content) != baseline.id


def test_the_estimator_is_fitted_on_the_held_out_rows_and_stored_with_the_baseline(tmp_path: Path) -> None:
    train, held_out = _accuracy_frame(2000, 0.95, 0), _accuracy_frame(1000, 0.80, 1)
    baseline = build_baseline(
        train, MODEL, CONFIG.baselines, "3", "train.csv", NOW, performance=held_out, performance_source="v"
    )
    estimator = baseline.performance_estimator
    assert estimator is not None and baseline.estimator is not None
    assert baseline.estimator["kind"] == "cbpe" and estimator.n_reference == 1000  # held-out rows only
    in_sample = _build(train)
    assert in_sample.estimator is not None and in_sample.estimator["n_reference"] == 2000
    assert in_sample.id != _build(_accuracy_frame(2000, 0.95, 1)).id
    path = BaselineStore(tmp_path).save(baseline, activate=True)
    loaded = BaselineStore(tmp_path).load("churn", "3", baseline.id)
    assert path.exists() and loaded.id == baseline.id and loaded.estimator == baseline.estimator


def test_a_baseline_without_an_estimator_keeps_its_id_and_has_no_estimate() -> None:
    baseline = _build(_frame())
    state = baseline.to_state()
    assert "estimator" in state
    del state["estimator"]
    old = Baseline.from_state(state)
    assert old.estimator is None and old.performance_estimator is None
    content = {k: v for k, v in state.items() if k not in ("id", "created_at", "source")}
    assert old.id == content_id(content) != baseline.id


def test_no_estimator_without_a_score_or_with_a_multiclass_target() -> None:
    no_score = build_baseline(_frame().drop(columns=["score"]), MODEL, CONFIG.baselines, "3", "t.csv", NOW)
    assert no_score.estimator is None and "no score" in no_score.estimator_note
    three = _frame().assign(churned=np.arange(500) % 3)
    multiclass = build_baseline(three, MODEL, CONFIG.baselines, "3", "t.csv", NOW)
    assert multiclass.estimator is None and "binary target" in multiclass.estimator_note
