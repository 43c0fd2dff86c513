"""The PostgreSQL StateStore against a real server.

Server: $DRIFTLINE_TEST_POSTGRES_URL, by default postgresql://postgres@127.0.0.1:5432/test (a
superuser: some tests create a database or terminate sessions). Each test works in a schema of its
own, dropped afterwards, so parallel runs do not collide. An unreachable server fails the tests
rather than skipping them: CI runs PostgreSQL, and a skip there would hide a broken set-up.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from monitor.errors import ConfigError, DriftlineError
from monitor.pipeline.join_rows import JoinDelta
from monitor.state import store as store_module
from monitor.state.factory import open_state_store
from monitor.state.postgres import PostgresStateStore
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
)
from tests.unit.state.test_join_rows_model import Model, check_sequence, join_deltas
from tests.unit.state.test_store import as_saved, checkpoint, save_from_two_threads, view

pytestmark = pytest.mark.integration

ADMIN_URL = os.environ.get("DRIFTLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REPO_ROOT = Path(__file__).resolve().parents[2]


def with_params(url: str, **params: str) -> str:
    joiner = "&" if "?" in url else "?"
    return url + joiner + "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())


def with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{dbname}", parts.query, parts.fragment))


@pytest.fixture
def admin() -> Iterator[psycopg.Connection]:
    try:
        conn = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as err:
        pytest.fail(
            f"PostgreSQL is not reachable at {ADMIN_URL}: {err}\nStart it (CI runs one on 127.0.0.1:5432) "
            "or point DRIFTLINE_TEST_POSTGRES_URL at a server where this user may create schemas.",
            pytrace=False,
        )
    yield conn
    conn.close()


@pytest.fixture
def schema(admin: psycopg.Connection) -> Iterator[str]:
    name = f"driftline_test_{uuid.uuid4().hex[:12]}"
    admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield name
    terminate_sessions(admin, name)  # of stores a failed test left open
    admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def pg_url(schema: str) -> str:
    """A store URL whose tables land in the test's schema; its sessions carry the schema's name."""
    return with_params(ADMIN_URL, options=f"-csearch_path={schema}", application_name=schema)


@pytest.fixture
def open_store(pg_url: str) -> Iterator[Callable[[], PostgresStateStore]]:
    opened: list[PostgresStateStore] = []

    def open_one() -> PostgresStateStore:
        store = open_state_store(pg_url)
        assert isinstance(store, PostgresStateStore)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


def terminate_sessions(admin: psycopg.Connection, application_name: str) -> int:
    rows = admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = %s AND pid <> pg_backend_pid()",
        (application_name,),
    ).fetchall()
    return len(rows)


def test_round_trip_replace_and_partial_loads(open_store: Callable[[], PostgresStateStore]) -> None:
    store = open_store()
    odd = PartitionCheckpoint(
        7, {"predictions": 2**40, "outcomes": 0}, bytes(range(256)) * 300, {("m", "v", -1): b"\x00"}
    )
    store.save("g", [checkpoint(0, 1), checkpoint(1, 1), odd])
    store.save("g", [checkpoint(1, 2)])
    store.save("other", [checkpoint(0, 9)])
    assert view(store.load("g", [0, 1, 7, 8])) == as_saved(checkpoint(0, 1), checkpoint(1, 2), odd)
    assert view(store.load("g", [1])) == as_saved(checkpoint(1, 2))
    assert store.load("g", []) == {}
    assert store.load("missing", [0]) == {}


def test_tables_are_created_in_the_urls_schema_with_a_version_row(
    open_store: Callable[[], PostgresStateStore], admin: psycopg.Connection, schema: str
) -> None:
    open_store().save("g", [checkpoint(0, 1)])
    tables = admin.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", (schema,)
    ).fetchall()
    assert tables == sorted(
        (t,)
        for t in (
            CHECKPOINT_TABLE,
            JOIN_DROPS_TABLE,
            JOIN_HELD_TABLE,
            JOIN_ROWS_TABLE,
            JOIN_STREAMS_TABLE,
            RECORDS_TABLE,
            SCHEMA_TABLE,
            WINDOWS_TABLE,
        )
    )
    version = admin.execute(
        sql.SQL("SELECT name, version FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(SCHEMA_TABLE)
        )
    ).fetchall()
    assert version == [("checkpoints", SCHEMA_VERSION)]
    open_store()  # opening again finds the tables and the version in place


def test_load_changes_returns_the_groups_windows_written_since(
    open_store: Callable[[], PostgresStateStore],
) -> None:
    store = open_store()
    store.save("a", [checkpoint(0, 1), checkpoint(3, 4)])
    store.save("b", [checkpoint(0, 8)])
    assert view(store.load_changes("a", {})) == as_saved(checkpoint(0, 1), checkpoint(3, 4))
    store.save("a", [PartitionCheckpoint(3, {}, b"m", {("m", "1", 0): b"new", ("m", "1", 3_600_000): None})])
    changed = store.load_changes("a", {0: 1, 3: 1})
    assert changed[0].windows == {} and changed[3].windows == {("m", "1", 0): b"new"}
    assert set(store.load("a", [3])[3].windows) == {("m", "1", 0), ("m", "1", 7_200_000)}
    assert store.load_changes("empty", {}) == {}


def test_failed_saves_leave_every_previous_checkpoint(
    open_store: Callable[[], PostgresStateStore], admin: psycopg.Connection, schema: str
) -> None:
    store = open_store()
    store.save("g", [checkpoint(0, 1), checkpoint(1, 1)])
    with pytest.raises(ValueError, match="partition 1 twice"):
        store.save("g", [checkpoint(0, 2), checkpoint(1, 2), checkpoint(1, 3)])

    # A server-side failure after partitions 0 and 1 were written in the same transaction.
    admin.execute(
        sql.SQL(
            """CREATE FUNCTION {schema}.refuse_99() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.partition = 99 THEN RAISE EXCEPTION 'partition 99 refused'; END IF;
            RETURN NEW; END $$;
            CREATE TRIGGER refuse_99 BEFORE INSERT ON {schema}.{table}
            FOR EACH ROW EXECUTE FUNCTION {schema}.refuse_99()"""
        ).format(schema=sql.Identifier(schema), table=sql.Identifier(CHECKPOINT_TABLE))
    )
    with pytest.raises(DriftlineError, match="partition 99 refused"):
        store.save("g", [checkpoint(0, 3), checkpoint(1, 3), checkpoint(99, 3)])
    assert view(store.load("g", [0, 1, 99])) == as_saved(checkpoint(0, 1), checkpoint(1, 1))
    store.save("g", [checkpoint(0, 4)])  # the connection is usable after the failure
    assert view(store.load("g", [0])) == as_saved(checkpoint(0, 4))


def test_two_stores_save_their_own_partitions_of_one_group_concurrently(
    open_store: Callable[[], PostgresStateStore],
) -> None:
    stores = [open_store(), open_store()]
    assert save_from_two_threads(stores, 20) == []
    assert view(stores[0].load("g", range(4))) == as_saved(*(checkpoint(p, 20) for p in range(4)))


def test_load_changes_sees_whole_saves_of_another_store(open_store: Callable[[], PostgresStateStore]) -> None:
    writer, evaluator = open_store(), open_store()
    writer.save("g", [checkpoint(p, 0, size=20_000) for p in range(4)])
    done = threading.Event()
    snapshots: list[dict[int, bytes]] = []

    def evaluate() -> None:
        while not done.is_set():
            snapshots.append({p: s.meta for p, s in evaluator.load_changes("g", {}).items()})

    reader = threading.Thread(target=evaluate)
    reader.start()
    for generation in range(1, 31):
        writer.save("g", [checkpoint(p, generation, size=20_000) for p in range(4)])
    done.set()
    reader.join()
    assert len(snapshots) > 1
    for snapshot in snapshots:
        generations = {blob.split(b":")[0] for blob in snapshot.values()}
        assert len(generations) == 1, f"one load_changes mixed saves: {generations}"


def test_evaluation_lock_is_exclusive_and_released_on_release_and_close(
    open_store: Callable[[], PostgresStateStore],
) -> None:
    first, second = open_store(), open_store()
    assert first.try_lock_evaluation("g")
    assert first.try_lock_evaluation("g"), "the holder asking again still holds it"
    assert not second.try_lock_evaluation("g")
    assert second.try_lock_evaluation("h"), "groups lock separately"
    first.release_evaluation("g")
    first.release_evaluation("g")  # releasing a lock not held is harmless
    assert second.try_lock_evaluation("g")
    assert not first.try_lock_evaluation("g")
    second.close()
    assert first.try_lock_evaluation("g")
    assert first.try_lock_evaluation("h")


_HOLD_LOCK = """
import sys, time
from monitor.state.factory import open_state_store
store = open_state_store(sys.argv[1])
print(store.try_lock_evaluation("g"), flush=True)
time.sleep(120)
"""


def test_evaluation_lock_dies_with_the_holding_process(
    open_store: Callable[[], PostgresStateStore], pg_url: str
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, pg_url], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "True"
        store = open_store()
        assert not store.try_lock_evaluation("g")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    deadline = time.monotonic() + 10
    while not store.try_lock_evaluation("g"):
        assert time.monotonic() < deadline, "the killed process's lock was not released"
        time.sleep(0.05)


def test_a_dropped_connection_is_reopened_and_forgets_its_lock(
    open_store: Callable[[], PostgresStateStore], admin: psycopg.Connection, schema: str
) -> None:
    holder, other = open_store(), open_store()
    holder.save("g", [checkpoint(0, 1)])
    assert holder.try_lock_evaluation("g")
    assert terminate_sessions(admin, schema) == 2

    holder.save("g", [checkpoint(0, 2)])  # reconnects once, transparently
    assert view(holder.load("g", [0])) == as_saved(checkpoint(0, 2))
    # The lock died with the holder's session; the other store takes it, and the holder,
    # asking again, learns it no longer has it.
    assert other.try_lock_evaluation("g")
    assert not holder.try_lock_evaluation("g")
    assert holder.ping()


@pytest.fixture
def scratch_database(admin: psycopg.Connection) -> Iterator[str]:
    name = f"driftline_test_{uuid.uuid4().hex[:12]}"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_an_unreachable_server_raises_then_recovers(admin: psycopg.Connection, scratch_database: str) -> None:
    app = f"driftline-{scratch_database}"
    url = with_params(with_database(ADMIN_URL, scratch_database), application_name=app)
    store = open_state_store(url)
    try:
        store.save("g", [checkpoint(0, 1)])
        database = sql.Identifier(scratch_database)
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(database))
        assert terminate_sessions(admin, app) == 1

        with pytest.raises(DriftlineError, match="saving group 'g' failed") as caught:
            store.save("g", [checkpoint(0, 2)])
        assert scratch_database in str(caught.value)
        assert not store.ping()
        with pytest.raises(DriftlineError):
            store.load_changes("g", {})

        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(database))
        assert store.ping()
        assert view(store.load("g", [0])) == as_saved(checkpoint(0, 1))
    finally:
        store.close()


def test_postgres_scheme_alias_and_config_errors(pg_url: str, admin: psycopg.Connection, schema: str) -> None:
    alias = open_state_store(pg_url.replace("postgresql://", "postgres://", 1))
    assert isinstance(alias, PostgresStateStore)
    alias.close()

    no_schema = with_params(ADMIN_URL, options="-csearch_path=driftline_no_such_schema")
    with pytest.raises(ConfigError, match="no schema"):
        open_state_store(no_schema)

    admin.execute(
        sql.SQL("UPDATE {}.{} SET version = 99").format(sql.Identifier(schema), sql.Identifier(SCHEMA_TABLE))
    )
    with pytest.raises(ConfigError, match="schema version 99"):
        open_state_store(pg_url)


def test_closed_store_refuses_work(open_store: Callable[[], PostgresStateStore]) -> None:
    store = open_store()
    assert store.ping()
    store.close()
    store.close()
    assert not store.ping()
    with pytest.raises(DriftlineError, match="closed"):
        store.load("g", [0])


_sequences = itertools.count()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(join_deltas(st.text(st.characters(exclude_characters="\x00"), max_size=6)), max_size=8))
def test_any_sequence_of_join_changes_shows_what_the_model_shows(
    open_store: Callable[[], PostgresStateStore],
    admin: psycopg.Connection,
    schema: str,
    steps: list[JoinDelta],
) -> None:
    # The SQL of monitor.state.tables, lazy segment drops included, on PostgreSQL, each example in a
    # group of its own (tests/unit/state/test_join_rows_model.py). PostgreSQL keeps predictions and
    # outcomes as text (monitor.state.postgres), and no text holds a NUL: the decoders refuse one.
    store, group = open_store(), f"g{next(_sequences)}"
    try:
        with mock.patch.object(store_module, "DRAIN_MIN", 2):
            check_sequence(store, steps, group, Model(stored_as=lambda v: None if v is None else str(v)))
    finally:
        store.close()
    left = admin.execute(
        sql.SQL(
            "SELECT (SELECT count(*) FROM {s}.{rows} r WHERE r.sid = j.sid), "
            "(SELECT count(*) FROM {s}.{held} h WHERE h.sid = j.sid), "
            "(SELECT count(*) FROM {s}.{drops} d WHERE d.sid = j.sid) FROM {s}.{streams} j WHERE j.grp = %s"
        ).format(
            s=sql.Identifier(schema),
            rows=sql.Identifier(JOIN_ROWS_TABLE),
            held=sql.Identifier(JOIN_HELD_TABLE),
            drops=sql.Identifier(JOIN_DROPS_TABLE),
            streams=sql.Identifier(JOIN_STREAMS_TABLE),
        ),
        (group,),
    ).fetchall()
    assert all(counts == (0, 0, 0) for counts in left), left
