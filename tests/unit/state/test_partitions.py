"""Partitions through a real SQLite store: an upgrade from schema 2's blobs, and the evaluator's
copies of other instances' partitions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import orjson

from monitor.pipeline.monitor import Batch, Monitor
from monitor.state.partitions import PeerPartitions, restore_partition, save_partitions
from monitor.state.sqlite import SqliteStateStore
from monitor.state.store import CHECKPOINT_TABLE, SCHEMA_TABLE
from tests.unit import stream_world as world

H = world.HOUR_MS


def _schema_2_store(path: Path, windows: bytes, join: bytes) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE {SCHEMA_TABLE} (name TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        conn.execute(f"INSERT INTO {SCHEMA_TABLE} VALUES ('checkpoints', 2)")
        conn.execute(
            f"CREATE TABLE {CHECKPOINT_TABLE} (grp TEXT NOT NULL, partition INTEGER NOT NULL, offsets TEXT "
            "NOT NULL, windows BLOB NOT NULL, join_buffer BLOB NOT NULL, PRIMARY KEY (grp, partition))"
        )
        conn.execute(
            f"INSERT INTO {CHECKPOINT_TABLE} VALUES ('g', 0, '{{\"in\": 9}}', ?, ?)", (windows, join)
        )
    conn.close()


def test_a_schema_2_checkpoint_is_read_once_and_written_by_row(tmp_path: Path) -> None:
    cfg = world.config()
    baselines = {("m", "1"): world.baseline(cfg)}
    rng = np.random.default_rng(1)
    frame = world.rows(3, rng)
    source = Monitor(cfg, baselines)  # builds the window and detector states the old blob held
    source.ingest(
        Batch(predictions={("m", "1"): world.predictions(frame, ["a", "b", "c"], np.array([1, 2, 3]))})
    )
    stream = source.streams[("m", "1")]
    old_windows = {
        "streams": [["m", "1", {**stream.to_state(), "windows": [stream.windows[0].to_state()]}]],
        "counters": source.counters.to_state(),
    }
    old_join = {
        "m": {
            "ttl_ms": 6 * H,
            "next_segment": 1,
            "watermark": 3,
            "outcome_watermark": 5,
            "segments": {
                "0": {
                    "version": "1",
                    "window_start": 0,
                    "window_end": H,
                    "ids": ["a", "b", "c"],
                    "timestamp": [1, 2, 3],
                    "prediction": frame["prediction"].tolist(),
                    "score": [None, None, None],
                    "joined": [1],
                }
            },
            "expired_ids": [],
            "early": [["e", 5, "1"]],
        }
    }
    _schema_2_store(tmp_path / "state.db", orjson.dumps(old_windows), orjson.dumps(old_join))
    store = SqliteStateStore(tmp_path / "state.db")
    try:
        monitor = Monitor(cfg, baselines)
        restore_partition(store, "g", store.load("g", [0])[0], monitor)
        join = monitor.joins["m"]
        assert (len(join), join.held) == (2, 1)
        assert monitor.streams[("m", "1")].windows[0].sketch.n_rows == 3
        assert monitor.counters.total("predictions") == 3
        save_partitions(store, "g", [(0, {"in": 10}, monitor)])  # now by row

        again = Monitor(cfg, baselines)
        restore_partition(store, "g", store.load("g", [0])[0], again)
        outcomes = world.outcomes(frame.iloc[:2], ["a", "b"], np.array([10, 10]))
        later = world.rows(1, rng)
        again.ingest(
            Batch(
                predictions={("m", "1"): world.predictions(later, ["e"], np.array([4]))},
                outcomes={"m": outcomes},
            )
        )
        assert again.counters.total("joined") == 2  # a, and e with its held outcome
        assert again.counters.get("unmatched_outcomes", model="m", reason="duplicate_outcome") == 1  # b
        assert len(again.joins["m"]) == 1  # c
    finally:
        store.close()


def test_peer_copies_follow_the_owners_windows(tmp_path: Path) -> None:
    cfg = world.config()
    baselines = {("m", "1"): world.baseline(cfg)}
    rng = np.random.default_rng(2)
    owners = {p: Monitor(cfg, baselines) for p in (0, 1)}
    for p, monitor in owners.items():
        frame = world.rows(50, rng)
        ids = [f"{p}-{j}" for j in range(50)]
        monitor.ingest(Batch(predictions={("m", "1"): world.predictions(frame, ids, np.arange(50) * 1000)}))
    store = SqliteStateStore(tmp_path / "state.db")
    try:
        save_partitions(store, "g", [(p, {}, m) for p, m in owners.items()])
        peers = PeerPartitions(store, "g", lambda p: Monitor(cfg, baselines, p))
        first = peers.refresh()
        assert {p: m.streams[("m", "1")].windows[0].sketch.n_rows for p, m in first.items()} == {0: 50, 1: 50}
        # Partition 1 takes a second window, then drops its first (as after its final evaluation).
        frame = world.rows(20, rng)
        batch = world.predictions(frame, [f"x{j}" for j in range(20)], H + np.arange(20))
        owners[1].ingest(Batch(predictions={("m", "1"): batch}))
        del owners[1].streams[("m", "1")].windows[0]
        save_partitions(store, "g", [(1, {}, owners[1])])
        second = peers.refresh()
        assert second[0] is first[0]  # unchanged: not read again
        assert sorted(second[1].streams[("m", "1")].windows) == [H]
        assert second[1].streams[("m", "1")].windows[H].sketch.n_rows == 20
    finally:
        store.close()
