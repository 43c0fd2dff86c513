"""An instance that does not evaluate (another instance of the group holds the evaluation lock)
lets go of its final windows once the evaluating instance's final results have reached it, as the
evaluating instance does after the final evaluation: otherwise they stay in memory for ever."""

from __future__ import annotations

import numpy as np

from monitor.pipeline.monitor import Batch
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from tests.unit import stream_world as world

H = world.HOUR_MS
START = 1_767_225_600_000  # 2026-01-01T00:00Z


def feed_hour_and_expire_it(service: Service) -> None:
    rng = np.random.default_rng(3)
    frame = world.rows(200, rng)
    ids = [f"p{i}" for i in range(200)]
    ts = np.sort(rng.integers(START, START + H, 200))
    service.monitor.ingest(Batch(predictions={("m", "1"): world.predictions(frame, ids, ts)}))
    service.monitor.ingest(
        Batch(outcomes={"m": world.outcomes(frame.iloc[:100], ids[:100], ts[:100] + 60_000)})
    )
    late = world.rows(2, rng)  # outcomes of other predictions, 8 h on: the TTL (6 h) of hour 0 ran out
    service.monitor.ingest(
        Batch(outcomes={"m": world.outcomes(late, ["x", "y"], np.array([START + 8 * H] * 2))})
    )


def held(service: Service) -> list[int]:
    return sorted(service.monitor.streams[("m", "1")].windows)


def test_the_instance_that_does_not_evaluate_drops_a_final_window_once_its_result_is_final() -> None:
    cfg = world.config()
    baselines = {("m", "1"): world.baseline(cfg)}
    evaluating = Service(cfg, baselines, MemoryDeadLetters())
    other = Service(cfg, baselines, MemoryDeadLetters())
    other.may_evaluate = lambda: False
    for service in (evaluating, other):
        feed_hour_and_expire_it(service)
        assert held(service) == [START]
        assert service.monitor.streams[("m", "1")].windows[START].final

    (result,) = evaluating.evaluate()
    assert result.final and held(evaluating) == []  # evaluated for the last time, then let go

    assert other.evaluate() == [] and held(other) == [START]  # no final result seen yet: kept
    other.results.add(result)  # what shared_results' refresh loads from the store
    assert other.evaluate() == [] and held(other) == []
