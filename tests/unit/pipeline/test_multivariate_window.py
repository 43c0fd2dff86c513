"""Each window's PCA reconstruction sums: updated per prediction batch, merged across partitions,
kept through checkpoints and savepoints."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import pytest

from monitor.pipeline.monitor import Batch, Monitor
from monitor.pipeline.partition_state import partition_delta
from monitor.pipeline.savepoint import fork
from monitor.pipeline.windows import WindowState
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from monitor.state.partitions import restore_partition, save_partitions
from monitor.state.sqlite import SqliteStateStore
from tests.unit import stream_world as world

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CFG = world.config()
BASELINE = world.baseline(CFG)


def batch(n: int, seed: int, window: int = 0) -> Batch:
    rng = np.random.default_rng(seed)
    frame = world.rows(n, rng)
    ts = window * world.HOUR_MS + np.sort(rng.integers(0, world.HOUR_MS, n))
    ids = [f"{seed}-{window}-{j}" for j in range(n)]
    return Batch(predictions={("m", "1"): world.predictions(frame, ids, ts)})


def fresh() -> Monitor:
    return Monitor(CFG, {("m", "1"): BASELINE})


def only_window(monitor: Monitor) -> WindowState:
    (window,) = monitor.streams[("m", "1")].windows.values()
    return window


def test_a_window_sums_the_reconstruction_errors_of_every_batch() -> None:
    assert BASELINE.pca is not None  # three numeric features: on by default
    monitor = fresh()
    parts = [batch(300, seed) for seed in (1, 2, 3)]
    for part in parts:
        monitor.ingest(part)
    reconstruction = only_window(monitor).reconstruction
    assert reconstruction is not None and reconstruction.model is BASELINE.pca
    errors = np.concatenate([BASELINE.pca.errors(p.predictions[("m", "1")].features) for p in parts])
    assert reconstruction.n == 900
    assert reconstruction.total == pytest.approx(errors.sum(), rel=1e-12)
    assert reconstruction.total_squares == pytest.approx(errors @ errors, rel=1e-12)


def test_partitions_merge_to_what_one_partition_holds() -> None:
    one, left, right = fresh(), fresh(), fresh()
    for seed in (1, 2):
        one.ingest(batch(400, seed))
    left.ingest(batch(400, 1))
    right.ingest(batch(400, 2))
    merged = only_window(left).merge(only_window(right)).reconstruction
    whole = only_window(one).reconstruction
    assert merged is not None and whole is not None
    assert merged.n == whole.n == 800
    assert merged.total == pytest.approx(whole.total, rel=1e-12)


def test_a_checkpoint_keeps_the_sums_and_a_window_written_before_them_has_none(tmp_path: Path) -> None:
    service = Service(CFG, {("m", "1"): BASELINE}, MemoryDeadLetters(), clock=lambda: NOW)
    service.monitor.ingest(batch(500, 1))
    before = only_window(service.monitor).reconstruction
    assert before is not None
    state = SqliteStateStore(tmp_path / "state.db")
    save_partitions(state, "g", [(0, {}, service.monitor)])
    restarted = Service(CFG, {("m", "1"): BASELINE}, MemoryDeadLetters(), clock=lambda: NOW)
    restore_partition(state, "g", state.load("g", [0])[0], restarted.monitor)
    after = only_window(restarted.monitor).reconstruction
    assert after is not None and after.model is BASELINE.pca
    assert (after.n, after.total, after.total_squares) == (before.n, before.total, before.total_squares)
    restarted.monitor.ingest(batch(200, 2))  # the restored window goes on adding
    assert only_window(restarted.monitor).reconstruction.n == 700  # type: ignore[union-attr]
    state.close()

    older = only_window(service.monitor).to_state()
    del older["reconstruction"]  # as windows were stored before multivariate drift
    window = WindowState.from_state(
        orjson.loads(orjson.dumps(older, option=orjson.OPT_SERIALIZE_NUMPY)), pca=BASELINE.pca
    )
    assert window.reconstruction is None
    assert window.merge(only_window(service.monitor)).reconstruction is None  # incomplete: none


def test_an_incremental_checkpoint_writes_the_window_again_when_rows_add_to_its_sums() -> None:
    monitor = fresh()
    monitor.ingest(batch(100, 1))
    delta = partition_delta(monitor)
    assert orjson.loads(next(iter(delta.windows.values())))["reconstruction"]["n"] == 100
    monitor.saved_windows = dict(delta.written)
    assert partition_delta(monitor).windows == {}
    monitor.ingest(batch(50, 2))
    (blob,) = partition_delta(monitor).windows.values()
    assert blob is not None and orjson.loads(blob)["reconstruction"]["n"] == 150


def test_a_savepoint_copies_the_sums_and_shares_the_fitted_model() -> None:
    monitor = fresh()
    monitor.ingest(batch(100, 1))
    window = only_window(monitor)
    copied = fork(window)
    assert copied.reconstruction is not window.reconstruction
    assert copied.reconstruction.model is window.reconstruction.model  # type: ignore[union-attr]
    copied.reconstruction.update(batch(10, 2).predictions[("m", "1")].features)  # type: ignore[union-attr]
    assert window.reconstruction is not None and window.reconstruction.n == 100


def test_a_model_without_pca_keeps_no_sums() -> None:
    cfg = world.config(multivariate={"enabled": False})
    monitor = Monitor(cfg, {("m", "1"): world.baseline(cfg)})
    monitor.ingest(batch(100, 1))
    window = only_window(monitor)
    assert window.reconstruction is None and "reconstruction" not in window.to_state()


def test_errors_too_large_to_square_survive_a_checkpoint() -> None:
    # Values near the accepted range's end on a feature of tiny spread: the squared errors overflow
    # to infinity, which JSON stores as null; the window still restores (no crash loop at start).
    monitor = fresh()
    extreme = batch(20, 1)
    extreme.predictions[("m", "1")].features["x1"][:] = 1e99
    with np.errstate(over="ignore", invalid="ignore"):
        monitor.ingest(extreme)
    window = only_window(monitor)
    assert window.reconstruction is not None and window.reconstruction.total_squares == np.inf
    blob = orjson.dumps(window.to_state(), option=orjson.OPT_SERIALIZE_NUMPY)
    restored = WindowState.from_state(orjson.loads(blob), pca=BASELINE.pca)
    assert restored.reconstruction is not None and restored.reconstruction.n == 20
    assert restored.reconstruction.total_squares == np.inf
