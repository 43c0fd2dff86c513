"""A quiet source does not keep its last window open for ever: once a model version has had no
predictions for `evaluation.idle_close`, the windows that ended (plus the allowed lateness) by the
service's clock close and are evaluated; until then the API shows them open, rows so far."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from monitor.api.app import create_app
from monitor.config import parse_config
from monitor.pipeline.monitor import Monitor
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from tests.unit.api import api_world as world

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

HOUR_0 = datetime.fromtimestamp(world.START_S, UTC)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def quiet_service(tmp_path: Path, idle_close: str | None, clock: Clock) -> Service:
    cfg = world.config(tmp_path)
    data = cfg.model_dump(mode="json")
    data["evaluation"]["idle_close"] = idle_close
    cfg = parse_config(data)
    baselines = {(m, "1"): world.baseline(cfg, m, seed=i) for i, m in enumerate(world.MODELS)}
    service = Service(cfg, baselines, MemoryDeadLetters(), clock=clock)
    world.feed(service, "churn", 0, 300, np.random.default_rng(0))  # hour 0, nothing after it
    return service


def test_the_open_window_is_shown_and_closes_once_its_end_has_passed_on_a_quiet_source(
    tmp_path: Path,
) -> None:
    clock = Clock(HOUR_0 + timedelta(minutes=58))  # no prediction of the hour is from the future
    service = quiet_service(tmp_path, "0s", clock)  # quiet at once: the clock alone decides
    assert service.evaluate() == []  # the hour has not ended on the clock yet
    with TestClient(create_app(service)) as client:
        (version,) = next(m for m in client.get("/api/v1/models").json()["models"] if m["name"] == "churn")[
            "versions"
        ]
    assert version["open_windows"] == [
        {
            "window_start": HOUR_0.isoformat(),
            "window_end": (HOUR_0 + timedelta(hours=1)).isoformat(),
            "rows": 300,
            "closes_at": (HOUR_0 + timedelta(hours=1, minutes=1)).isoformat(),
        }
    ]
    clock.at = HOUR_0 + timedelta(hours=1, seconds=30)
    assert service.evaluate() == []  # within the allowed lateness
    clock.at = HOUR_0 + timedelta(hours=1, minutes=1)
    (result,) = service.evaluate()
    assert (result.model, result.window_start, result.drift.n_rows) == ("churn", HOUR_0, 300)
    assert service.open_windows("churn", "1") == []


@pytest.mark.parametrize("idle_close", [None, "1h"])
def test_a_stream_that_is_not_quiet_long_enough_or_without_idle_close_stays_open(
    tmp_path: Path, idle_close: str | None
) -> None:
    clock = Clock(HOUR_0 + timedelta(days=2))  # the clock is far past the window
    service = quiet_service(tmp_path, idle_close, clock)
    assert service.evaluate() == []  # null: only event time closes; 1h: predictions came just now
    assert [w["rows"] for w in service.open_windows("churn", "1")] == [300]


def test_quiet_counts_from_when_a_partitions_state_was_first_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A partition restored or taken over in a rebalance has its backlog still to read: its quiet
    spell starts when its state is first seen by an evaluation, not at the service's start."""
    import monitor.service as service_module

    now = [0.0]
    monkeypatch.setattr(service_module.time, "monotonic", lambda: now[0])
    clock = Clock(HOUR_0 + timedelta(days=1))  # the hour ended long ago on the clock
    service = quiet_service(tmp_path, "1h", clock)  # predictions arrive at 0 s
    now[0] = 10.0
    assert service.evaluate() == []  # first seen at 10 s
    now[0] = 3605.0
    assert service.evaluate() == []  # an hour after the arrival, not after it was first seen
    # A rebalance hands the partition's state over anew (here: empty).
    service.partitions[0] = restored = Monitor(service.config, service.baselines, 0)
    world.feed(service, "churn", 0, 100, np.random.default_rng(5))
    assert service.partitions[0] is restored
    now[0] = 3611.0
    assert service.evaluate() == []  # the new state is first seen now
    now[0] = 3611.0 + 3600.0
    (result,) = service.evaluate()
    assert result.drift.n_rows == 100
