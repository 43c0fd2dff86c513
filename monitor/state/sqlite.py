"""The embedded StateStore: one SQLite file, written by one driftline process.

Durability: WAL journal with `synchronous=FULL`, so a save is on disk when `save` returns, and a
process killed mid-save leaves the previous checkpoints intact (the unfinished transaction never
reaches the WAL's commit record). Each save is a single `BEGIN IMMEDIATE` transaction.

Sharing: a second process opening the same file waits on SQLite's own file locks (busy timeout)
instead of failing or corrupting it. The evaluation lock, however, is only exclusive inside one
process: SQLite is the single-instance backend, and several instances need PostgreSQL.

Threads: checkpoints (`save`) have a connection of their own, so one can be written on a thread
of its own while the join reads rows through the other (WAL readers see the last commit and do not
wait for a writer; monitor.state.partitions.CheckpointWriter). Everything else shares one
connection guarded by a mutex and takes turns.

Memory: SQLite's page cache is bounded (`CACHE_KIB`); the join rows live in the file, and the
operating system's file cache, not this process, holds what is read often.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from monitor.errors import ConfigError, DriftlineError
from monitor.pipeline.join_rows import JoinReader
from monitor.state.store import (
    CHECKPOINT_TABLE,
    JOIN_DROPS_TABLE,
    JOIN_HELD_TABLE,
    JOIN_ROWS_TABLE,
    JOIN_STREAMS_TABLE,
    RECORDS_TABLE,
    SCHEMA_TABLE,
    SCHEMA_VERSION,
    WINDOWS_TABLE,
    PartitionCheckpoint,
    RecordKey,
    RecordPut,
    StoredPartition,
    check_records,
    check_schema_version,
    unique_partitions,
)
from monitor.state.tables import Sql, StoredJoin, load_partitions, save_partition

T = TypeVar("T")
BUSY_TIMEOUT_S = 30.0  # a second process holding the write lock for longer is a fault, not contention
PAGE_BYTES = 1024
CACHE_KIB = 65_536  # SQLite's page cache: interior pages of the join rows' b-trees stay in memory
_SQL = Sql("?", lambda value: value)  # an untyped column keeps labels as text and numbers as reals

# Evaluation locks of every SQLite store in this process: (database file, group) -> holder's token.
_evaluators: dict[tuple[str, str], object] = {}
_evaluators_mutex = threading.Lock()

_RECORDS = f"""CREATE TABLE IF NOT EXISTS {RECORDS_TABLE} (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (namespace, key)
)"""
# Schema 3: windows one row each; the join's rows keyed by (stream, prediction id), WITHOUT ROWID
# so the key is the row's place (one b-tree, no second copy of the id), with a (stream, segment,
# generation) index for the segment-wide deletes: each checkpoint's rows get a key range of their
# own there, so its index entries are appended, not scattered over random pages like the rows.
# Held outcomes likewise, by when they are let go.
_ROW_STATE = (
    f"""CREATE TABLE IF NOT EXISTS {WINDOWS_TABLE} (
        grp TEXT NOT NULL,
        partition INTEGER NOT NULL,
        model TEXT NOT NULL,
        version TEXT NOT NULL,
        start INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        state BLOB NOT NULL,
        PRIMARY KEY (grp, partition, model, version, start)
    )""",
    f"""CREATE TABLE IF NOT EXISTS {JOIN_STREAMS_TABLE} (
        sid INTEGER PRIMARY KEY,
        grp TEXT NOT NULL,
        partition INTEGER NOT NULL,
        model TEXT NOT NULL,
        UNIQUE (grp, partition, model)
    )""",
    f"""CREATE TABLE IF NOT EXISTS {JOIN_ROWS_TABLE} (
        sid INTEGER NOT NULL,
        pid TEXT NOT NULL,
        seg INTEGER NOT NULL,
        gen INTEGER NOT NULL,
        ts INTEGER,
        prediction,
        score REAL,
        state INTEGER NOT NULL,
        PRIMARY KEY (sid, pid)
    ) WITHOUT ROWID""",
    f"CREATE INDEX IF NOT EXISTS {JOIN_ROWS_TABLE}_seg ON {JOIN_ROWS_TABLE} (sid, seg, gen)",
    f"""CREATE TABLE IF NOT EXISTS {JOIN_HELD_TABLE} (
        sid INTEGER NOT NULL,
        pid TEXT NOT NULL,
        ts INTEGER NOT NULL,
        outcome,
        seen_before INTEGER NOT NULL,
        hold_until INTEGER NOT NULL,
        PRIMARY KEY (sid, pid)
    ) WITHOUT ROWID""",
    f"CREATE INDEX IF NOT EXISTS {JOIN_HELD_TABLE}_until ON {JOIN_HELD_TABLE} (sid, hold_until)",
)
# Schema 4: a marker per dropped segment (all its rows, or its joined ones only) and how far its
# deletes got, by generation (monitor.state.tables).
_DROPS = f"""CREATE TABLE IF NOT EXISTS {JOIN_DROPS_TABLE} (
    sid INTEGER NOT NULL,
    seg INTEGER NOT NULL,
    joined_only INTEGER NOT NULL,
    next_gen INTEGER NOT NULL,
    PRIMARY KEY (sid, seg)
) WITHOUT ROWID"""
# version -> statements that bring a store from the previous version to it. Checkpoints of schema 2
# keep their blobs (generation 0); monitor.pipeline.partition_state reads them once, and the next
# save writes the rows.
_MIGRATIONS = {
    2: (_RECORDS,),
    3: (f"ALTER TABLE {CHECKPOINT_TABLE} ADD COLUMN generation INTEGER NOT NULL DEFAULT 0", *_ROW_STATE),
    4: (_DROPS,),
}

# `join` is an SQL keyword, hence join_buffer (only schema 2 filled it; `windows` holds the meta
# blob since schema 3). Blob columns last: SQLite stops reading a row's overflow pages once it has
# the columns a query asks for.
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (name TEXT PRIMARY KEY, version INTEGER NOT NULL)",
    f"""CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} (
        grp TEXT NOT NULL,
        partition INTEGER NOT NULL,
        offsets TEXT NOT NULL,
        generation INTEGER NOT NULL DEFAULT 0,
        windows BLOB NOT NULL,
        join_buffer BLOB NOT NULL,
        PRIMARY KEY (grp, partition)
    )""",
    _RECORDS,
    *_ROW_STATE,
    _DROPS,
    f"INSERT INTO {SCHEMA_TABLE} (name, version) VALUES ('checkpoints', {SCHEMA_VERSION}) "
    "ON CONFLICT (name) DO NOTHING",
)

_RECORD_UPSERT = (
    f"INSERT INTO {RECORDS_TABLE} (namespace, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value"
)


class SqliteStateStore:
    def __init__(self, path: Path, display_url: str | None = None) -> None:
        self.path = path
        self._where = display_url or f"sqlite:///{path}"
        self._mutex = threading.Lock()
        self._save_mutex = threading.Lock()  # the checkpoint connection's
        self._writer: sqlite3.Connection | None = None  # opened by the first save
        self._token = object()  # identifies this store's evaluation locks in `_evaluators`
        self._held: set[str] = set()
        self._closed = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = _connect(path)
        except (OSError, sqlite3.Error) as err:
            raise ConfigError(f"state.url {self._where!r}: cannot open {path}: {err}") from None
        try:
            self._prepare()
        except sqlite3.Error as err:
            self._conn.close()
            raise ConfigError(
                f"state.url {self._where!r}: {path} is not a usable SQLite file: {err}"
            ) from None
        except ConfigError:
            self._conn.close()
            raise

    def _prepare(self) -> None:
        # Small pages: a join row is ~60 bytes and its look-ups and updates land on random pages,
        # so each one writes a page; 1 KiB instead of 4 KiB writes a quarter of the bytes (only
        # takes effect on a new file).
        self._conn.execute(f"PRAGMA page_size={PAGE_BYTES}")
        mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise ConfigError(f"state.url {self._where!r}: SQLite refused WAL mode (got {mode!r})")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _CREATE:
                self._conn.execute(statement)
            row = self._conn.execute(
                f"SELECT version FROM {SCHEMA_TABLE} WHERE name = 'checkpoints'"
            ).fetchone()
            found = int(row[0])
            check_schema_version(found, self._where)
            for version in range(found + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[version]:
                    self._conn.execute(statement)
                self._conn.execute(
                    f"UPDATE {SCHEMA_TABLE} SET version = ? WHERE name = 'checkpoints'", (version,)
                )
            self._conn.execute("COMMIT")
        except BaseException:
            _rollback(self._conn)
            raise

    def _open_connection(self) -> sqlite3.Connection:
        if self._closed:
            raise DriftlineError(f"state store {self._where} is closed")
        return self._conn

    def _checkpoint_connection(self) -> sqlite3.Connection:
        """The connection checkpoints are written on (hold `_save_mutex`)."""
        if self._closed:
            raise DriftlineError(f"state store {self._where} is closed")
        if self._writer is None:
            self._writer = _connect(self.path)
        return self._writer

    def save(self, group: str, checkpoints: Sequence[PartitionCheckpoint]) -> None:
        unique_partitions(group, checkpoints)
        with self._save_mutex:
            try:
                conn = self._checkpoint_connection()
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise self._failed(f"saving group {group!r}", err) from err
            try:
                cursor = conn.cursor()
                for checkpoint in checkpoints:
                    save_partition(cursor, _SQL, group, checkpoint)
                conn.execute("COMMIT")
            except BaseException as err:
                _rollback(conn)
                if isinstance(err, sqlite3.Error):
                    raise self._failed(f"saving group {group!r}", err) from err
                raise

    def _run(self, action: str, work: Callable[[sqlite3.Cursor], T]) -> T:
        """`work` on a cursor, outside any transaction (it reads the last committed state)."""
        with self._mutex:
            try:
                return work(self._open_connection().cursor())
            except sqlite3.Error as err:
                raise self._failed(action, err) from err

    def _fetch(self, action: str, query: str, params: tuple[Any, ...]) -> list[Any]:
        """The rows of one SELECT; a database error names `action`."""
        return self._run(action, lambda cursor: cursor.execute(query, params).fetchall())

    def load(self, group: str, partitions: Iterable[int]) -> dict[int, StoredPartition]:
        wanted = sorted({int(p) for p in partitions})
        if not wanted:
            return {}
        return self._run(
            f"loading group {group!r}", lambda cursor: load_partitions(cursor, _SQL, group, wanted, {})
        )

    def load_changes(self, group: str, seen: Mapping[int, int]) -> dict[int, StoredPartition]:
        # One read transaction: every partition as of the same commit.
        def work(cursor: sqlite3.Cursor) -> dict[int, StoredPartition]:
            cursor.execute("BEGIN")
            try:
                return load_partitions(cursor, _SQL, group, None, seen)
            finally:
                cursor.execute("COMMIT")

        return self._run(f"loading windows of group {group!r}", work)

    def join_reader(self, group: str, partition: int, model: str) -> JoinReader:
        return StoredJoin(
            lambda work: self._run(f"reading join rows of model {model!r}", work),
            _SQL,
            group,
            partition,
            model,
        )

    def write_records(self, puts: Sequence[RecordPut] = (), deletes: Sequence[RecordKey] = ()) -> None:
        check_records(puts, deletes)
        if not puts and not deletes:
            return
        with self._mutex:
            conn = self._open_connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise self._failed("writing records", err) from err
            try:
                conn.executemany(_RECORD_UPSERT, [(n, k, bytes(v)) for n, k, v in puts])
                conn.executemany(f"DELETE FROM {RECORDS_TABLE} WHERE namespace = ? AND key = ?", deletes)
                conn.execute("COMMIT")
            except BaseException as err:
                _rollback(conn)
                if isinstance(err, sqlite3.Error):
                    raise self._failed("writing records", err) from err
                raise

    def load_records(self, namespace: str) -> dict[str, bytes]:
        query = f"SELECT key, value FROM {RECORDS_TABLE} WHERE namespace = ?"
        rows = self._fetch(f"loading records of {namespace!r}", query, (namespace,))
        return {str(k): bytes(v) for k, v in rows}

    def try_lock_evaluation(self, group: str) -> bool:
        key = (str(self.path.resolve()), group)
        with self._mutex:
            self._open_connection()
            with _evaluators_mutex:
                holder = _evaluators.setdefault(key, self._token)
            if holder is self._token:
                self._held.add(group)
                return True
            return False

    def release_evaluation(self, group: str) -> None:
        with self._mutex:
            self._release(group)

    def _release(self, group: str) -> None:
        key = (str(self.path.resolve()), group)
        with _evaluators_mutex:
            if _evaluators.get(key) is self._token:
                del _evaluators[key]
        self._held.discard(group)

    def ping(self) -> bool:
        with self._mutex:
            if self._closed:
                return False
            try:
                self._conn.execute("SELECT 1").fetchone()
            except sqlite3.Error:
                return False
            return True

    def close(self) -> None:
        with self._save_mutex, self._mutex:
            if self._closed:
                return
            for group in list(self._held):
                self._release(group)
            self._closed = True
            self._conn.close()
            if self._writer is not None:
                self._writer.close()

    def _failed(self, action: str, err: sqlite3.Error) -> DriftlineError:
        return DriftlineError(f"state store {self._where}: {action} failed: {err}")


def _connect(path: Path) -> sqlite3.Connection:
    """A connection to the store's file with the settings of every connection: durable commits
    (synchronous=FULL, see the module doc) and the bounded page cache."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def _rollback(conn: sqlite3.Connection) -> None:
    # Some errors (disk full, I/O) make SQLite roll back by itself; a second ROLLBACK would raise.
    if conn.in_transaction:
        conn.execute("ROLLBACK")
