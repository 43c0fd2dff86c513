"""When a window is evaluated across partitions: once every partition holding it has closed it
(a partition behind the others still has its share to add), or, if one partition stops getting
predictions, once the furthest partition is a whole window past the close."""

from __future__ import annotations

import numpy as np

from monitor.evaluation.evaluator import Evaluator
from monitor.pipeline.monitor import Batch, Monitor
from tests.unit import stream_world as world

H = world.HOUR_MS
START = 1_767_225_600_000  # 2026-01-01T00:00Z


def feed(monitor: Monitor, start_ms: int, end_ms: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frame = world.rows(n, rng)
    ts = np.sort(rng.integers(start_ms, end_ms, n))
    ids = [f"{seed}-{i}" for i in range(n)]
    monitor.ingest(Batch(predictions={("m", "1"): world.predictions(frame, ids, ts)}))


def due_starts(evaluator: Evaluator, partitions: list[Monitor]) -> list[tuple[int, int]]:
    """(window start, rows) of each window due, in hours from START."""
    return [((d.window.start - START) // H, d.window.sketch.n_rows) for d in evaluator.due(partitions)]


def setup() -> tuple[Evaluator, list[Monitor]]:
    cfg = world.config()
    baselines = {("m", "1"): world.baseline(cfg)}
    return Evaluator(cfg, baselines), [Monitor(cfg, baselines, p) for p in (0, 1)]


def test_a_window_waits_for_the_partition_that_has_not_closed_it() -> None:
    evaluator, (a, b) = setup()
    feed(a, START, START + H, 300, seed=1)
    feed(b, START, START + H // 2, 100, seed=2)  # b is behind: half of its hour is still to come
    feed(a, START + H + 2 * 60_000, START + H + 10 * 60_000, 50, seed=3)  # a closes hour 0
    assert due_starts(evaluator, [a, b]) == []
    feed(b, START + H // 2, START + H, 200, seed=4)
    feed(b, START + H + 2 * 60_000, START + H + 10 * 60_000, 50, seed=5)  # b closes it too
    assert due_starts(evaluator, [a, b]) == [(0, 600)]  # every row of the hour, once
    assert due_starts(evaluator, [a, b]) == []


def test_a_partition_that_goes_quiet_holds_a_window_back_one_window_length_at_most() -> None:
    evaluator, (a, b) = setup()
    feed(a, START, START + H, 300, seed=1)
    feed(b, START, START + H // 2, 100, seed=2)  # and then nothing more on b
    feed(a, START + H + 2 * 60_000, START + 2 * H, 300, seed=3)
    assert due_starts(evaluator, [a, b]) == []  # a closed hour 0, b may still be catching up
    feed(a, START + 2 * H + 2 * 60_000, START + 2 * H + 10 * 60_000, 50, seed=4)  # a window past
    assert due_starts(evaluator, [a, b]) == [(0, 400), (1, 300)]


def test_one_partition_alone_is_evaluated_as_soon_as_it_closes() -> None:
    evaluator, (a, _) = setup()
    feed(a, START, START + H, 300, seed=1)
    feed(a, START + H + 2 * 60_000, START + H + 5 * 60_000, 20, seed=2)
    assert due_starts(evaluator, [a]) == [(0, 300)]
