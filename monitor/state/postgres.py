"""The shared StateStore: PostgreSQL, for several driftline instances consuming one group.

Each instance saves only the partitions Kafka assigned to it; a save is one transaction over the
rows of those partitions (checkpoint row, changed windows, join rows), so other instances' rows are
never touched and a failed save leaves every previous checkpoint in place. `load_changes` runs in
one REPEATABLE READ transaction, hence one snapshot: an evaluator never mixes a partition's new
state with another's from before a save.

The tables live in the first schema of the connection's search_path, so one database can hold
several deployments (`?options=-csearch_path%3Dteam_a` in the URL).

Evaluation lock: a session-level `pg_try_advisory_lock` on the store's connection. PostgreSQL frees
it when the session ends, including when the holding process dies or the connection drops, in
which case this store forgets it holds the lock; call `try_lock_evaluation` before each evaluation
so a holder notices.

Threads: one connection behind a mutex (psycopg connections must not interleave transactions
across threads). A dropped connection is reopened once per call; if that fails the call raises
DriftlineError and the next call tries again.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

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
    advisory_lock_key,
    check_records,
    check_schema_version,
    redact_url,
    unique_partitions,
)
from monitor.state.tables import Sql, StoredJoin, load_partitions, save_partition

T = TypeVar("T")

# Used only when the URL does not set them: fail fast on a dead host, notice a vanished server in
# about a minute rather than the kernel's two hours, and name the client in pg_stat_activity.
CONNECTION_DEFAULTS = {
    "connect_timeout": "5",
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "application_name": "driftline",
}

_RECORDS = f"""CREATE TABLE IF NOT EXISTS {RECORDS_TABLE} (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (namespace, key)
)"""
# Schema 3 (see monitor.state.sqlite): windows one row each, the join's rows by (stream, id).
# Predictions and outcomes are stored as text (a number as its repr, which reads back exactly).
_ROW_STATE = (
    f"""CREATE TABLE IF NOT EXISTS {WINDOWS_TABLE} (
        grp TEXT NOT NULL,
        partition INTEGER NOT NULL,
        model TEXT NOT NULL,
        version TEXT NOT NULL,
        start BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        state BYTEA NOT NULL,
        PRIMARY KEY (grp, partition, model, version, start)
    )""",
    f"""CREATE TABLE IF NOT EXISTS {JOIN_STREAMS_TABLE} (
        sid BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        grp TEXT NOT NULL,
        partition INTEGER NOT NULL,
        model TEXT NOT NULL,
        UNIQUE (grp, partition, model)
    )""",
    f"""CREATE TABLE IF NOT EXISTS {JOIN_ROWS_TABLE} (
        sid BIGINT NOT NULL,
        pid TEXT NOT NULL,
        seg INTEGER NOT NULL,
        gen BIGINT NOT NULL,
        ts BIGINT,
        prediction TEXT,
        score DOUBLE PRECISION,
        state SMALLINT NOT NULL,
        PRIMARY KEY (sid, pid)
    )""",
    f"CREATE INDEX IF NOT EXISTS {JOIN_ROWS_TABLE}_seg ON {JOIN_ROWS_TABLE} (sid, seg, gen)",
    f"""CREATE TABLE IF NOT EXISTS {JOIN_HELD_TABLE} (
        sid BIGINT NOT NULL,
        pid TEXT NOT NULL,
        ts BIGINT NOT NULL,
        outcome TEXT,
        seen_before BIGINT NOT NULL,
        hold_until BIGINT NOT NULL,
        PRIMARY KEY (sid, pid)
    )""",
    f"CREATE INDEX IF NOT EXISTS {JOIN_HELD_TABLE}_until ON {JOIN_HELD_TABLE} (sid, hold_until)",
)
_DROPS = f"""CREATE TABLE IF NOT EXISTS {JOIN_DROPS_TABLE} (
    sid BIGINT NOT NULL,
    seg INTEGER NOT NULL,
    joined_only SMALLINT NOT NULL,
    next_gen BIGINT NOT NULL,
    PRIMARY KEY (sid, seg)
)"""  # schema 4, as in monitor.state.sqlite
# version -> statements that bring a store from the previous version to it.
_MIGRATIONS = {
    2: (_RECORDS,),
    3: (
        f"ALTER TABLE {CHECKPOINT_TABLE} ADD COLUMN IF NOT EXISTS generation BIGINT NOT NULL DEFAULT 0",
        *_ROW_STATE,
    ),
    4: (_DROPS,),
}

_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (name TEXT PRIMARY KEY, version INTEGER NOT NULL)",
    f"""CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} (
        grp TEXT NOT NULL,
        partition INTEGER NOT NULL,
        offsets TEXT NOT NULL,
        generation BIGINT NOT NULL DEFAULT 0,
        windows BYTEA NOT NULL,
        join_buffer BYTEA NOT NULL,
        PRIMARY KEY (grp, partition)
    )""",
    _RECORDS,
    *_ROW_STATE,
    _DROPS,
    f"INSERT INTO {SCHEMA_TABLE} (name, version) VALUES ('checkpoints', {SCHEMA_VERSION}) "
    "ON CONFLICT (name) DO NOTHING",
)
_SQL = Sql("%s", lambda value: None if value is None else str(value))

_RECORD_UPSERT = (
    f"INSERT INTO {RECORDS_TABLE} (namespace, key, value) VALUES (%s, %s, %b) "
    "ON CONFLICT (namespace, key) DO UPDATE SET value = EXCLUDED.value"
)


class PostgresStateStore:
    def __init__(self, url: str) -> None:
        self._where = redact_url(url)
        try:
            given = conninfo_to_dict(url)
        except psycopg.Error as err:
            raise ConfigError(f"state.url {self._where!r}: not a PostgreSQL URL: {err}") from None
        missing = {k: v for k, v in CONNECTION_DEFAULTS.items() if k not in given}
        self._conninfo = make_conninfo(url, **missing)
        self._mutex = threading.Lock()
        self._conn: psycopg.Connection | None = None
        self._held: dict[str, int] = {}  # group -> advisory key, held by the current session
        self._closed = False
        try:
            self._conn = psycopg.connect(self._conninfo, autocommit=True)
            self._namespace = self._prepare(self._conn)
        except psycopg.Error as err:
            self._drop()
            raise ConfigError(f"state.url {self._where!r}: cannot use PostgreSQL: {err}") from None
        except BaseException:
            self._drop()
            raise

    def _prepare(self, conn: psycopg.Connection) -> str:
        """Create the tables if needed and return the schema they live in."""
        row = conn.execute("SELECT current_schema()").fetchone()
        if row is None or row[0] is None:
            raise ConfigError(f"state.url {self._where!r}: no schema of the search_path exists")
        namespace = str(row[0])
        if self._current(conn):
            # No DDL then: CREATE INDEX IF NOT EXISTS takes a share lock on its table even when the
            # index exists, and deadlocks with other instances' saves.
            return namespace
        with conn.transaction():
            # Concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalog: take turns.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_lock_key("schema", namespace, ""),))
            for statement in _CREATE:
                conn.execute(statement)
            found = conn.execute(f"SELECT version FROM {SCHEMA_TABLE} WHERE name = 'checkpoints'").fetchone()
            version = int(found[0]) if found else SCHEMA_VERSION
            check_schema_version(version, self._where)
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[step]:
                    conn.execute(statement)
                conn.execute(f"UPDATE {SCHEMA_TABLE} SET version = %s WHERE name = 'checkpoints'", (step,))
        return namespace

    @staticmethod
    def _current(conn: psycopg.Connection) -> bool:
        """Whether the schema's tables exist at this driftline's version (newer is refused by _prepare)."""
        row = conn.execute(f"SELECT to_regclass('{SCHEMA_TABLE}')").fetchone()
        if row is None or row[0] is None:
            return False
        found = conn.execute(f"SELECT version FROM {SCHEMA_TABLE} WHERE name = 'checkpoints'").fetchone()
        return found is not None and int(found[0]) == SCHEMA_VERSION

    def _fetch(self, action: str, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """The rows of one SELECT (binary results: bytea comes back as bytes-like)."""

        def work(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
            with conn.cursor(binary=True) as cursor:
                return cursor.execute(query, params).fetchall()

        return self._call(action, work)

    def _call(self, action: str, work: Callable[[psycopg.Connection], T]) -> T:
        """Run `work` on a live connection, reopening it once if it turns out to have dropped."""
        with self._mutex:
            if self._closed:
                raise DriftlineError(f"state store {self._where} is closed ({action})")
            for attempt in (1, 2):
                reopened = self._conn is None
                try:
                    if self._conn is None:
                        self._conn = psycopg.connect(self._conninfo, autocommit=True)
                    return work(self._conn)
                except psycopg.Error as err:
                    lost = self._conn is None or self._conn.closed or self._conn.broken
                    if lost:
                        self._drop()
                    if lost and not reopened and attempt == 1:
                        continue
                    raise DriftlineError(f"state store {self._where}: {action} failed: {err}") from err
            raise AssertionError("unreachable")

    def _drop(self) -> None:
        """Forget a dead connection, and the advisory locks that died with its session."""
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._held.clear()

    def save(self, group: str, checkpoints: Sequence[PartitionCheckpoint]) -> None:
        unique_partitions(group, checkpoints)
        if not checkpoints:
            return

        def work(conn: psycopg.Connection) -> None:
            with conn.transaction(), conn.cursor() as cursor:
                for checkpoint in checkpoints:
                    save_partition(cursor, _SQL, group, checkpoint)

        self._call(f"saving group {group!r}", work)

    def load(self, group: str, partitions: Iterable[int]) -> dict[int, StoredPartition]:
        wanted = sorted({int(p) for p in partitions})
        if not wanted:
            return {}
        return self._read(
            f"loading group {group!r}", lambda cur: load_partitions(cur, _SQL, group, wanted, {})
        )

    def load_changes(self, group: str, seen: Mapping[int, int]) -> dict[int, StoredPartition]:
        return self._read(
            f"loading windows of group {group!r}", lambda cur: load_partitions(cur, _SQL, group, None, seen)
        )

    def _read(self, action: str, work: Callable[[psycopg.Cursor[Any]], T]) -> T:
        """`work` on a cursor in one read-only snapshot of the database."""

        def run(conn: psycopg.Connection) -> T:
            with conn.transaction(), conn.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                return work(cursor)

        return self._call(action, run)

    def join_reader(self, group: str, partition: int, model: str) -> JoinReader:
        def run(work: Callable[[psycopg.Cursor[Any]], T]) -> T:
            def on(conn: psycopg.Connection) -> T:
                with conn.cursor() as cursor:
                    return work(cursor)

            return self._call(f"reading join rows of model {model!r}", on)

        return StoredJoin(run, _SQL, group, partition, model)

    def write_records(self, puts: Sequence[RecordPut] = (), deletes: Sequence[RecordKey] = ()) -> None:
        check_records(puts, deletes)
        if not puts and not deletes:
            return
        rows = [(n, k, bytes(v)) for n, k, v in puts]
        delete = f"DELETE FROM {RECORDS_TABLE} WHERE namespace = %s AND key = %s"

        def work(conn: psycopg.Connection) -> None:
            with conn.transaction(), conn.cursor() as cursor:
                if rows:
                    cursor.executemany(_RECORD_UPSERT, rows)
                if deletes:
                    cursor.executemany(delete, list(deletes))

        self._call("writing records", work)

    def load_records(self, namespace: str) -> dict[str, bytes]:
        query = f"SELECT key, value FROM {RECORDS_TABLE} WHERE namespace = %s"

        rows = self._fetch(f"loading records of {namespace!r}", query, (namespace,))
        return {str(k): bytes(v) for k, v in rows}

    def try_lock_evaluation(self, group: str) -> bool:
        key = advisory_lock_key("evaluation", self._namespace, group)

        def work(conn: psycopg.Connection) -> bool:
            if group in self._held:
                # Still ours while the session lives; the query proves it does (a drop clears _held).
                conn.execute("SELECT 1")
                return True
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if row is not None and row[0]:
                self._held[group] = key
                return True
            return False

        return self._call(f"locking evaluation of group {group!r}", work)

    def release_evaluation(self, group: str) -> None:
        with self._mutex:
            key = self._held.pop(group, None)
            if key is None or self._conn is None:
                return
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            except psycopg.Error as err:
                if self._conn.closed or self._conn.broken:
                    self._drop()  # the session, and the lock with it, is gone already
                    return
                raise DriftlineError(
                    f"state store {self._where}: releasing evaluation of group {group!r} failed: {err}"
                ) from err

    def ping(self) -> bool:
        try:
            self._call("ping", lambda conn: conn.execute("SELECT 1").fetchone())
        except DriftlineError:
            return False
        return True

    def close(self) -> None:
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            # Ending the session releases its advisory locks too, but the server does that when it
            # gets round to ending the backend, after close() has returned: unlock first, so another
            # instance can take the evaluation lock as soon as this one has closed.
            if self._held and self._conn is not None and not (self._conn.closed or self._conn.broken):
                with contextlib.suppress(psycopg.Error):  # the session is going anyway
                    self._conn.execute("SELECT pg_advisory_unlock_all()")
            self._drop()
