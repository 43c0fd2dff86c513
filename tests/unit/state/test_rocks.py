"""The RocksDB StateStore's own behaviour: its index entries go with their rows, one process holds a
folder, read-only stores, and URLs. (The contract both embedded stores keep: test_store.py; the
join rows any sequence of changes leaves: test_join_rows_model.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from monitor.errors import ConfigError, DriftlineError
from monitor.pipeline.join_rows import JOINED, WAITING, JoinDelta
from monitor.state import store as store_module
from monitor.state.factory import open_state_store
from monitor.state.rocks import _FORMAT_KEY, FORMAT, RocksStateStore
from monitor.state.sqlite import SqliteStateStore
from monitor.state.store import PartitionCheckpoint
from tests.unit.embedded_stores import rocks_keys

REPO_ROOT = Path(__file__).resolve().parents[3]


def _save(store: SqliteStateStore | RocksStateStore, delta: JoinDelta, generation: int) -> None:
    store.save("g", [PartitionCheckpoint(0, {"in": generation}, b"m", {}, {"m": delta})])


def test_dropped_rows_are_hidden_at_once_and_deleted_over_the_following_saves(tmp_path: Path) -> None:
    ids = [f"p{i:02d}" for i in range(30)]
    rows = [(pid, (1, 10, "x", 0.5, JOINED if i % 3 == 0 else WAITING)) for i, pid in enumerate(ids)]
    store = RocksStateStore(tmp_path / "r")
    with mock.patch.object(store_module, "DRAIN_MIN", 4):
        _save(store, JoinDelta(inserted=rows), 1)  # 30 rows, 10 of them joined
        _save(store, JoinDelta(drop_joined=[1]), 2)
        waiting = {pid for pid, row in rows if row[4] == WAITING}
        assert set(store.join_reader("g", 0, "m").rows(ids)) == waiting, "hidden at once"
        # The drop's save went through 4 index entries (p00-p03) and deleted the joined among them.
        assert len(rocks_keys(store, b"R")) == 30 - 2
        store.close()  # the drop goes on after a restart, from where it got
        store = RocksStateStore(tmp_path / "r")
        saves = 2
        while rocks_keys(store, b"D"):
            saves += 1
            _save(store, JoinDelta(), saves)
            assert set(store.join_reader("g", 0, "m").rows(ids)) == waiting
        assert saves == 2 + 7, "30 index entries, 4 a save: 8 saves, the drop's own included"
        assert {key[5:].decode() for key in rocks_keys(store, b"R")} == waiting
        assert len(rocks_keys(store, b"I")) == len(waiting), "the joined rows' entries went with them"
        # Dropping the whole segment hides the rest at once, and then deletes it, entries and all.
        _save(store, JoinDelta(drop_segments=[1]), saves + 1)
        assert store.join_reader("g", 0, "m").rows(ids) == {}
        for extra in range(2, 10):
            _save(store, JoinDelta(), saves + extra)
        assert (
            rocks_keys(store, b"D") == [] and rocks_keys(store, b"R") == [] and rocks_keys(store, b"I") == []
        )
    store.close()


def test_a_nan_score_is_stored_as_none_as_sqlite_stores_it(tmp_path: Path) -> None:
    delta = JoinDelta(inserted=[("a", (0, 5, 0.25, float("nan"), WAITING))])
    stores = SqliteStateStore(tmp_path / "s.db"), RocksStateStore(tmp_path / "r")
    try:
        for store in stores:
            _save(store, delta, 1)
        found = [store.join_reader("g", 0, "m").rows(["a"]) for store in stores]
        assert found[0] == found[1] == {"a": (0, 5, 0.25, None, WAITING)}
    finally:
        for store in stores:
            store.close()


def test_numpy_scalars_are_stored_as_the_numbers_they_hold(tmp_path: Path) -> None:
    # The join hands plain Python values (it reads arrays with tolist()); a numpy scalar that gets
    # through anyway is stored as its number, not refused.
    store = RocksStateStore(tmp_path / "r")
    try:
        _save(store, JoinDelta(inserted=[("b", (0, 6, np.int64(3), np.float32(0.5), WAITING))]), 1)
        assert store.join_reader("g", 0, "m").rows(["b"]) == {"b": (0, 6, 3, 0.5, WAITING)}
    finally:
        store.close()


def test_a_save_that_cannot_be_stored_writes_nothing(tmp_path: Path) -> None:
    store = RocksStateStore(tmp_path / "r")
    try:
        _save(store, JoinDelta(inserted=[("a", (0, 1, "x", 0.5, WAITING))]), 1)
        bad = JoinDelta(deleted=["a"], inserted=[("b", (0, 1, object(), 0.5, WAITING))])
        with pytest.raises(DriftlineError, match="saving group 'g' failed"):
            _save(store, bad, 2)
        assert store.load("g", [0])[0].offsets == {"in": 1}
        assert set(store.join_reader("g", 0, "m").rows(["a", "b"])) == {"a"}
        _save(store, JoinDelta(), 3)  # usable afterwards
        assert store.load("g", [0])[0].offsets == {"in": 3}
    finally:
        store.close()


def test_a_newer_layout_is_refused(tmp_path: Path) -> None:
    store = RocksStateStore(tmp_path / "r")
    store._handle.db.put(_FORMAT_KEY, str(FORMAT + 1).encode())
    store.close()
    with pytest.raises(ConfigError, match=f"layout version {FORMAT + 1}"):
        RocksStateStore(tmp_path / "r")


_HOLD = """
import sys
from pathlib import Path
from monitor.state.rocks import RocksStateStore
from monitor.state.store import PartitionCheckpoint
store = RocksStateStore(Path(sys.argv[1]))
store.save("g", [PartitionCheckpoint(0, {"in": 7}, b"meta", {("m", "1", 0): b"w"})])
store.write_records([("n", "k", b"v")])
print("saved", flush=True)
sys.stdin.read()
"""


def test_one_process_holds_a_folder_and_others_may_read_it(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(folder)],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "saved"
        with pytest.raises(ConfigError, match="another process has it open"):
            RocksStateStore(folder)
        reader = open_state_store(f"rocksdb:///{folder}", read_only=True)
        try:
            stored = reader.load("g", [0])[0]
            assert (stored.offsets, stored.meta, stored.windows) == (
                {"in": 7},
                b"meta",
                {("m", "1", 0): b"w"},
            )
            assert reader.load_records("n") == {"k": b"v"}
            with pytest.raises(DriftlineError, match="read-only"):
                reader.write_records([("n", "k", b"x")])
        finally:
            reader.close()
    finally:
        child.communicate("")
    assert child.returncode == 0


def test_a_folder_of_other_files_or_a_file_is_not_taken_for_a_store(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds files but no RocksDB store"):
        RocksStateStore(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    with pytest.raises(ConfigError, match="cannot open"):
        RocksStateStore(tmp_path / "notes.txt")


def test_read_only_needs_an_existing_store(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no RocksDB store"):
        RocksStateStore(tmp_path / "missing", read_only=True)
    assert not (tmp_path / "missing").exists()


def test_stores_of_one_folder_in_one_process_share_it_until_the_last_closes(tmp_path: Path) -> None:
    first, second = RocksStateStore(tmp_path / "r"), RocksStateStore(tmp_path / "r")
    first.save("g", [PartitionCheckpoint(0, {"in": 1}, b"a")])
    first.close()
    assert second.load("g", [0])[0].offsets == {"in": 1}, "still open for the second"
    second.close()
    third = RocksStateStore(tmp_path / "r")  # reopened from disk
    try:
        assert third.load("g", [0])[0].meta == b"a"
    finally:
        third.close()


def test_rocksdb_urls_resolve_relative_to_the_config_folder(tmp_path: Path) -> None:
    relative = open_state_store("rocksdb:///state/driftline/", base=tmp_path)
    try:
        assert isinstance(relative, RocksStateStore)
        assert relative.path == tmp_path / "state" / "driftline"
        assert (tmp_path / "state" / "driftline" / "CURRENT").is_file()
    finally:
        relative.close()
    for url, message in [("rocksdb://state", "three slashes"), ("rocksdb:///", "names no database folder")]:
        with pytest.raises(ConfigError, match=message):
            open_state_store(url, base=tmp_path)
