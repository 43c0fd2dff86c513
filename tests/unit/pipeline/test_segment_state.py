"""A window's segment profiles (monitor.core.segments) in the stream: updated per prediction batch,
merged across partitions like the other accumulators, checkpointed with the window and restored;
a window stored before segments restores without them; a model without segments keeps none."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import orjson

from monitor.evaluation.results import WindowResult
from monitor.pipeline.partition_state import partition_delta
from monitor.pipeline.raw_batch import RawBatch
from monitor.pipeline.savepoint import fork
from monitor.pipeline.windows import WindowState
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from monitor.state.partitions import restore_partition, save_partitions
from monitor.state.sqlite import SqliteStateStore
from tests.unit import segments_world as world

CONFIG = world.config(3, {"column": "region", "max_segments": 4, "min_rows": 20})
BASELINES = world.baseline(CONFIG, world.rows(8000, np.random.default_rng(0), 3, 6))


def service() -> Service:
    return Service(CONFIG, BASELINES, MemoryDeadLetters(), clock=lambda: world.NOW)


def hour_messages(hour: int, n: int = 1200) -> list[bytes]:
    rng = np.random.default_rng(hour)
    # A shift in one segment, so the results have a drifted pair to compare.
    return world.messages(world.rows(n, rng, 3, 6, shift=("s01", "f00", 1.0)), hour, rng)


def window(svc: Service) -> WindowState:
    (only,) = svc.monitor.streams[("churn", "1")].windows.values()
    return only


def reports(results: list[WindowResult]) -> dict[int, object]:
    out = {int(r.window_start.timestamp()): r.segments for r in results}
    assert all(r is not None for r in out.values())
    return out


def test_each_batch_updates_the_window_per_segment() -> None:
    svc = service()
    rng = np.random.default_rng(3)
    frame = world.rows(500, rng, 3, 6)
    svc.handle(RawBatch(predictions=world.messages(frame, 0, rng)))
    profiles = window(svc).segments
    assert profiles is not None
    counts = frame["region"].value_counts()
    assert profiles.rows("s00", "f02") == counts["s00"]
    assert profiles.rows("__other__", "c") == counts["s04"] + counts["s05"]


def test_partitions_merge_to_the_segment_drift_of_one() -> None:
    whole, split = service(), service()
    for hour in range(3):
        messages = hour_messages(hour)
        whole.handle(RawBatch(predictions=messages))
        split.handle(RawBatch(predictions=messages[::2]), partition=0)
        split.handle(RawBatch(predictions=messages[1::2]), partition=1)
    one, two = reports(whole.evaluate(flush=True)), reports(split.evaluate(flush=True))
    assert len(one) == 3 and one == two
    assert all(r.drifted for r in one.values())  # type: ignore[attr-defined]


def test_segment_profiles_are_checkpointed_with_their_window_and_restored(tmp_path: Path) -> None:
    live = service()
    messages = hour_messages(0)
    live.handle(RawBatch(predictions=messages[:600]))
    store = SqliteStateStore(tmp_path / "state.db")
    save_partitions(store, "g", [(0, {}, live.monitor)])
    live.handle(RawBatch(predictions=messages[600:]))
    assert ("churn", "1", window(live).start) in partition_delta(live.monitor).windows
    save_partitions(store, "g", [(0, {}, live.monitor)])

    restarted = service()
    restore_partition(store, "g", store.load("g", [0])[0], restarted.monitor)
    before, after = window(live).segments, window(restarted).segments
    assert before is not None and after is not None
    assert orjson.dumps(after.to_state(), option=orjson.OPT_SERIALIZE_NUMPY) == orjson.dumps(
        before.to_state(), option=orjson.OPT_SERIALIZE_NUMPY
    )
    assert reports(restarted.evaluate(flush=True)) == reports(live.evaluate(flush=True))
    store.close()


def test_a_window_stored_before_segments_restores_without_them_and_merges_to_none() -> None:
    live = service()
    live.handle(RawBatch(predictions=hour_messages(0)))
    current = window(live)
    state = orjson.loads(orjson.dumps(current.to_state(), option=orjson.OPT_SERIALIZE_NUMPY))
    del state["segments"]
    old = WindowState.from_state(state)
    assert old.segments is None
    # Profiles over part of the window's rows would pass for all of them.
    assert current.merge(old).segments is None and old.merge(current).segments is None
    assert current.merge(current).segments is not None
    (result,) = live.evaluate(flush=True)
    assert result.segments is not None


def test_a_model_without_segments_keeps_and_reports_none() -> None:
    baselines = {key: replace(b, segments=None) for key, b in BASELINES.items()}
    svc = Service(CONFIG, baselines, MemoryDeadLetters(), clock=lambda: world.NOW)
    svc.handle(RawBatch(predictions=hour_messages(0)))
    assert window(svc).segments is None
    (result,) = svc.evaluate(flush=True)
    assert result.segments is None


def test_a_savepoint_fork_of_the_profiles_shares_nothing_an_update_changes() -> None:
    svc = service()
    svc.handle(RawBatch(predictions=hour_messages(0, 600)))
    profiles = window(svc).segments
    assert profiles is not None
    before = orjson.dumps(profiles.to_state(), option=orjson.OPT_SERIALIZE_NUMPY)
    forked = fork(profiles)
    rng = np.random.default_rng(9)
    frame = world.rows(400, rng, 3, 6, shift=("s00", "f00", 3.0))
    frame.loc[frame.index[:5], "c"] = "never-seen"  # unseen categories: the dict changes too
    forked.update(frame, frame["region"].to_numpy(dtype=object))
    assert orjson.dumps(profiles.to_state(), option=orjson.OPT_SERIALIZE_NUMPY) == before
    grown = forked.rows("s00", "f00") - profiles.rows("s00", "f00")
    assert grown == (frame["region"] == "s00").sum()
