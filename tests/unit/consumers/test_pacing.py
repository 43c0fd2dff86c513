"""The pacing rule: predictions wait only while they are too far ahead AND outcomes are still to
be read; the pacer reports each change once."""

from datetime import timedelta

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from consumers.pacing import Pacer, partition_event_times, predictions_ahead
from monitor.pipeline.monitor import Batch, Monitor
from tests.unit import stream_world as world

H = 3_600_000
times = st.integers(min_value=0, max_value=10**13)
lags = st.one_of(st.none(), st.integers(min_value=0, max_value=10**9))
bounds = st.integers(min_value=0, max_value=30 * 24 * H)


@given(times, times, lags, bounds)
def test_waits_exactly_when_ahead_and_outcomes_remain(p: int, o: int, lag: int | None, bound: int) -> None:
    assert predictions_ahead(p, o, lag, bound) == ((lag is None or lag > 0) and p - o > bound)


@given(times, times, bounds)
def test_caught_up_outcomes_never_hold_predictions(p: int, o: int, bound: int) -> None:
    # A model with no outcomes at all has nothing to read on the outcomes topic: it never stalls.
    assert not predictions_ahead(p, o, 0, bound)


@given(times, times, bounds)
def test_outcomes_not_fetched_yet_hold_predictions_that_are_ahead(p: int, o: int, bound: int) -> None:
    assert predictions_ahead(p, o, None, bound) == (p - o > bound)


def test_nothing_read_from_outcomes_yet_holds_predictions_while_outcomes_remain() -> None:
    assert predictions_ahead(3 * 24 * H, 0, 5, H)
    assert not predictions_ahead(3 * 24 * H, 0, 0, H)


@given(st.lists(st.tuples(st.integers(0, 3), times, times, lags), max_size=60), bounds)
def test_pacer_reports_each_change_once_and_tracks_the_paused_set(steps, bound: int) -> None:
    pacer = Pacer(bound)
    paused: set[int] = set()
    pauses = 0
    for partition, p, o, lag in steps:
        change = pacer.update(partition, p, o, lag)
        wait = predictions_ahead(p, o, lag, bound)
        expected = (
            True if wait and partition not in paused else False if not wait and partition in paused else None
        )
        assert change is expected
        if change is True:
            paused.add(partition)
            pauses += 1
        elif change is False:
            paused.discard(partition)
        assert pacer.paused == paused
    assert pacer.pauses == pauses
    assert pacer.forget({0, 1}) == paused & {0, 1}
    assert pacer.paused == paused - {0, 1}


def test_a_partitions_event_times_are_the_furthest_read_over_its_models() -> None:
    cfg = world.config()
    monitor = Monitor(cfg, {("m", "1"): world.baseline(cfg)})
    assert partition_event_times(monitor) == (0, 0)
    rng = np.random.default_rng(0)
    frame = world.rows(3, rng)
    ids = ["a", "b", "c"]
    predicted = np.array([5 * H, 7 * H, 6 * H])
    monitor.ingest(Batch(predictions={("m", "1"): world.predictions(frame, ids, predicted)}))
    assert partition_event_times(monitor) == (7 * H, 0)
    monitor.ingest(Batch(outcomes={"m": world.outcomes(frame.iloc[:2], ids[:2], np.array([6 * H, 5 * H]))}))
    assert partition_event_times(monitor) == (7 * H, 6 * H)
    assert Pacer(int(timedelta(minutes=30).total_seconds() * 1000)).update(0, 7 * H, 6 * H, 1) is True
