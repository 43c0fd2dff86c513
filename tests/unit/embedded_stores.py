"""The embedded StateStores, for tests that run the same on each: SQLite and RocksDB."""

from __future__ import annotations

from pathlib import Path

from monitor.state.rocks import RocksStateStore
from monitor.state.sqlite import SqliteStateStore

EmbeddedStore = SqliteStateStore | RocksStateStore
EMBEDDED = {"sqlite": SqliteStateStore, "rocksdb": RocksStateStore}
KINDS = sorted(EMBEDDED)


def open_embedded(kind: str, path: Path) -> EmbeddedStore:
    """The `kind` store at `path` (a file for SQLite, a folder for RocksDB)."""
    return EMBEDDED[kind](path)


def stored_rows(store: EmbeddedStore) -> dict[str, int]:
    """Every join row in the store, prediction id -> state, read past the store's interface."""
    if isinstance(store, SqliteStateStore):
        rows = store._conn.execute("SELECT pid, state FROM driftline_join_rows").fetchall()
        return {pid: state for pid, state in rows}
    return {key[5:].decode(): value[8] for key, value in _rocks_keys(store, b"R")}


def rocks_keys(store: RocksStateStore, tag: bytes) -> list[bytes]:
    """The keys of RocksDB's store under one tag (see monitor.state.rocks: R, I, H, U...)."""
    return [key for key, _ in _rocks_keys(store, tag)]


def _rocks_keys(store: RocksStateStore, tag: bytes) -> list[tuple[bytes, bytes]]:
    found = []
    for key, value in store._handle.db.items(from_key=tag):
        if not key.startswith(tag):
            break
        found.append((key, value))
    return found
