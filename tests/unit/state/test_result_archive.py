"""Evaluated windows in the state store's records (monitor.state.result_archive), on SQLite.
tests/integration/test_results_postgres.py runs the same checks against PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.core.reservoir import RowReservoir
from monitor.evaluation.result_json import window_document, window_id
from monitor.evaluation.result_record import encode_sample
from monitor.evaluation.results import WindowResult
from monitor.state.result_archive import (
    INDEX,
    ROWS,
    WINDOW,
    ResultArchive,
    Retention,
    sample_namespace,
    window_namespace,
)
from monitor.state.sqlite import SqliteStateStore
from monitor.state.store import RECORDS_TABLE, StateStore
from tests.unit import results_world as world

NOW = datetime(2026, 5, 6, tzinfo=UTC)
Opener = Callable[[], StateStore]


def hourly_results(folder: Path, hours: int = 6, n: int = 200) -> list[list[WindowResult]]:
    """One evaluation pass per hour of both models (drift from hour 3): what each pass produced
    (the first hour's pass finds nothing closed yet and is left out)."""
    service = world.service(world.config(folder))
    passes = []
    for hour in range(hours):
        world.feed(service, range(hour, hour + 1), n, drift_from=3, seed=hour)
        passes.append(service.evaluate())
    passes.append(service.evaluate(flush=True))
    return [p for p in passes if p]


@pytest.fixture(scope="module")
def passes(tmp_path_factory: pytest.TempPathFactory) -> list[list[WindowResult]]:
    return hourly_results(tmp_path_factory.mktemp("passes"))


def latest(passes: list[list[WindowResult]]) -> dict[tuple[str, str, str], WindowResult]:
    found = {}
    for results in passes:
        for r in results:
            found[(r.model, r.model_version, window_id(r))] = r
    return found


def stored(archive: ResultArchive) -> dict[tuple[str, str, str], WindowResult]:
    found = {}
    for (model, version), index in archive.indexes().items():
        for r in archive.results(index, index.ordered()):
            found[(model, version, window_id(r))] = r
    return found


def everything(store: StateStore, archive: ResultArchive) -> dict[str, dict[str, bytes]]:
    """Every record the archive may have written, by namespace."""
    found = {INDEX: store.load_records(INDEX)}
    for index in archive.indexes().values():
        for hour in range(-1, 12):
            wid = str(world.START_S + hour * world.HOUR_S)
            for namespace in (
                window_namespace(index.model, index.version, wid),
                sample_namespace(index.model, index.version, wid),
            ):
                records = store.load_records(namespace)
                if records:
                    found[namespace] = records
    return found


def check_every_window_comes_back(store: StateStore, passes: list[list[WindowResult]]) -> None:
    archive = ResultArchive(store, Retention(windows=100, samples=2))
    for results in passes:
        archive.write(results, NOW)
    expected = latest(passes)
    assert len(expected) == 12  # six hours of two models
    back = stored(archive)
    assert back == expected
    assert {k: window_document(r) for k, r in back.items()} == {
        k: window_document(r) for k, r in expected.items()
    }
    for (model, version), index in archive.indexes().items():
        newest = index.ordered()[-2:]
        assert set(index.samples) == set(newest)
        for wid in index.ordered():
            found = archive.result(model, version, wid, sample=True)
            assert found is not None
            original = expected[(model, version, wid)].sample
            if wid in newest:
                assert found.sample is not None and original is not None
                assert encode_sample(found.sample) == encode_sample(original)
            else:
                assert found.sample is None
                assert store.load_records(sample_namespace(model, version, wid)) == {}


def check_a_reevaluation_overwrites_and_writes_are_idempotent(
    store: StateStore, passes: list[list[WindowResult]]
) -> None:
    archive = ResultArchive(store, Retention(windows=100, samples=1))
    first = passes[0][0]
    archive.write([first], NOW)
    later = replace(first, final=True, evaluated_at=NOW + timedelta(hours=7))
    archive.write([later], NOW)
    index = archive.indexes()[(first.model, first.model_version)]
    assert index.ordered() == [window_id(first)]
    assert archive.result(first.model, first.model_version, window_id(first)) == later
    archive.write(passes[-2] + passes[-1], NOW)
    before = everything(store, archive)
    archive.write(passes[-2] + passes[-1], NOW)
    assert everything(store, archive) == before


def check_a_sample_is_written_again_only_when_it_changed(
    store: StateStore, passes: list[list[WindowResult]]
) -> None:
    archive = ResultArchive(store, Retention(windows=100, samples=1))
    result = passes[-1][-1]
    assert result.sample is not None and len(result.sample) > 1
    namespace = sample_namespace(result.model, result.model_version, window_id(result))
    archive.write([result], NOW)
    stored_rows = store.load_records(namespace)[ROWS]
    fewer = RowReservoir(result.sample.capacity, n_seen=result.sample.n_seen)  # the same rows seen
    fewer._absorb(result.sample.keys[:1], {n: c[:1] for n, c in result.sample.columns.items()})
    archive.write([replace(result, sample=fewer, evaluated_at=NOW)], NOW)  # late outcomes: rows unchanged
    assert store.load_records(namespace)[ROWS] == stored_rows
    more = replace(fewer, n_seen=result.sample.n_seen + 1)  # a late prediction came in
    archive.write([replace(result, sample=more, evaluated_at=NOW)], NOW)
    assert store.load_records(namespace)[ROWS] == encode_sample(more) != stored_rows


def check_retention_deletes_old_windows_and_samples(
    store: StateStore, passes: list[list[WindowResult]]
) -> None:
    archive = ResultArchive(store, Retention(windows=3, samples=1))
    for results in passes:
        archive.write(results, NOW)
    expected = latest(passes)
    for (model, version), index in archive.indexes().items():
        every = sorted({w for (m, v, w) in expected if (m, v) == (model, version)}, key=int)
        assert index.ordered() == every[-3:]
        assert set(index.samples) == {every[-1]}
        for wid in every[:-3]:
            assert store.load_records(window_namespace(model, version, wid)) == {}
        for wid in every[:-1]:
            assert store.load_records(sample_namespace(model, version, wid)) == {}
        assert set(store.load_records(sample_namespace(model, version, every[-1]))) == {ROWS}
    # A late re-evaluation of a window retention already dropped is not stored again.
    oldest = passes[0][0]
    archive.write([replace(oldest, evaluated_at=NOW)], NOW)
    assert window_id(oldest) not in archive.indexes()[(oldest.model, oldest.model_version)].windows
    assert store.load_records(window_namespace(oldest.model, oldest.model_version, window_id(oldest))) == {}


def check_age_retention(store: StateStore, passes: list[list[WindowResult]]) -> None:
    archive = ResultArchive(store, Retention(windows=100, samples=100, max_age=timedelta(hours=3)))
    results = [r for p in passes for r in p]
    last_end = max(r.window_end for r in results)
    archive.write(results, last_end + timedelta(hours=1))  # windows that ended 3 h before or later stay
    for index in archive.indexes().values():
        ends = [index.windows[w].end for w in index.ordered()]
        assert len(ends) == 3 and min(ends) >= (last_end - timedelta(hours=2)).timestamp()
    only_churn = [r for r in passes[-1] if r.model == "churn"]
    archive.write(only_churn, last_end + timedelta(days=1))  # all too old now, price's windows too
    assert archive.indexes() == {} and store.load_records(INDEX) == {}
    assert everything(store, archive) == {INDEX: {}}


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Opener:
    opened: list[StateStore] = []

    def open_store() -> StateStore:
        opened.append(SqliteStateStore(tmp_path / "state.db"))
        return opened[-1]

    return open_store


def test_every_window_comes_back(sqlite_store: Opener, passes: list[list[WindowResult]]) -> None:
    check_every_window_comes_back(sqlite_store(), passes)


def test_a_reevaluation_overwrites_and_writes_are_idempotent(
    sqlite_store: Opener, passes: list[list[WindowResult]]
) -> None:
    check_a_reevaluation_overwrites_and_writes_are_idempotent(sqlite_store(), passes)


def test_a_sample_is_written_again_only_when_it_changed(
    sqlite_store: Opener, passes: list[list[WindowResult]]
) -> None:
    check_a_sample_is_written_again_only_when_it_changed(sqlite_store(), passes)


def test_retention_deletes_old_windows_and_samples(
    sqlite_store: Opener, passes: list[list[WindowResult]]
) -> None:
    check_retention_deletes_old_windows_and_samples(sqlite_store(), passes)


def test_age_retention(sqlite_store: Opener, passes: list[list[WindowResult]]) -> None:
    check_age_retention(sqlite_store(), passes)


def test_a_corrupt_record_is_left_out_and_a_corrupt_index_restarted(
    sqlite_store: Opener, passes: list[list[WindowResult]], tmp_path: Path
) -> None:
    store = sqlite_store()
    archive = ResultArchive(store, Retention(windows=100, samples=0))
    archive.write(passes[0] + passes[1], NOW)
    index = archive.indexes()[("churn", "1")]
    broken = index.ordered()[0]
    store.write_records([(window_namespace("churn", "1", broken), WINDOW, b"{torn")])
    found = archive.results(index, index.ordered())
    assert [window_id(r) for r in found] == index.ordered()[1:]
    with sqlite3.connect(tmp_path / "state.db") as conn:
        conn.execute(
            f"UPDATE {RECORDS_TABLE} SET value = x'00' WHERE namespace = ? AND key = ?", (INDEX, "churn/1")
        )
    assert set(archive.indexes()) == {("price", "1")}
    store.write_records(
        [(INDEX, "churn/1", b'{"model": "churn", "version": "1", "windows": {}, "samples": []}')]
    )
    assert set(archive.indexes()) == {("price", "1")}  # valid JSON, wrong shape
    archive.write(passes[2], NOW)  # the churn index starts again from this pass
    assert archive.indexes()[("churn", "1")].ordered() == [
        window_id(r) for r in passes[2] if r.model == "churn"
    ]
