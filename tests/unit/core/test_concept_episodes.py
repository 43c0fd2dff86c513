"""Concept drift as episodes: re-arming after an alarm, closing after a clean stretch or a new
baseline, and which windows an episode flags."""

import json

import numpy as np
import pytest

from monitor.core.concept_episodes import ConceptTracker, Episode
from monitor.core.detectors import DetectorSettings
from monitor.core.error_summary import ErrorSummary

MINUTE = 60_000
REFERENCE = {"accuracy": 0.9}


def minutes(
    rng: np.random.Generator, rates: list[float], per_minute: int = 100, t0: int = 0
) -> list[ErrorSummary]:
    """One bucket per minute of outcome time, `per_minute` pairs each at the given error rates."""
    out = []
    for i, p in enumerate(rates):
        times = t0 + i * MINUTE + np.sort(rng.integers(0, MINUTE, per_minute))
        out.append(ErrorSummary.of((rng.random(per_minute) < p).astype(np.float64), times))
    return out


def tracker(**kwargs: object) -> ConceptTracker:
    t = ConceptTracker(DetectorSettings("classification"), **kwargs)  # type: ignore[arg-type]
    t.reset("b1", REFERENCE)
    return t


def test_a_degradation_opens_one_episode_that_closes_after_recovery() -> None:
    rng = np.random.default_rng(0)
    t = tracker()
    assert t.feed(minutes(rng, [0.1] * 300)) == []  # 30,000 clean pairs: no alarm
    events = t.feed(minutes(rng, [0.3] * 60, t0=300 * MINUTE))
    assert [e.kind for e in events] == ["start"]
    episode = t.open_episode
    assert episode is not None and episode.alarms > 3  # re-armed: it keeps alarming while it lasts
    assert 300 * MINUTE <= episode.start < 310 * MINUTE and episode.end >= 355 * MINUTE
    rearm = t.rearm
    assert rearm is not None and 2000 < rearm < 6000  # four expected delays of the design
    events = t.feed(minutes(rng, [0.1] * 100, t0=360 * MINUTE))
    assert [e.kind for e in events] == ["end"]
    closed = events[0].episode
    assert not closed.open and closed.closed_by == "recovered" and closed.end == episode.end
    assert t.open_episode is None


def test_a_second_degradation_after_recovery_is_a_second_episode() -> None:
    rng = np.random.default_rng(1)
    t = tracker()
    kinds = []
    for rates in ([0.1] * 100, [0.35] * 30, [0.1] * 100, [0.35] * 30, [0.1] * 100):
        kinds += [e.kind for e in t.feed(minutes(rng, rates, t0=(t.latest // MINUTE + 1) * MINUTE))]
    assert kinds == ["start", "end", "start", "end"]
    first, second = t.episodes
    assert (first.number, second.number) == (1, 2)
    assert first.end < second.start


def test_the_flag_covers_exactly_the_episode_range() -> None:
    t = tracker()
    t.episodes = [Episode(1, 100, 200, 2, False, "b1"), Episode(2, 500, 600, 1, True, "b1")]
    t.latest = 900
    assert t.flag(0, 100) == (False, None)  # [0, 100): ends where the episode starts
    assert t.flag(0, 101) == (True, 100)
    assert t.flag(200, 300) == (True, 100)  # contains the last alarm
    assert t.flag(201, 499) == (False, None)
    assert t.flag(700, 800) == (True, 500)  # an open episode extends to the latest sealed time
    assert t.flag(901, 1000) == (False, None)


def test_a_new_baseline_closes_the_open_episode_and_starts_over() -> None:
    rng = np.random.default_rng(2)
    t = tracker()
    t.feed(minutes(rng, [0.4] * 20))
    assert t.open_episode is not None
    events = t.reset("b2", {"accuracy": 0.6})
    assert [e.kind for e in events] == ["end"] and events[0].episode.closed_by == "new_baseline"
    assert t.statistic == 0.0 and t.baseline_id == "b2" and t.design is not None
    assert t.design.describe()["p0"] == pytest.approx(0.4)
    assert t.feed(minutes(rng, [0.4] * 100, t0=30 * MINUTE)) == []  # 0.4 is the new reference


def test_without_a_reference_it_warms_up_first() -> None:
    rng = np.random.default_rng(3)
    t = ConceptTracker(DetectorSettings("classification", warmup=2000))
    t.reset("b1", None)
    assert t.design is None
    t.feed(minutes(rng, [0.1] * 15))
    assert t.design is None and t.warm.n == 1500
    t.feed(minutes(rng, [0.1] * 10, t0=15 * MINUTE))
    assert t.design is not None and t.design.describe()["origin"] == "warmup"
    assert t.feed(minutes(rng, [0.1] * 300, t0=25 * MINUTE)) == []
    assert [e.kind for e in t.feed(minutes(rng, [0.4] * 20, t0=325 * MINUTE))] == ["start"]


def test_state_round_trip_continues_identically() -> None:
    rng = np.random.default_rng(4)
    stream = minutes(rng, [0.1] * 50 + [0.3] * 20 + [0.1] * 80)
    whole = tracker()
    whole_events = whole.feed(stream)
    first = tracker()
    events = first.feed(stream[:60])
    state = json.loads(json.dumps(first.to_state()))
    resumed = ConceptTracker.from_state(state, DetectorSettings("classification"), None, REFERENCE)
    events += resumed.feed(stream[60:])
    assert events == whole_events and resumed.to_state() == whole.to_state()


def test_episode_history_is_bounded() -> None:
    t = tracker(rearm_pairs=1)
    rng = np.random.default_rng(5)
    for i in range(250):
        t.feed(minutes(rng, [0.9, 0.0, 0.0], t0=i * 3 * MINUTE))
    assert len(t.episodes) == 200 and t.episodes[-1].number == 250
