"""The columnar replay path against the reference: every row sent as its JSON message through the
decoder. Same rows accepted, same rejects (reason and bytes), same state, on clean and corrupted
histories of a classifier with scores and of a regressor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.replay.backtest import EventClock, replay
from consumers.replay.history import Columnar, ColumnOptions, _columnar
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from tests.unit.consumers import replay_world as world
from tests.unit.partition_state import state_bytes

CFG = world.config(Path("."))
BASELINES = world.baselines(CFG)
CLEAN = {task: world.history(task, hours=3, per_hour=40, seed=5) for task in ("classification", "regression")}


def _run(history: Columnar, columnar: bool, batch: int) -> tuple[Service, Any]:
    clock = EventClock()
    service = Service(CFG, BASELINES, MemoryDeadLetters(), clock=clock)
    summary = replay(service, clock, history, batch, columnar=columnar)
    return service, summary


def _same(frame: pd.DataFrame, model: str, batch: int = 50, **options: Any) -> tuple[Any, Any]:
    opts = ColumnOptions(model=model, only_version="1", **options)
    fast, fast_summary = _run(_columnar(frame, CFG, opts, "h.csv"), True, batch)
    slow, slow_summary = _run(_columnar(frame, CFG, opts, "h.csv"), False, batch)
    assert list(fast.counters.items()) == list(slow.counters.items())
    reject = lambda s: sorted((r.reason, r.topic, r.raw) for r in s.dead_letters.rejected)  # noqa: E731
    assert reject(fast) == reject(slow)
    assert state_bytes(fast.monitor) == state_bytes(slow.monitor)
    # repr: a statistic that is NaN in both (a window of 1e308s) is the same NaN
    assert repr([(r.window_start, r.drift, r.performance) for r in fast_summary.results]) == repr(
        [(r.window_start, r.drift, r.performance) for r in slow_summary.results]
    )
    return fast, fast_summary


@pytest.mark.parametrize(("task", "model"), [("classification", "clf"), ("regression", "reg")])
def test_a_clean_history_gives_the_reference_state(task: str, model: str) -> None:
    service, summary = _same(CLEAN[task], model)
    assert service.counters.total("predictions") == 120 and service.counters.total("joined") == 120
    assert service.counters.total("rejected") == 0 and len(summary.results) == 3


# Corruptions: (column, value) set in one row. Values a columnar file can hold that the decoder
# has a rule for: missing, infinite or non-numeric numbers, fractional or boolean labels, scores
# outside [0, 1], unreadable or naive timestamps, missing, empty or overlong ids, unknown versions,
# NUL characters.
CORRUPTIONS = [
    ("income", np.nan),
    ("income", np.inf),
    ("income", -np.inf),
    ("income", "lots"),
    ("income", True),
    ("income", 1e12),  # not 1e308: a value past ~1e154 overflows Moments.merge on any path (see the report)
    ("plan", np.nan),
    ("plan", 2.5),
    ("plan", 3.0),
    ("plan", True),
    ("plan", 7),
    ("rooms", np.nan),
    ("rooms", 1.5),
    ("rooms", "two"),
    ("prediction", np.nan),
    ("prediction", np.inf),
    ("prediction", "yes"),
    ("prediction", 0.5),
    ("score", 1.5),
    ("score", -0.1),
    ("score", np.nan),
    ("score", np.inf),
    ("score", "high"),
    ("timestamp", "yesterday"),
    ("timestamp", "2026-03-02T01:00:00"),
    ("timestamp", "2026-03-02T01:00:00+02:00"),
    ("timestamp", np.nan),
    ("timestamp", 1772413200.25),
    ("timestamp", 1772413200000.0),
    ("prediction_id", np.nan),
    ("prediction_id", ""),
    ("prediction_id", 12345),
    ("prediction_id", 7.5),
    ("prediction_id", "clf-0-1"),  # a duplicate id
    ("outcome", 0.5),
    ("outcome", "maybe"),
    ("outcome", np.inf),
    ("outcome_timestamp", "soon"),
    ("outcome_timestamp", np.nan),
    ("model_version", "9"),
    ("model_version", 1),
    ("model_version", np.nan),
    ("segment", "eu"),
    ("segment", 3),
    # Text the stores cannot key or hold (nul_character, too_long).
    ("prediction_id", "x" * 513),
    ("prediction_id", "clf\x00"),
    ("plan", "pro\x00"),
    ("prediction", "1\x00"),
    ("outcome", "\x00"),
    ("model_version", "1\x00"),
    ("segment", "e\x00u"),
]


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from([("classification", "clf"), ("regression", "reg")]),
    st.lists(st.tuples(st.integers(0, 119), st.sampled_from(CORRUPTIONS)), min_size=1, max_size=8),
    st.sampled_from([7, 50, 1000]),
)
def test_a_corrupted_history_gives_the_reference_state(
    which: tuple[str, str], corruptions: list[tuple[int, tuple[str, Any]]], batch: int
) -> None:
    task, model = which
    frame = CLEAN[task].copy()
    frame["model_version"] = "1"
    for row, (column, value) in corruptions:
        if column not in frame.columns:
            frame[column] = None
        if not isinstance(value, type(frame[column].iloc[0])) or isinstance(value, bool):
            frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
    _same(frame, model, batch)


def test_rejects_are_named_like_any_source() -> None:
    frame = CLEAN["classification"].copy()
    frame["score"] = frame["score"].astype(object)
    frame.loc[3, "score"] = 1.5
    frame.loc[4, "prediction"] = np.nan
    frame.loc[5, "timestamp"] = "2026-03-02T01:00:00"
    service, summary = _same(frame, "clf")
    assert summary.rejected == {"out_of_range": 1, "missing_field": 1, "bad_timestamp": 1}
    assert {r.topic for r in service.dead_letters.rejected} == {"predictions"}
    assert service.counters.total("predictions") == 117
