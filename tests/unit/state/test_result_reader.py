"""The offline reader: the config's store opened without creating one, streams and windows found
by the names a user types, errors that list what is stored."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import DriftlineError
from monitor.evaluation.result_json import window_id
from monitor.evaluation.results import WindowResult
from monitor.state.result_archive import ResultArchive, Retention
from monitor.state.result_reader import open_results
from monitor.state.sqlite import SqliteStateStore
from tests.unit import results_world as world
from tests.unit.state.test_result_archive import hourly_results


@pytest.fixture(scope="module")
def passes(tmp_path_factory: pytest.TempPathFactory) -> list[list[WindowResult]]:
    return hourly_results(tmp_path_factory.mktemp("passes"), hours=3)


def test_no_store_yet_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    config = world.config(tmp_path)
    with pytest.raises(DriftlineError, match=r"no state database at .*state\.db yet"), open_results(config):
        pass
    assert not (tmp_path / "state.db").exists()
    SqliteStateStore(tmp_path / "state.db").close()  # a store with no windows in it
    with (
        open_results(config) as stored,
        pytest.raises(DriftlineError, match="holds no evaluated windows yet"),
    ):
        stored.streams()


def test_streams_versions_and_windows_by_name(tmp_path: Path, passes: list[list[WindowResult]]) -> None:
    config = world.config(tmp_path)
    results = [r for p in passes for r in p]
    second = [replace(r, model_version="2") for r in results if r.model == "churn"]
    ResultArchive(SqliteStateStore(tmp_path / "state.db"), Retention(10, 1)).write(
        results + second, datetime(2026, 5, 6, tzinfo=UTC)
    )
    with open_results(config) as stored:
        assert [(i.model, i.version) for i in stored.streams()] == [
            ("churn", "1"),
            ("churn", "2"),
            ("price", "1"),
        ]
        assert [i.version for i in stored.streams("churn")] == ["1", "2"]
        with pytest.raises(
            DriftlineError, match="model 'churn' has windows of versions 1, 2: pass --version"
        ):
            stored.stream("churn", None)
        with pytest.raises(DriftlineError, match=r"it holds: churn \(versions 1, 2\); price \(version 1\)"):
            stored.stream("fraud", None)
        with pytest.raises(DriftlineError, match="--version needs --model"):
            stored.streams(None, "1")
        price = stored.stream("price", None)
        newest = max((r for r in results if r.model == "price"), key=lambda r: r.window_start)
        assert stored.window(price, "latest") == newest
        assert stored.window(price, "latest", sample=True).sample is not None
        oldest = window_id(min((r for r in results if r.model == "price"), key=lambda r: r.window_start))
        assert stored.window(price, oldest, sample=True).sample is None  # only the newest keeps one
        with pytest.raises(DriftlineError, match=f"no stored window '1'; .*{window_id(newest)}, or 'latest'"):
            stored.window(price, "1")
        assert [window_id(r) for r in stored.newest(price, 2)] == price.ordered()[-2:]
