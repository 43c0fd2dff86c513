"""Baselines shared through the state store (monitor/baseline_sharing.py): an upload to one
instance reaches the others. Two services with their own baseline directories share one SQLite
state store here (two connections, as two processes would); the same check runs against
PostgreSQL in tests/integration/test_baseline_sharing_postgres.py."""

from __future__ import annotations

import logging
import warnings
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from consumers.runner import shared_baselines
from monitor.api.app import create_app
from monitor.baseline_sharing import ACTIVE, ARTIFACT, SharedBaselines, artifact_namespace
from monitor.baselines.store import BaselineStore
from monitor.service import Service
from monitor.state.sqlite import SqliteStateStore
from monitor.state.store import StateStore
from tests.unit.api import api_world as world

with warnings.catch_warnings():  # starlette asks for httpx2 at import time; httpx is what we pin
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def instance(folder: Path) -> Service:
    return world.service(world.config(folder, api_key=world.KEY))


def check_an_upload_reaches_the_other_instance(one: StateStore, two: StateStore, folder: Path) -> None:
    a, b = instance(folder / "a"), instance(folder / "b")
    old = b.baselines[("churn", "1")]
    with shared_baselines(a, one), shared_baselines(b, two) as shared_b:
        # B has a window open on the old baseline when A takes the upload.
        world.feed(b, "churn", 0, 50, np.random.default_rng(1))
        csv = world.rows(3000, np.random.default_rng(9), drift=True).to_csv(index=False).encode()
        with TestClient(create_app(a)) as client:
            answer = client.post(
                "/api/v1/models/churn/baselines",
                content=csv,
                headers={"Authorization": f"Bearer {world.KEY}", "content-type": "text/csv"},
            )
        assert answer.status_code == 201, answer.text
        new_id = answer.json()["baseline_id"]
        assert a.baselines[("churn", "1")].id == new_id
        assert b.baselines[("churn", "1")].id == old.id  # not before B's next tick
        (swapped,) = shared_b.sync()
        assert swapped.id == new_id == b.baselines[("churn", "1")].id
        assert BaselineStore(b.config.baselines.path).active_id("churn", "1") == new_id
        assert shared_b.sync() == []  # in step: nothing more to do
        (window,) = b.monitor.streams[("churn", "1")].windows.values()
        assert window.baseline_id == old.id  # an open window keeps the bins it was built on


def test_an_upload_reaches_the_other_instance(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    check_an_upload_reaches_the_other_instance(SqliteStateStore(path), SqliteStateStore(path), tmp_path)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStateStore:
    return SqliteStateStore(tmp_path / "state.db")


def test_start_publishes_what_was_never_published(tmp_path: Path, store: SqliteStateStore) -> None:
    a = instance(tmp_path / "a")
    assert SharedBaselines(store, a).start() == []
    active = store.load_records(ACTIVE)
    assert {k: v.decode() for k, v in active.items()} == {
        f"{m}/1": a.baselines[(m, "1")].id for m in world.MODELS
    }


def test_start_keeps_the_newer_of_local_and_published(tmp_path: Path, store: SqliteStateStore) -> None:
    a, b = instance(tmp_path / "a"), instance(tmp_path / "b")
    shared_a = SharedBaselines(store, a)
    shared_a.start()
    # B built a newer churn baseline while down: it wins and is published.
    cfg = b.config
    newer = replace(world.baseline(cfg, "churn", seed=5), created_at=datetime(2026, 3, 2, tzinfo=UTC))
    BaselineStore(cfg.baselines.path).save(newer)
    b.swap_baseline(newer)
    # B's fraud baseline is the one A published (same content, same id): nothing moves for it.
    assert SharedBaselines(store, b).start() == []
    assert store.load_records(ACTIVE)["churn/1"].decode() == newer.id
    # A, on its next tick, runs B's newer baseline.
    (swapped,) = shared_a.sync()
    assert swapped.id == newer.id == a.baselines[("churn", "1")].id
    # A baseline older than the published one is replaced on start.
    c = instance(tmp_path / "c")
    older = replace(world.baseline(c.config, "churn", seed=6), created_at=datetime(2026, 2, 1, tzinfo=UTC))
    c.swap_baseline(older)
    (swapped,) = SharedBaselines(store, c).start()
    assert swapped.id == newer.id == c.baselines[("churn", "1")].id


def test_a_new_version_published_elsewhere_starts_being_accepted(
    tmp_path: Path, store: SqliteStateStore
) -> None:
    a, b = instance(tmp_path / "a"), instance(tmp_path / "b")
    version_2 = world.baseline(a.config, "fraud", version="2", seed=3)
    SharedBaselines(store, a).publish(version_2, activate=True)
    assert ("fraud", "2") not in b.baselines
    (swapped,) = SharedBaselines(store, b).sync()
    assert swapped.id == version_2.id
    assert "2" in b.monitor.known_versions["fraud"]


def test_an_inactive_upload_is_published_but_not_swapped_in(tmp_path: Path, store: SqliteStateStore) -> None:
    a, b = instance(tmp_path / "a"), instance(tmp_path / "b")
    shared_b = SharedBaselines(store, b)
    shared_b.start()
    candidate = world.baseline(a.config, "churn", seed=8)
    SharedBaselines(store, a).publish(candidate, activate=False)
    assert shared_b.sync() == []
    # ...but a window another instance built on it is still evaluated on its bins.
    assert b.evaluator.find_baseline("churn", "1", candidate.id) is None  # not fetched without the hook
    b.evaluator.fetch = shared_b.fetch
    found = b.evaluator.find_baseline("churn", "1", candidate.id)
    assert found is not None and found.id == candidate.id


def test_unreadable_or_foreign_records_are_skipped(
    tmp_path: Path, store: SqliteStateStore, caplog: pytest.LogCaptureFixture
) -> None:
    b = instance(tmp_path / "b")
    shared_b = SharedBaselines(store, b)
    shared_b.start()
    store.write_records(
        [
            (ACTIVE, "churn/1", b"broken"),
            (artifact_namespace("churn", "1", "broken"), ARTIFACT, b"{not json"),
            (ACTIVE, "other-model/1", b"x"),  # a model this instance is not configured with
            (ACTIVE, "fraud/7", b"never-stored"),
        ]
    )
    with caplog.at_level(logging.ERROR, logger="driftline.baselines"):
        assert shared_b.sync() == []
    assert "unreadable" in caplog.text
    assert b.baselines[("churn", "1")].id != "broken"


def test_the_runner_checks_on_every_tick_and_stops_when_done(tmp_path: Path, store: SqliteStateStore) -> None:
    b = instance(tmp_path / "b")
    b.start_scheduler()
    try:
        with shared_baselines(b, store):
            assert b.scheduler is not None and b.scheduler.get_job("baselines") is not None
            assert b.publish_baseline is not None and b.evaluator.fetch is not None
        assert b.scheduler.get_job("baselines") is None
        assert b.publish_baseline is None and b.evaluator.fetch is None
    finally:
        b.stop_scheduler()
