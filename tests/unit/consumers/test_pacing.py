"""The pacing rule: a side (predictions or outcomes) of a partition waits only while it is too far
ahead of the other AND the other still has records to read; at most one side waits; the pacer
reports each change once."""

from datetime import timedelta

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from consumers.pacing import Pacer, ahead, partition_event_times
from monitor.pipeline.monitor import Batch, Monitor
from tests.unit import stream_world as world

H = 3_600_000
times = st.integers(min_value=0, max_value=10**13)
lags = st.one_of(st.none(), st.integers(min_value=0, max_value=10**9))
bounds = st.integers(min_value=0, max_value=30 * 24 * H)


@given(times, times, lags, bounds)
def test_waits_exactly_when_ahead_and_the_other_side_has_records(
    a: int, b: int, lag: int | None, bound: int
) -> None:
    assert ahead(a, b, lag, bound) == ((lag is None or lag > 0) and a - b > bound)


@given(times, times, bounds)
def test_a_caught_up_side_never_holds_the_other(a: int, b: int, bound: int) -> None:
    # A model with no outcomes at all has nothing to read on the outcomes topic: it never stalls.
    assert not ahead(a, b, 0, bound)


def test_nothing_read_from_the_other_side_yet_holds_a_side_while_records_remain() -> None:
    assert ahead(3 * 24 * H, 0, 5, H)
    assert ahead(3 * 24 * H, 0, None, H)
    assert not ahead(3 * 24 * H, 0, 0, H)


@given(times, times, lags, lags, bounds)
def test_at_most_one_side_of_a_partition_waits(
    p: int, o: int, pl: int | None, ol: int | None, bound: int
) -> None:
    pacer = Pacer(bound)
    pacer.update(0, p, o, pl, ol)
    assert len(pacer.waiting) <= 1


@given(st.lists(st.tuples(st.integers(0, 3), times, times, lags, lags), max_size=60), bounds)
def test_pacer_reports_each_change_once_and_tracks_the_waiting_set(steps, bound: int) -> None:
    pacer = Pacer(bound)
    paused: set[tuple[str, int]] = set()
    pauses = {"predictions": 0, "outcomes": 0}
    for partition, p, o, pl, ol in steps:
        changes = pacer.update(partition, p, o, pl, ol)
        expected = []
        for side, wait in (("predictions", ahead(p, o, ol, bound)), ("outcomes", ahead(o, p, pl, bound))):
            key = (side, partition)
            if wait and key not in paused:
                expected.append((side, True))
                paused.add(key)
                pauses[side] += 1
            elif not wait and key in paused:
                expected.append((side, False))
                paused.discard(key)
        assert changes == expected
        assert pacer.waiting == paused
    assert dict(pacer.waits) == {k: v for k, v in pauses.items() if v}
    pacer.forget({0, 1})
    assert pacer.waiting == {k for k in paused if k[1] not in {0, 1}}


def test_outcomes_read_far_ahead_wait_for_their_predictions() -> None:
    """Outcomes fetched faster than predictions (small outcome records, a backlog of predictions)
    would move the outcome watermark past the TTL of predictions not read yet: they wait."""
    pacer = Pacer(H)
    assert pacer.update(0, 10 * H, 13 * H, 50, 50) == [("outcomes", True)]
    assert pacer.update(0, 12 * H + 1, 13 * H, 40, 50) == [("outcomes", False)]
    assert pacer.update(0, 10 * H, 13 * H, 0, 50) == []  # no predictions left to read: no wait


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
    bound = int(timedelta(minutes=30).total_seconds() * 1000)
    assert Pacer(bound).update(0, 7 * H, 6 * H, 1, 1) == [("predictions", True)]
