"""The join's counts do not depend on how the input is batched or how the two inputs interleave
(within the read-ahead allowance), nor on checkpoints and crashes: property tests over the
deterministic rule of monitor.pipeline.join, on a classifier with scores and on a regressor."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from monitor.baselines.baseline import build_baseline
from monitor.config import DriftlineConfig, parse_config
from monitor.core.performance import performance_metrics
from monitor.pipeline.events import OutcomeBatch, PredictionBatch
from monitor.pipeline.monitor import Batch, Monitor
from monitor.state.partitions import (
    TakenCheckpoint,
    mark_saved,
    restore_partition,
    save_partitions,
    take_checkpoint,
)
from tests.unit.embedded_stores import KINDS, EmbeddedStore, open_embedded

H = 3_600_000
M = 60_000
SKEW = 2 * H  # how far one input is at most read ahead of the other in these tests
TASKS = ("classification", "regression")


def _config(task: str) -> DriftlineConfig:
    return parse_config(
        {
            "models": [
                {
                    "name": "m",
                    "task": task,
                    "features": [{"name": "x", "kind": "numeric"}],
                    "score": "score" if task == "classification" else None,
                    "target": "y",
                    "window": "1h",
                    "allowed_lateness": "1m",
                    "outcome_ttl": "3h",
                    "read_ahead": "3h",  # >= SKEW + allowed_lateness
                    "dedup_horizon": "4h",  # >= SKEW + allowed_lateness: duplicate outcomes exact too
                }
            ]
        }
    )


def _baselines(cfg: DriftlineConfig) -> dict[tuple[str, str], Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    if cfg.models[0].task == "classification":
        frame = pd.DataFrame({"x": x, "prediction": np.where(x > 0, "1", "0"), "score": 1 / (1 + np.exp(-x))})
        frame["y"] = frame["prediction"]
    else:
        frame = pd.DataFrame({"x": x, "prediction": 2 * x, "y": 2 * x + rng.normal(size=2000)})
    made = datetime(2026, 1, 1, tzinfo=UTC)
    return {("m", "1"): build_baseline(frame, cfg.models[0], cfg.baselines, "1", "test", made)}


@dataclass(frozen=True)
class Event:
    kind: str  # "p" or "o"
    pid: str
    ts: int
    value: float


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[Event], list[Event]]:
    """A prediction stream (ids, some replayed with their timestamp, some late) and an outcome
    stream (0-5 h after, some never, some twice, some for no prediction), each roughly in time
    order, over about ten hours."""
    n = draw(st.integers(1, 40))
    predictions: list[Event] = []
    t = 0
    for i in range(n):
        t += draw(st.integers(0, 40 * M))
        jitter = draw(st.integers(0, 3 * M))  # a little out of order: some rows come late
        predictions.append(Event("p", f"p{i}", max(t - jitter, 0), draw(st.floats(-2, 2))))
        if draw(st.integers(0, 9)) == 0:
            predictions.append(predictions[-1])  # a replay
    outcomes: list[Event] = []
    for p in predictions:
        roll = draw(st.integers(0, 9))
        if roll == 0:
            continue  # never
        delay = draw(st.integers(0, 5 * H))
        outcomes.append(Event("o", p.pid, p.ts + delay, draw(st.floats(-2, 2))))
        if roll == 1:
            outcomes.append(outcomes[-1])  # twice
        if roll == 2:
            outcomes.append(Event("o", f"nobody{len(outcomes)}", p.ts + delay, 0.0))
    outcomes.sort(key=lambda e: e.ts + draw(st.integers(0, 2 * M)))
    return predictions, outcomes


def _merge(predictions: list[Event], outcomes: list[Event], lead: list[int]) -> list[Event]:
    """Interleave the two streams: the next event is the one whose stream has read less far (event
    time), the predictions' position shifted by `lead[k]` at the k-th step."""
    out, i, j, pw, ow = [], 0, 0, 0, 0
    k = 0
    while i < len(predictions) or j < len(outcomes):
        take_p = j >= len(outcomes) or (
            i < len(predictions)
            and max(pw, predictions[i].ts) - lead[k % len(lead)] <= max(ow, outcomes[j].ts)
        )
        if take_p:
            pw = max(pw, predictions[i].ts)
            out.append(predictions[i])
            i += 1
        else:
            ow = max(ow, outcomes[j].ts)
            out.append(outcomes[j])
            j += 1
        k += 1
    return out


