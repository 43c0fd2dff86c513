"""The embedded StateStores (SQLite and RocksDB: the contract both keep, and SQLite's own behaviour)
and `open_state_store`. RocksDB's own: test_rocks.py; PostgreSQL: tests/integration/test_state_postgres.py."""

from __future__ import annotations

import inspect
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import ConfigError, DriftlineError
from monitor.state.factory import open_state_store
from monitor.state.sqlite import SqliteStateStore
from monitor.state.store import (
    CHECKPOINT_TABLE,
    SCHEMA_TABLE,
    SCHEMA_VERSION,
    PartitionCheckpoint,
    StateStore,
    StoredPartition,
    advisory_lock_key,
    redact_url,
)
from tests.unit.embedded_stores import KINDS, EmbeddedStore, open_embedded

REPO_ROOT = Path(__file__).resolve().parents[3]


def checkpoint(partition: int, generation: int, size: int = 1000) -> PartitionCheckpoint:
    """A checkpoint whose every field says which partition and save generation wrote it: its
    meta blob and three windows (rewritten by every generation)."""
    meta = (f"w{generation}:{partition};".encode() * size)[: size + generation % 13]
    windows = {
        ("m", "1", k * 3_600_000): (f"w{generation}:{partition}:{k};".encode() * size)[: size + k]
        for k in range(3)
    }
    return PartitionCheckpoint(
        partition, {"predictions": generation, "outcomes": 2 * generation}, meta, windows
    )


def view(stored: dict[int, StoredPartition]) -> dict[int, tuple[object, ...]]:
    """What a load returned, comparable with the checkpoints saved (`as_saved`)."""
    return {p: (s.offsets, s.meta, s.windows) for p, s in stored.items()}


def as_saved(*checkpoints: PartitionCheckpoint) -> dict[int, tuple[object, ...]]:
    return {c.partition: (c.offsets, c.meta, dict(c.windows)) for c in checkpoints}


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"  # a file for SQLite, a folder for RocksDB


@pytest.fixture
def store(kind: str, db_path: Path) -> Iterator[EmbeddedStore]:
    opened = open_embedded(kind, db_path)
    yield opened
    opened.close()


def test_round_trip_keeps_bytes_and_offsets(store: EmbeddedStore) -> None:
    saved = [
        PartitionCheckpoint(
            0, {"predictions": 17, "outcomes": 3}, bytes(range(256)) * 40, {("m", "1", 0): b"\x00"}
        ),
        PartitionCheckpoint(1, {}, b""),
        PartitionCheckpoint(5, {"stdin": 2**40}, b"\xff" * 70_000, {("m", "2", -5): b"\xff" * 70_000}),
    ]
    store.save("g", saved)
    assert view(store.load("g", [0, 1, 5])) == as_saved(*saved)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=25, deadline=None)
@given(
    offsets=st.dictionaries(st.text(min_size=1, max_size=20), st.integers(0, 2**62), max_size=4),
    meta=st.binary(max_size=2000),
    windows=st.dictionaries(
        st.tuples(st.text(min_size=1, max_size=5), st.text(max_size=5), st.integers(-(2**62), 2**62)),
        st.binary(max_size=500),
        max_size=4,
    ),
    partition=st.integers(0, 2**31 - 1),
)
def test_any_checkpoint_round_trips(
    kind: str,
    tmp_path_factory: pytest.TempPathFactory,
    offsets: dict[str, int],
    meta: bytes,
    windows: dict[tuple[str, str, int], bytes],
    partition: int,
) -> None:
    store = open_embedded(kind, tmp_path_factory.mktemp("prop") / "state.db")
    try:
        saved = PartitionCheckpoint(partition, offsets, meta, windows)
        store.save("g", [saved])
        assert view(store.load("g", [partition])) == as_saved(saved)
    finally:
        store.close()


