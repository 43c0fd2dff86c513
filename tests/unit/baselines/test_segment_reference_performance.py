"""A baseline's reference performance per segment: from held-out rows when given (with the segment
column), else from the reference rows inflated like the global one; absent without segments, target
or the column in the held-out rows, and absent from older baselines."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from monitor.baselines.baseline import Baseline, build_baseline
from monitor.baselines.view import render_baseline
from monitor.config import parse_config
from monitor.core.segment_performance import SegmentReference
from monitor.core.segments import OTHER

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _frame(rng: np.random.Generator, n: int, wrong_in_us: float) -> pd.DataFrame:
    region = rng.choice(["eu", "us", "mars"], n, p=[0.5, 0.45, 0.05])
    target = rng.integers(0, 2, n)
    wrong = rng.random(n) < np.where(region == "us", wrong_in_us, 0.1)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "region": region,
            "target": target,
            "prediction": np.where(wrong, 1 - target, target),
        }
    )


def _build(frame: pd.DataFrame, task: str = "classification", **kwargs: object) -> Baseline:
    config = parse_config(
        {
            "models": [
                {
                    "name": "m",
                    "task": task,
                    "target": "target",
                    "features": [{"name": "age", "kind": "numeric"}],
                    "segments": {"column": "region", "max_segments": 2},
                }
            ]
        }
    )
    return build_baseline(frame, config.models[0], config.baselines, "1", "train", NOW, **kwargs)  # type: ignore[arg-type]


def _accuracy(frame: pd.DataFrame, region: str) -> tuple[int, float]:
    rows = frame[frame["region"] == region]
    return len(rows), float((rows["target"] == rows["prediction"]).mean())


def test_held_out_rows_give_each_segment_its_accuracy() -> None:
    rng = np.random.default_rng(0)
    held_out = _frame(rng, 4000, wrong_in_us=0.3)
    baseline = _build(_frame(rng, 6000, wrong_in_us=0.3), performance=held_out, performance_source="h")
    assert baseline.segment_performance is not None
    assert baseline.segment_performance["origin"] == "held_out"
    assert baseline.segment_performance["metric"] == "accuracy"
    references = baseline.segment_references
    assert references is not None and set(references) == {"eu", "us", OTHER}
    for region, label in (("eu", "eu"), ("us", "us"), ("mars", OTHER)):
        n, accuracy = _accuracy(held_out, region)
        assert references[label] == SegmentReference(n, pytest.approx(accuracy))
    assert references["us"].value < references["eu"].value - 0.15
    again = Baseline.from_state(baseline.to_state())
    assert again.segment_references == references and again.id == baseline.id


def test_in_sample_references_are_inflated_like_the_global_one() -> None:
    frame = _frame(np.random.default_rng(1), 6000, wrong_in_us=0.2)
    baseline = _build(frame)
    assert baseline.segment_performance is not None
    assert baseline.segment_performance["origin"] == "in_sample_inflated"
    n, accuracy = _accuracy(frame, "us")
    # error rate e -> 1.25 e + 0.01 (monitor.baselines.reference_performance)
    assert baseline.segment_references["us"] == SegmentReference(
        n, pytest.approx(1 - (1.25 * (1 - accuracy) + 0.01))
    )


def test_regressors_get_the_mae_per_segment() -> None:
    rng = np.random.default_rng(2)
    frame = _frame(rng, 3000, 0.1)
    frame["prediction"] = frame["target"] + np.where(frame["region"] == "us", 2.0, 0.5)
    baseline = _build(frame, "regression", performance=frame, performance_source="h")
    references = baseline.segment_references
    assert references is not None and baseline.segment_performance["metric"] == "mae"
    assert references["us"].value == pytest.approx(2.0) and references["eu"].value == pytest.approx(0.5)


def test_absent_without_the_column_in_held_out_rows_or_a_target_and_in_older_baselines() -> None:
    rng = np.random.default_rng(3)
    frame = _frame(rng, 3000, 0.1)
    without = _build(frame, performance=frame.drop(columns=["region"]), performance_source="h")
    assert without.segment_performance is None and without.segment_references is None
    no_target = _build(frame.drop(columns=["target"]), require_target=False)
    assert no_target.segment_performance is None
    state = _build(frame).to_state()
    del state["segment_performance"]
    old = Baseline.from_state(state)
    assert old.segment_references is None and old.segment_profiles is not None


def test_baseline_show_lists_the_reference_performance_per_segment() -> None:
    frame = _frame(np.random.default_rng(4), 3000, 0.3)
    console = Console(width=200, record=True)
    console.print(render_baseline(_build(frame, performance=frame, performance_source="h")))
    text = console.export_text()
    assert "reference performance per segment" in text and "from held-out rows" in text
    n, accuracy = _accuracy(frame, "us")
    assert re.search(rf"us\s+│\s+{n:,}\s+│\s+{accuracy:.4f}", text)
    console = Console(width=200, record=True)
    console.print(
        render_baseline(_build(frame, performance=frame.drop(columns=["region"]), performance_source="h"))
    )
    assert "per segment" not in console.export_text().replace("drift per segment", "")
