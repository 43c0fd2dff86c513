# ruff: noqa: F811  (pytest fixtures imported by name, then named as test arguments)
"""Stored evaluated windows on a real PostgreSQL (a schema per test, as in test_state_postgres.py):
the SQLite checks of tests/unit/state/test_result_archive.py and test_durable_results.py, two
instances sharing the store (one evaluates and writes, the other refreshes), and the offline
reader on a PostgreSQL URL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.evaluation.results import WindowResult
from monitor.state.postgres import PostgresStateStore
from monitor.state.result_reader import open_results
from tests.integration.test_state_postgres import admin, open_store, pg_url, schema  # noqa: F401 (fixtures)
from tests.unit import results_world as world
from tests.unit.state import test_durable_results as durable
from tests.unit.state import test_result_archive as archive

pytestmark = pytest.mark.integration
Opener = Callable[[], PostgresStateStore]


@pytest.fixture(scope="module")
def passes(tmp_path_factory: pytest.TempPathFactory) -> list[list[WindowResult]]:
    return archive.hourly_results(tmp_path_factory.mktemp("passes"))


def test_every_window_comes_back(open_store: Opener, passes: list[list[WindowResult]]) -> None:
    archive.check_every_window_comes_back(open_store(), passes)


def test_a_reevaluation_overwrites_and_writes_are_idempotent(
    open_store: Opener,
    passes: list[list[WindowResult]],
) -> None:
    archive.check_a_reevaluation_overwrites_and_writes_are_idempotent(open_store(), passes)


def test_a_sample_is_written_again_only_when_it_changed(
    open_store: Opener, passes: list[list[WindowResult]]
) -> None:
    archive.check_a_sample_is_written_again_only_when_it_changed(open_store(), passes)


def test_retention_deletes_old_windows_and_samples(
    open_store: Opener, passes: list[list[WindowResult]]
) -> None:
    archive.check_retention_deletes_old_windows_and_samples(open_store(), passes)


def test_age_retention(open_store: Opener, passes: list[list[WindowResult]]) -> None:
    archive.check_age_retention(open_store(), passes)


def test_a_start_loads_the_newest_windows_with_their_samples(
    open_store: Opener,
    passes: list[list[WindowResult]],
) -> None:
    durable.check_a_start_loads_the_newest_windows_with_their_samples(open_store, passes)


def test_another_instance_sees_what_the_evaluator_stored(
    open_store: Opener, passes: list[list[WindowResult]]
) -> None:
    durable.check_refresh_picks_up_what_another_instance_stored(open_store, passes)


def test_the_offline_reader_on_postgresql(
    open_store: Opener,
    pg_url: str,
    passes: list[list[WindowResult]],
    tmp_path: Path,
) -> None:
    archive.check_every_window_comes_back(open_store(), passes)
    config = world.config(tmp_path, state={"url": pg_url})
    with open_results(config) as stored:
        price = stored.stream("price", None)
        assert stored.window(price, "latest", sample=True).sample is not None
        assert [r.model for r in stored.newest(price, 3)] == ["price"] * 3