def test_save_replaces_only_the_partitions_it_names(store: EmbeddedStore) -> None:
    store.save("g", [checkpoint(p, 1) for p in range(3)])
    store.save("g", [checkpoint(1, 2)])
    assert view(store.load("g", range(3))) == as_saved(checkpoint(0, 1), checkpoint(1, 2), checkpoint(2, 1))


def test_partial_loads_and_groups_are_separate(store: EmbeddedStore) -> None:
    store.save("a", [checkpoint(0, 1), checkpoint(1, 1)])
    store.save("b", [checkpoint(1, 9)])
    assert view(store.load("a", [1, 7])) == as_saved(checkpoint(1, 1))
    assert view(store.load("b", [0, 1])) == as_saved(checkpoint(1, 9))
    assert store.load("a", []) == {}
    assert store.load("missing", [0]) == {}


def test_load_changes_reads_only_windows_written_since_a_generation(store: EmbeddedStore) -> None:
    store.save("a", [checkpoint(0, 1), checkpoint(3, 4)])
    store.save("b", [checkpoint(0, 8)])
    everything = store.load_changes("a", {})
    assert view(everything) == as_saved(checkpoint(0, 1), checkpoint(3, 4))
    assert {p: s.generation for p, s in everything.items()} == {0: 1, 3: 1}
    # Partition 3 rewrites one window and drops another; partition 0 does not change.
    store.save("a", [PartitionCheckpoint(3, {}, b"m", {("m", "1", 0): b"new", ("m", "1", 3_600_000): None})])
    changed = store.load_changes("a", {0: 1, 3: 1})
    assert changed[0].windows == {} and changed[0].meta == checkpoint(0, 1).meta
    assert changed[3].generation == 2 and changed[3].windows == {("m", "1", 0): b"new"}
    assert set(store.load("a", [3])[3].windows) == {("m", "1", 0), ("m", "1", 7_200_000)}
    assert store.load_changes("empty", {}) == {}


def test_duplicate_partition_in_one_save_is_refused_and_changes_nothing(store: EmbeddedStore) -> None:
    store.save("g", [checkpoint(0, 1), checkpoint(1, 1)])
    with pytest.raises(ValueError, match="partition 1 twice"):
        store.save("g", [checkpoint(0, 2), checkpoint(1, 2), checkpoint(1, 3)])
    assert view(store.load("g", [0, 1])) == as_saved(checkpoint(0, 1), checkpoint(1, 1))


def test_sqlite_save_failing_mid_transaction_keeps_every_previous_checkpoint(db_path: Path) -> None:
    store = SqliteStateStore(db_path)
    store.save("g", [checkpoint(0, 1), checkpoint(1, 1)])
    with sqlite3.connect(db_path) as other:
        other.execute(
            f"CREATE TRIGGER refuse_99 BEFORE INSERT ON {CHECKPOINT_TABLE} WHEN NEW.partition = 99 "
            "BEGIN SELECT RAISE(ABORT, 'partition 99 refused'); END"
        )
    # Partitions 0 and 1 are written before 99 fails inside the same transaction.
    with pytest.raises(DriftlineError, match="partition 99 refused"):
        store.save("g", [checkpoint(0, 2), checkpoint(1, 2), checkpoint(99, 2)])
    assert view(store.load("g", [0, 1, 99])) == as_saved(checkpoint(0, 1), checkpoint(1, 1))
    store.save("g", [checkpoint(0, 3)])  # the store is usable after the failure
    assert view(store.load("g", [0])) == as_saved(checkpoint(0, 3))
    store.close()


def test_checkpoints_survive_reopening(kind: str, db_path: Path) -> None:
    first = open_embedded(kind, db_path)
    first.save("g", [checkpoint(2, 5)])
    first.close()
    second = open_embedded(kind, db_path)
    try:
        assert view(second.load("g", [2])) == as_saved(checkpoint(2, 5))
    finally:
        second.close()


