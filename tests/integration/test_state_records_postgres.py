"""The StateStore record API against a real PostgreSQL (per-test schema, as in
test_state_postgres.py), with the same checks as the SQLite tests, plus the schema-1 migration."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql

from monitor.state.postgres import PostgresStateStore
from monitor.state.store import RECORDS_TABLE, SCHEMA_TABLE, SCHEMA_VERSION
from tests.integration.test_state_postgres import admin, open_store, pg_url, schema  # noqa: F401 (fixtures)
from tests.unit.state.test_records import (
    check_a_failing_batch_changes_nothing,
    check_records_and_checkpoints_live_side_by_side,
    check_round_trip_and_namespaces,
)
from tests.unit.state.test_store import as_saved, checkpoint, view

pytestmark = pytest.mark.integration
Opener = Callable[[], PostgresStateStore]


def test_round_trip_and_namespaces(open_store: Opener) -> None:  # noqa: F811
    check_round_trip_and_namespaces(open_store())


def test_a_failing_batch_changes_nothing(open_store: Opener) -> None:  # noqa: F811
    check_a_failing_batch_changes_nothing(open_store())


def test_records_and_checkpoints_live_side_by_side(open_store: Opener) -> None:  # noqa: F811
    check_records_and_checkpoints_live_side_by_side(open_store())


def test_records_written_by_one_instance_are_read_by_another(open_store: Opener) -> None:  # noqa: F811
    one, two = open_store(), open_store()
    one.write_records([("alerts.outbox", "001", b"entry")])
    assert two.load_records("alerts.outbox") == {"001": b"entry"}
    two.write_records(deletes=[("alerts.outbox", "001")])
    assert one.load_records("alerts.outbox") == {}


def test_a_schema_1_store_is_migrated(
    open_store: Opener,  # noqa: F811
    admin: psycopg.Connection,  # noqa: F811
    schema: str,  # noqa: F811
) -> None:
    first = open_store()
    first.save("g", [checkpoint(0, 2)])
    first.close()
    admin.execute(sql.SQL("DROP TABLE {}.{}").format(sql.Identifier(schema), sql.Identifier(RECORDS_TABLE)))
    admin.execute(
        sql.SQL("UPDATE {}.{} SET version = 1").format(sql.Identifier(schema), sql.Identifier(SCHEMA_TABLE))
    )
    store = open_store()
    assert view(store.load("g", [0])) == as_saved(checkpoint(0, 2))
    store.write_records([("n", "k", b"v")])
    assert store.load_records("n") == {"k": b"v"}
    version = admin.execute(
        sql.SQL("SELECT version FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(SCHEMA_TABLE))
    ).fetchall()
    assert version == [(SCHEMA_VERSION,)]


def test_alert_engine_state_and_outbox_survive_a_restart_on_postgres(open_store: Opener) -> None:  # noqa: F811
    from alerts.config import AlertsConfig
    from alerts.engine import AlertEngine
    from alerts.outbox import OUTBOX, load
    from tests.unit.alerts.factory import window

    config = AlertsConfig.model_validate(
        {"receivers": [{"name": "ops", "kind": "webhook", "url": "http://127.0.0.1:9/h"}]}
    )
    AlertEngine(config, open_store(), {"churn": 100}).write([window(1, drifted=("spend",))])
    restarted = open_store()
    engine = AlertEngine(config, restarted, {"churn": 100})
    engine.write([window(1, drifted=("spend",)), window(2, drifted=("spend",))])
    fired = [
        e.document for e in load(restarted.load_records(OUTBOX)) if e.document["rule"] == "feature_drift"
    ]
    assert [(d["subject"], d["status"]) for d in fired] == [("spend", "firing")]
    assert [a["subject"] for a in engine.snapshot()["active"] if a["rule"] == "feature_drift"] == ["spend"]
