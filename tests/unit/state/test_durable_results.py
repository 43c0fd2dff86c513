"""DurableResults: the sink that stores evaluated windows, the start-up load into the in-memory
results, the retry of a failed write, and the refresh another instance runs (SQLite here;
PostgreSQL in tests/integration/test_results_postgres.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.evaluation.result_json import window_document, window_id
from monitor.evaluation.result_record import encode_sample
from monitor.evaluation.result_store import ResultStore
from monitor.evaluation.results import WindowResult
from monitor.state.durable_results import DurableResults
from monitor.state.result_archive import ResultArchive, Retention
from monitor.state.sqlite import SqliteStateStore
from monitor.state.store import RECORDS_TABLE, StateStore
from tests.unit import results_world as world
from tests.unit.state.test_result_archive import hourly_results

NOW = datetime(2026, 5, 6, tzinfo=UTC)
Opener = Callable[[], StateStore]


def durable(store: StateStore, results: ResultStore, windows: int = 100, samples: int = 3) -> DurableResults:
    archive = ResultArchive(store, Retention(windows=windows, samples=samples))
    return DurableResults(archive, results, world.ticking(), ["churn", "price"])


def documents(results: ResultStore) -> dict[tuple[str, str], list[dict[str, object]]]:
    return {s: [window_document(r) for r in results.windows(*s)] for s in results.streams()}


@pytest.fixture(scope="module")
def passes(tmp_path_factory: pytest.TempPathFactory) -> list[list[WindowResult]]:
    return hourly_results(tmp_path_factory.mktemp("passes"))


def check_a_start_loads_the_newest_windows_with_their_samples(
    open_store: Opener, passes: list[list[WindowResult]]
) -> None:
    before = ResultStore(history=100, samples_kept=100)
    sink = durable(open_store(), before)
    for results in passes:
        for r in results:
            before.add(r)
        sink.write(results)
    after = ResultStore(history=4, samples_kept=2)
    assert durable(open_store(), after).load() == 8  # four windows of each of two models
    assert after.streams() == before.streams() == [("churn", "1"), ("price", "1")]
    for stream in after.streams():
        old, new = before.windows(*stream), after.windows(*stream)
        assert [window_document(r) for r in new] == [window_document(r) for r in old[-4:]]
        assert [r.sample is not None for r in new] == [False, False, True, True]
        for o, n in zip(old[-2:], new[-2:], strict=True):
            assert o.sample is not None and n.sample is not None
            assert encode_sample(n.sample) == encode_sample(o.sample)
        assert new[-1] == old[-1]  # what /metrics reads: every field, label delay included


def check_refresh_picks_up_what_another_instance_stored(
    open_store: Opener, passes: list[list[WindowResult]]
) -> None:
    evaluator_results, reader_results = ResultStore(), ResultStore()
    evaluator = durable(open_store(), evaluator_results)
    reader = durable(open_store(), reader_results)
    assert reader.load() == 0
    evaluator.write(passes[0])
    assert reader.refresh() == len(passes[0])
    assert reader.refresh() == 0  # nothing changed since
    for results in passes[1:]:
        evaluator.write(results)
    assert reader.refresh() == len({(r.model, window_id(r)) for p in passes[1:] for r in p})
    last = passes[-1][0]
    evaluator.write([replace(last, final=True, evaluated_at=NOW + timedelta(days=1))])
    assert reader.refresh() == 1
    for results in passes:
        for r in results:
            evaluator_results.add(r)
    evaluator_results.add(replace(last, final=True, evaluated_at=NOW + timedelta(days=1)))
    assert documents(reader_results) == documents(evaluator_results)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Opener:
    return lambda: SqliteStateStore(tmp_path / "state.db")


def test_a_start_loads_the_newest_windows_with_their_samples(
    sqlite_store: Opener, passes: list[list[WindowResult]]
) -> None:
    check_a_start_loads_the_newest_windows_with_their_samples(sqlite_store, passes)


def test_refresh_picks_up_what_another_instance_stored(
    sqlite_store: Opener, passes: list[list[WindowResult]]
) -> None:
    check_refresh_picks_up_what_another_instance_stored(sqlite_store, passes)


def test_a_failed_write_is_kept_and_retried(
    sqlite_store: Opener, passes: list[list[WindowResult]], tmp_path: Path
) -> None:
    sink = durable(sqlite_store(), ResultStore())
    with sqlite3.connect(tmp_path / "state.db") as conn:  # the store breaks under the service
        conn.execute(f"ALTER TABLE {RECORDS_TABLE} RENAME TO elsewhere")
    sink.write(passes[0])
    sink.write(passes[1])
    assert sink.pending == len({(r.model, window_id(r)) for r in passes[0] + passes[1]})
    with sqlite3.connect(tmp_path / "state.db") as conn:
        conn.execute(f"ALTER TABLE elsewhere RENAME TO {RECORDS_TABLE}")
    sink.write(passes[2])
    assert sink.pending == 0
    reloaded = ResultStore()
    durable(sqlite_store(), reloaded).load()
    expected = ResultStore()
    for r in passes[0] + passes[1] + passes[2]:
        expected.add(r)
    assert documents(reloaded) == documents(expected)


def test_close_stores_what_is_pending_and_closes_the_store(
    sqlite_store: Opener, passes: list[list[WindowResult]], tmp_path: Path
) -> None:
    store = sqlite_store()
    sink = durable(store, ResultStore())
    with sqlite3.connect(tmp_path / "state.db") as conn:
        conn.execute(f"ALTER TABLE {RECORDS_TABLE} RENAME TO elsewhere")
    sink.write(passes[0])
    assert sink.pending == len(passes[0])
    with sqlite3.connect(tmp_path / "state.db") as conn:
        conn.execute(f"ALTER TABLE elsewhere RENAME TO {RECORDS_TABLE}")
    sink.close()
    assert not store.ping()
    reloaded = ResultStore()
    assert durable(sqlite_store(), reloaded).load() == len(passes[0])