def test_sqlite_records_its_schema_version_and_journals_in_wal_mode(db_path: Path) -> None:
    SqliteStateStore(db_path).close()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute(f"SELECT name, version FROM {SCHEMA_TABLE}").fetchall() == [
            ("checkpoints", SCHEMA_VERSION)
        ]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_newer_schema_version_is_refused(db_path: Path) -> None:
    SqliteStateStore(db_path).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"UPDATE {SCHEMA_TABLE} SET version = 99")
    with pytest.raises(ConfigError, match="schema version 99"):
        SqliteStateStore(db_path)


def test_a_file_that_is_not_sqlite_is_a_config_error(tmp_path: Path) -> None:
    bogus = tmp_path / "state.db"
    bogus.write_bytes(b"not a database" * 100)
    with pytest.raises(ConfigError, match=r"state\.db"):
        open_state_store("sqlite:///state.db", base=tmp_path)


# A child process that saves forever, each save a new generation of all partitions, and prints
# each generation once `save` has returned. It gets `checkpoint` as source: importing this module
# would import pytest and hypothesis, and slow every start.
_SAVE_LOOP = """
import sys
from pathlib import Path
if sys.argv[2] == "rocksdb":
    from monitor.state.rocks import RocksStateStore as Store
else:
    from monitor.state.sqlite import SqliteStateStore as Store
store = Store(Path(sys.argv[1]))
stored = store.load("g", [0])
generation = stored[0].offsets["predictions"] if stored else 0
while True:
    generation += 1
    store.save("g", [checkpoint(p, generation, size=150_000) for p in range(4)])
    print(generation, flush=True)
"""


def test_killing_a_process_mid_save_leaves_a_complete_checkpoint(kind: str, db_path: Path) -> None:
    rng = random.Random(7)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    script = (
        "from monitor.state.store import PartitionCheckpoint\n" + inspect.getsource(checkpoint) + _SAVE_LOOP
    )
    progress: list[int] = []
    for _round in range(12):
        child = subprocess.Popen(
            [sys.executable, "-c", script, str(db_path), kind], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE
        )
        assert child.stdout is not None
        first = child.stdout.readline()  # one save done: the loop is running
        assert first, "the saving child exited before its first save"
        threading.Event().wait(rng.uniform(0.0, 0.04))
        child.send_signal(signal.SIGKILL)
        child.wait()
        acknowledged = [int(line) for line in [first, *child.stdout.readlines()]]
        child.stdout.close()

        store = open_embedded(kind, db_path)
        try:
            stored = store.load("g", range(4))
        finally:
            store.close()
        generation = stored[0].offsets["predictions"]
        assert view(stored) == as_saved(*(checkpoint(p, generation, size=150_000) for p in range(4)))
        assert generation >= acknowledged[-1], "a save that returned was lost"
        progress.append(generation)
    assert progress == sorted(progress)


