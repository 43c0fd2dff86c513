"""The runners' periodic jobs (baseline sync, result refresh) and shutdown: a job's state-store
error is one warning line and the next tick runs again; a job still running when the input ends
finishes before the store closes (a fresh-clone CI run once logged a baseline sync that read a
store `run_embedded` had just closed)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from consumers.runner import every_tick, run_embedded
from consumers.sources import FileSource
from monitor.baseline_sharing import SharedBaselines
from monitor.errors import DriftlineError
from tests.unit import results_world as world


def test_a_failing_run_is_one_warning_and_the_next_tick_runs_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = world.config(tmp_path, evaluation={"interval": "50ms"})
    service = world.service(cfg)
    calls: list[float] = []

    def job() -> None:
        calls.append(time.monotonic())
        raise DriftlineError("state store postgresql://db is closed")

    service.start_scheduler()
    try:
        with caplog.at_level(logging.WARNING), every_tick(service, "flaky", job):
            deadline = time.monotonic() + 10
            while len(calls) < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
        assert service.scheduler is not None and service.scheduler.get_job("flaky") is None
    finally:
        service.stop_scheduler()
    assert len(calls) >= 3
    warnings = [r for r in caplog.records if r.name == "driftline.runner"]
    assert len(warnings) == len(calls)
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in warnings)
    assert "flaky: this run failed, retried next tick: state store postgresql://db is closed" in (
        warnings[0].getMessage()
    )
    assert not [r for r in caplog.records if r.name.startswith("apscheduler")]


def test_a_sync_running_when_the_input_ends_finishes_before_the_store_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = world.config(tmp_path, evaluation={"interval": "50ms"}, state={"url": "rocksdb:///state"})
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(world.event_lines(hours=2, n=50, drift_from=9)) + b"\n")
    service = world.service(cfg)
    started, finished = threading.Event(), threading.Event()
    sync = SharedBaselines.sync

    def slow_sync(self: SharedBaselines) -> list:
        if threading.current_thread() is threading.main_thread():
            return sync(self)  # the reconciliation on entry, before the input is read
        started.set()
        time.sleep(0.5)  # still reading when the input ends and the runner shuts down
        swapped = sync(self)
        finished.set()
        return swapped

    monkeypatch.setattr(SharedBaselines, "sync", slow_sync)
    source = FileSource(events)
    batches = source.batches

    def wait_for_a_sync(stop: threading.Event):  # type: ignore[no-untyped-def]
        yield from batches(stop)
        assert started.wait(10), "no baseline sync ran"

    monkeypatch.setattr(source, "batches", wait_for_a_sync)
    service.start_scheduler()
    try:
        with caplog.at_level(logging.WARNING):
            run_embedded(service, cfg, [source], threading.Event())
    finally:
        service.stop_scheduler()
    assert finished.is_set()  # the run that was going when the input ended read an open store
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], [
        r.getMessage() for r in caplog.records
    ]
