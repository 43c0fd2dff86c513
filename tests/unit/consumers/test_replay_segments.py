"""`driftline replay` of a CSV history for a model with segments: each row's segment comes from the
model's configured segment column (as in its reference file) when the file has no `segment`
column, so the replayed windows carry drift per segment, found where it was injected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from consumers.replay.backtest import EventClock, replay
from consumers.replay.history import ColumnOptions, read_history
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from tests.unit import segments_world as world


def test_a_replayed_history_finds_the_segment_where_drift_was_injected(tmp_path: Path) -> None:
    cfg = world.config(3, {"column": "region", "max_segments": 5})
    baselines = world.baseline(cfg, world.rows(20_000, np.random.default_rng(0), 3, 6))
    rng = np.random.default_rng(1)
    hours = []
    for hour in range(3):  # the last hour: f01 moves in segment s02 only
        frame = world.rows(4000, rng, 3, 6, shift=("s02", "f01", 1.0) if hour == 2 else None)
        ms = world.START_MS + hour * world.HOUR_MS + np.sort(rng.integers(0, world.HOUR_MS, len(frame)))
        frame["timestamp"] = pd.to_datetime(ms, unit="ms", utc=True)
        frame["prediction_id"] = [f"{hour}-{i}" for i in range(len(frame))]
        hours.append(frame)
    pd.concat(hours).to_csv(tmp_path / "h.csv", index=False)
    clock = EventClock()
    service = Service(cfg, baselines, MemoryDeadLetters(), clock=clock)
    history = read_history(tmp_path / "h.csv", cfg, ColumnOptions(only_version="1"), lambda d, t: None)
    replay(service, clock, history, 1000)
    results = service.results.windows("churn", "1")
    assert len(results) == 3
    counts = pd.concat(hours)["region"].value_counts()
    flagged = []
    for result in results:
        report = result.segments
        assert report is not None and report.n_tests == 6 * 4  # 5 segments and other, 4 features
        flagged.append({(t.segment, t.feature) for t in report.drifted})
    assert flagged == [set(), set(), {("s02", "f01")}]
    (pair,) = results[-1].segments.drifted  # type: ignore[union-attr]
    assert abs(pair.n_window - counts["s02"] / 3) < 0.1 * counts["s02"]