def save_from_two_threads(stores: list[StateStore], generations: int) -> list[BaseException]:
    """The first store saves partitions 0 and 2, the second 1 and 3, `generations` times each,
    at the same time; returns what either raised."""
    failures: list[BaseException] = []

    def save_many(store: StateStore, partitions: list[int]) -> None:
        try:
            for generation in range(1, generations + 1):
                store.save("g", [checkpoint(p, generation) for p in partitions])
        except BaseException as err:
            failures.append(err)

    threads = [
        threading.Thread(target=save_many, args=(stores[0], [0, 2])),
        threading.Thread(target=save_many, args=(stores[1], [1, 3])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_two_stores_on_one_file_save_concurrently_without_errors(kind: str, db_path: Path) -> None:
    stores = [open_embedded(kind, db_path), open_embedded(kind, db_path)]
    failures = save_from_two_threads(stores, 30)
    try:
        assert failures == []
        assert view(stores[0].load("g", range(4))) == as_saved(*(checkpoint(p, 30) for p in range(4)))
    finally:
        for store in stores:
            store.close()


def test_load_changes_on_another_thread_sees_whole_saves(store: EmbeddedStore) -> None:
    done = threading.Event()
    snapshots: list[dict[int, bytes]] = []

    def evaluate() -> None:
        while not done.is_set():
            snapshots.append({p: s.meta for p, s in store.load_changes("g", {}).items()})

    store.save("g", [checkpoint(p, 0) for p in range(4)])
    reader = threading.Thread(target=evaluate)
    reader.start()
    for generation in range(1, 41):
        store.save("g", [checkpoint(p, generation) for p in range(4)])
    done.set()
    reader.join()
    assert snapshots
    for snapshot in snapshots:
        generations = {blob.split(b":")[0] for blob in snapshot.values()}
        assert len(generations) == 1, f"one load_changes mixed saves: {generations}"


def test_evaluation_lock_is_exclusive_within_the_process(kind: str, db_path: Path, tmp_path: Path) -> None:
    first, second = open_embedded(kind, db_path), open_embedded(kind, db_path)
    elsewhere = open_embedded(kind, tmp_path / "other.db")
    try:
        assert first.try_lock_evaluation("g")
        assert first.try_lock_evaluation("g"), "the holder asking again still holds it"
        assert not second.try_lock_evaluation("g")
        assert second.try_lock_evaluation("h"), "groups lock separately"
        assert elsewhere.try_lock_evaluation("g"), "another database file locks separately"
        first.release_evaluation("g")
        assert second.try_lock_evaluation("g")
        assert not first.try_lock_evaluation("g")
        second.close()
        assert first.try_lock_evaluation("g"), "close releases the lock"
    finally:
        for store in (first, second, elsewhere):
            store.close()


def test_closed_store_refuses_work_and_does_not_answer_ping(store: EmbeddedStore) -> None:
    assert store.ping()
    store.close()
    store.close()  # twice is harmless
    assert not store.ping()
    with pytest.raises(DriftlineError, match="closed"):
        store.save("g", [checkpoint(0, 1)])
    with pytest.raises(DriftlineError, match="closed"):
        store.load_changes("g", {})


def test_sqlite_urls_resolve_relative_to_the_config_folder(tmp_path: Path) -> None:
    relative = open_state_store("sqlite:///state/driftline.db", base=tmp_path)
    absolute = open_state_store(f"sqlite:///{tmp_path / 'abs.db'}")
    try:
        assert isinstance(relative, SqliteStateStore)
        assert relative.path == tmp_path / "state" / "driftline.db"
        assert (tmp_path / "state" / "driftline.db").is_file()
        assert isinstance(absolute, SqliteStateStore)
        assert absolute.path == tmp_path / "abs.db"
    finally:
        relative.close()
        absolute.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@localhost/state", "unsupported scheme 'mysql'"),
        ("state.db", "unsupported scheme '\\(none\\)'"),
        ("sqlite://state.db", "three slashes"),
        ("sqlite:///", "names no database file"),
    ],
)
def test_bad_urls_are_config_errors_naming_the_url(tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        open_state_store(url, base=tmp_path)
    assert url in str(caught.value)


def test_unreachable_postgres_is_a_config_error_without_the_password(free_tcp_port: int) -> None:
    url = f"postgresql://driftline:s3cret@127.0.0.1:{free_tcp_port}/state"
    with pytest.raises(ConfigError) as caught:
        open_state_store(url)
    message = str(caught.value)
    assert f"postgresql://driftline:***@127.0.0.1:{free_tcp_port}/state" in message
    assert "s3cret" not in message


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("postgres://u:pw@db.example:6432/x?sslmode=require") == (
        "postgres://u:***@db.example:6432/x?sslmode=require"
    )
    assert redact_url("postgresql://u@db/x") == "postgresql://u@db/x"


@given(namespace=st.text(max_size=30), group=st.text(max_size=30))
def test_advisory_lock_keys_are_deterministic_signed_64_bit(namespace: str, group: str) -> None:
    key = advisory_lock_key("evaluation", namespace, group)
    assert key == advisory_lock_key("evaluation", namespace, group)
    assert -(2**63) <= key < 2**63
    assert key != advisory_lock_key("schema", namespace, group)