def _batches(events: list[Event], cuts: list[int]) -> list[list[Event]]:
    bounds = sorted({c % (len(events) + 1) for c in cuts} | {0, len(events)})
    return [events[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _skew_ok(batches: list[list[Event]]) -> bool:
    """Within a batch predictions go first: is every input read at most SKEW ahead of the other?"""
    pw = ow = None
    for batch in batches:
        for e in sorted(batch, key=lambda e: e.kind == "o"):
            if e.kind == "p":
                pw = e.ts if pw is None else max(pw, e.ts)
            else:
                ow = e.ts if ow is None else max(ow, e.ts)
            if pw is not None and ow is not None and abs(pw - ow) > SKEW:
                return False
    return True


def _batch(cfg: DriftlineConfig, events: list[Event]) -> Batch:
    classification = cfg.models[0].task == "classification"
    preds = [e for e in events if e.kind == "p"]
    outs = [e for e in events if e.kind == "o"]
    predictions = {}
    if preds:
        x = np.asarray([e.value for e in preds])
        label = np.where(x > 0, "1", "0").astype(object)
        predictions[("m", "1")] = PredictionBatch(
            model="m",
            model_version="1",
            prediction_id=np.asarray([e.pid for e in preds], dtype=object),
            timestamp=np.asarray([e.ts for e in preds], dtype=np.int64),
            features={"x": x},
            prediction=label if classification else 2 * x,
            score=1 / (1 + np.exp(-x)) if classification else np.full(len(x), np.nan),
            segment=np.full(len(x), None, dtype=object),
        )
    outcomes = {}
    if outs:
        y = np.asarray([e.value for e in outs])
        outcomes["m"] = OutcomeBatch(
            model="m",
            prediction_id=np.asarray([e.pid for e in outs], dtype=object),
            timestamp=np.asarray([e.ts for e in outs], dtype=np.int64),
            outcome=np.where(y > 0, "1", "0").astype(object) if classification else y,
        )
    return Batch(predictions, outcomes)


def _summary(monitor: Monitor) -> dict[str, Any]:
    counters = {(n, tuple(sorted(lb.items()))): v for n, lb, v in monitor.counters.items()}
    windows = {}
    for start, w in monitor.streams[("m", "1")].windows.items():
        metrics = performance_metrics(w.performance)
        windows[start] = (
            w.sketch.n_rows,
            w.sketch.n_targets,
            w.expired,
            w.final,
            {k: round(v, 9) if isinstance(v, float) else v for k, v in metrics.items()},
        )
    return {"counters": counters, "windows": windows, "pending": len(monitor.joins["m"])}


def _run(cfg: DriftlineConfig, baselines: dict[tuple[str, str], Any], batches: list[list[Event]]) -> Monitor:
    monitor = Monitor(cfg, baselines)
    for events in batches:
        monitor.ingest(_batch(cfg, events))
    return monitor


def _crash_world(
    task: str, data: tuple[list[Event], list[Event]], cuts: list[int], cache: int
) -> tuple[DriftlineConfig, dict[tuple[str, str], Any], list[list[Event]], dict[str, Any]]:
    """The config (with `cache` join rows), baselines, batches in time order and the summary of a
    run that never stopped."""
    cfg = _config(task)
    cfg = cfg.model_copy(update={"state": cfg.state.model_copy(update={"join_cache": cache})})
    baselines = _baselines(cfg)
    batches = _batches(_merge(*data, [0]), cuts)
    assume(_skew_ok(batches))
    return cfg, baselines, batches, _summary(_run(cfg, baselines, batches))


def _restarted(
    store: EmbeddedStore, cfg: DriftlineConfig, baselines: dict[tuple[str, str], Any]
) -> tuple[Monitor, int]:
    """After a kill -9: a fresh monitor from the last checkpoint, and the batch to read next."""
    monitor = Monitor(cfg, baselines)
    stored = store.load("g", [0]).get(0)
    if stored is None:
        return monitor, 0
    restore_partition(store, "g", stored, monitor)
    return monitor, stored.offsets["input"]


def _assert_final(
    store: EmbeddedStore,
    baselines: dict[tuple[str, str], Any],
    monitor: Monitor,
    position: int,
    expected: dict[str, Any],
) -> None:
    """A last checkpoint; the monitor, and the same read back from the store, give `expected`."""
    save_partitions(store, "g", [(0, {"input": position}, monitor)])
    assert _summary(monitor) == expected
    restored = Monitor(monitor.config, baselines)
    restore_partition(store, "g", store.load("g", [0])[0], restored)
    assert _summary(restored) == expected


_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)


@pytest.mark.parametrize("task", TASKS)
@_SETTINGS
@given(
    data=streams(),
    lead=st.lists(st.integers(-SKEW // 2, SKEW // 2), min_size=1, max_size=8),
    cuts=st.lists(st.integers(0, 200), max_size=12),
)
def test_counts_do_not_depend_on_batches_or_interleaving(
    task: str, data: tuple[list[Event], list[Event]], lead: list[int], cuts: list[int]
) -> None:
    cfg = _config(task)
    baselines = _baselines(cfg)
    predictions, outcomes = data
    one_by_one = [[e] for e in _merge(predictions, outcomes, [0])]
    other = _batches(_merge(predictions, outcomes, lead), cuts)
    assume(_skew_ok(other) and _skew_ok(one_by_one))
    assert _summary(_run(cfg, baselines, other)) == _summary(_run(cfg, baselines, one_by_one))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("task", TASKS)
@_SETTINGS
@given(
    data=streams(),
    cuts=st.lists(st.integers(0, 200), max_size=40),
    saves=st.sets(st.integers(1, 40), max_size=25),
    crashes=st.sets(st.integers(1, 40), max_size=3),
    cache=st.sampled_from([0, 3, 100_000]),
)
def test_checkpoints_and_crashes_change_no_count(
    tmp_path_factory: pytest.TempPathFactory,
    kind: str,
    task: str,
    data: tuple[list[Event], list[Event]],
    cuts: list[int],
    saves: set[int],
    crashes: set[int],
    cache: int,
) -> None:
    """Checkpoint after some batches; at others, lose everything since the last checkpoint and
    read the input again from there (a kill -9): the stored rows, read back by the join through
    the store, give the counts of a run that never stopped."""
    cfg, baselines, batches, expected = _crash_world(task, data, cuts, cache)

    store = open_embedded(kind, Path(tmp_path_factory.mktemp("crash")) / "state.db")
    try:
        monitor, position, done = Monitor(cfg, baselines), 0, 0
        crashed: set[int] = set()
        while position < len(batches):
            monitor.ingest(_batch(cfg, batches[position]))
            position += 1
            if position in saves:
                save_partitions(store, "g", [(0, {"input": position}, monitor)])
            if position in crashes and position not in crashed:
                crashed.add(position)
                monitor, position = _restarted(store, cfg, baselines)
            done += 1
        _assert_final(store, baselines, monitor, position, expected)
    finally:
        store.close()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("task", TASKS)
@_SETTINGS
@given(
    data=streams(),
    cuts=st.lists(st.integers(0, 200), max_size=40),
    starts=st.sets(st.integers(1, 40), max_size=12),
    delays=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=6),
    crashes=st.sets(st.integers(1, 40), max_size=3),
    cache=st.sampled_from([0, 3, 100_000]),
)
def test_checkpoints_saved_while_ingestion_goes_on_change_no_count(
    tmp_path_factory: pytest.TempPathFactory,
    kind: str,
    task: str,
    data: tuple[list[Event], list[Event]],
    cuts: list[int],
    starts: set[int],
    delays: list[tuple[int, int]],
    crashes: set[int],
    cache: int,
) -> None:
    """As CheckpointWriter does: a checkpoint is taken after one batch, the store saves it some
    batches later and the join marks it saved some batches after that, ingesting all along; a
    crash at any point (before the save, between the save and the mark, or after) and a restart
    from the store give the counts of a run that never stopped."""
    cfg, baselines, batches, expected = _crash_world(task, data, cuts, cache)

    store = open_embedded(kind, Path(tmp_path_factory.mktemp("flight")) / "state.db")
    try:
        monitor, position, flights = Monitor(cfg, baselines), 0, 0
        flight: tuple[TakenCheckpoint, int, int] | None = None  # taken, save at, mark at
        saved = False
        crashed: set[int] = set()
        while position < len(batches):
            monitor.ingest(_batch(cfg, batches[position]))
            position += 1
            if flight is not None and not saved and position >= flight[1]:
                store.save("g", flight[0].checkpoints)
                saved = True
            if flight is not None and saved and position >= flight[2]:
                mark_saved(store, "g", flight[0])
                flight, saved = None, False
            if flight is None and position in starts:
                to_save, to_mark = delays[flights % len(delays)]
                flight = (take_checkpoint([(0, {"input": position}, monitor)]), position + to_save, 0)
                flight = (flight[0], flight[1], flight[1] + to_mark)
                flights += 1
                if to_save == 0:
                    store.save("g", flight[0].checkpoints)
                    saved = True
            if position in crashes and position not in crashed:
                crashed.add(position)
                flight, saved = None, False  # the thread and the memory are gone; the store stays
                monitor, position = _restarted(store, cfg, baselines)
        if flight is not None:
            if not saved:
                store.save("g", flight[0].checkpoints)
            mark_saved(store, "g", flight[0])
        _assert_final(store, baselines, monitor, position, expected)
    finally:
        store.close()
