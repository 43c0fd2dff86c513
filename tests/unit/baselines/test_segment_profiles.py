"""A baseline's per-segment reference profiles: fitted when the model has `segments`, part of the
content hash then, absent (and the id unchanged) otherwise; a reference without the column is a
clear error."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitor.baselines.baseline import Baseline, build_baseline
from monitor.baselines.reference_data import read_reference, reference_columns
from monitor.config import ModelConfig, parse_config
from monitor.core.segments import OTHER
from monitor.errors import ConfigError, DataError

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _model(segments: dict[str, object] | None) -> tuple[ModelConfig, object]:
    config = parse_config(
        {
            "models": [
                {
                    "name": "churn",
                    "task": "classification",
                    "features": [{"name": "age", "kind": "numeric"}, {"name": "plan", "kind": "categorical"}],
                    "segments": segments,
                }
            ]
        }
    )
    return config.models[0], config.baselines


def _frame(n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "plan": rng.choice(["basic", "pro"], n),
            "prediction": rng.integers(0, 2, n),
            # eu the most frequent, then us, apac, then two rare ones past max_segments
            "region": rng.choice(["eu", "us", "apac", "mars", "moon"], n, p=[0.4, 0.3, 0.2, 0.06, 0.04]),
        }
    )


def _build(segments: dict[str, object] | None, frame: pd.DataFrame) -> Baseline:
    model, settings = _model(segments)
    return build_baseline(frame, model, settings, "1", "train.csv", NOW)  # type: ignore[arg-type]


def test_profiles_per_segment_are_fitted_on_the_reference_column() -> None:
    frame = _frame()
    baseline = _build({"column": "region", "max_segments": 3}, frame)
    profiles = baseline.segment_profiles
    assert profiles is not None
    assert profiles.segment_map.labels == ("eu", "us", "apac", OTHER)
    counts = frame["region"].value_counts()
    assert profiles.rows("eu", "age") == counts["eu"]
    assert profiles.rows(OTHER, "plan") == counts["mars"] + counts["moon"]


def test_segments_enter_the_content_hash_and_old_baselines_keep_their_id() -> None:
    frame = _frame()
    plain, segmented = _build(None, frame), _build({"column": "region"}, frame)
    assert plain.segments is None and plain.segment_profiles is None
    assert "segments" not in plain.to_state()  # a baseline built before segments hashes as it did
    assert segmented.id != plain.id
    again = Baseline.from_state(segmented.to_state())
    assert again.id == segmented.id and again.segments == segmented.segments
    assert _build({"column": "region", "max_segments": 2}, frame).id != segmented.id


def test_a_reference_without_the_segment_column_is_refused_naming_it() -> None:
    with pytest.raises(DataError, match=r"segments.column 'channel'.*churn|churn.*segments.column 'channel'"):
        _build({"column": "channel"}, _frame())


def test_segment_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="method"):
        _model({"column": "region", "method": "bonferroni"})
    with pytest.raises(ConfigError, match="max_segments"):
        _model({"column": "region", "max_segments": 0})


def test_the_reference_file_is_read_with_its_segment_column(tmp_path: Path) -> None:
    # What `baseline build` and the upload endpoint read: the segment column too, no others.
    path = tmp_path / "train.csv"
    _frame(200).assign(extra=1).to_csv(path, index=False)
    model, _ = _model({"column": "region"})
    read = read_reference(path, reference_columns(model))
    assert set(read.columns) == {"age", "plan", "prediction", "region"}
    assert _build({"column": "region"}, read).segment_profiles is not None
