"""The StateStore record API (namespace, key → bytes; atomic batches) on SQLite, and the
migration of a schema-1 store. tests/integration/test_state_records_postgres.py runs the same
checks against PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.state.sqlite import SqliteStateStore
from monitor.state.store import CHECKPOINT_TABLE, SCHEMA_TABLE, SCHEMA_VERSION, StateStore
from tests.unit.state.test_store import as_saved, checkpoint, view


def check_round_trip_and_namespaces(store: StateStore) -> None:
    store.write_records([("a", "k1", b"\x00one"), ("a", "k2", b"two"), ("b", "k1", b"other")])
    assert store.load_records("a") == {"k1": b"\x00one", "k2": b"two"}
    assert store.load_records("b") == {"k1": b"other"}
    assert store.load_records("none") == {}
    store.write_records([("a", "k1", b"new")], deletes=[("a", "k2"), ("a", "missing")])
    assert store.load_records("a") == {"k1": b"new"}


def check_a_failing_batch_changes_nothing(store: StateStore) -> None:
    store.write_records([("a", "k", b"v")])
    with pytest.raises(ValueError, match="appears twice"):
        store.write_records([("a", "x", b"1")], deletes=[("a", "k"), ("a", "k")])
    with pytest.raises(ValueError, match="non-empty"):
        store.write_records([("a", "", b"1")])
    assert store.load_records("a") == {"k": b"v"}


def check_records_and_checkpoints_live_side_by_side(store: StateStore) -> None:
    store.save("g", [checkpoint(0, 1)])
    store.write_records([("g", "0", b"record")])
    assert view(store.load("g", [0])) == as_saved(checkpoint(0, 1))
    assert store.load_records("g") == {"0": b"record"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStateStore]:
    s = SqliteStateStore(tmp_path / "s.db")
    yield s
    s.close()


def test_round_trip_and_namespaces(store: SqliteStateStore) -> None:
    check_round_trip_and_namespaces(store)


def test_a_failing_batch_changes_nothing(store: SqliteStateStore) -> None:
    check_a_failing_batch_changes_nothing(store)


def test_records_and_checkpoints_live_side_by_side(store: SqliteStateStore) -> None:
    check_records_and_checkpoints_live_side_by_side(store)


def test_records_survive_reopening(tmp_path: Path) -> None:
    first = SqliteStateStore(tmp_path / "s.db")
    first.write_records([("n", "k", b"v")])
    first.close()
    second = SqliteStateStore(tmp_path / "s.db")
    assert second.load_records("n") == {"k": b"v"}
    second.close()


def test_a_schema_1_store_is_migrated_keeping_its_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the tables as schema 1 wrote them
        conn.execute(f"CREATE TABLE {SCHEMA_TABLE} (name TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        conn.execute(f"INSERT INTO {SCHEMA_TABLE} VALUES ('checkpoints', 1)")
        conn.execute(
            f"CREATE TABLE {CHECKPOINT_TABLE} (grp TEXT NOT NULL, partition INTEGER NOT NULL, offsets TEXT "
            "NOT NULL, windows BLOB NOT NULL, join_buffer BLOB NOT NULL, PRIMARY KEY (grp, partition))"
        )
        conn.execute(f"INSERT INTO {CHECKPOINT_TABLE} VALUES ('g', 0, '{{\"in\": 7}}', x'01', x'02')")
    conn.close()
    migrated = SqliteStateStore(path)
    try:
        old = migrated.load("g", [0])[0]
        assert (old.offsets, old.meta, old.generation, old.windows) == ({"in": 7}, b"\x01", 0, {})
        migrated.write_records([("n", "k", b"v")])
        assert migrated.load_records("n") == {"k": b"v"}
        migrated.save("g", [checkpoint(0, 3)])  # the row-level tables are there
        assert view(migrated.load("g", [0])) == as_saved(checkpoint(0, 3))
    finally:
        migrated.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute(f"SELECT version FROM {SCHEMA_TABLE}").fetchall() == [(SCHEMA_VERSION,)]
    conn.close()
