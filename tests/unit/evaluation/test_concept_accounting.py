"""Property: the evaluator counts every joined pair exactly once, however partitions interleave,
lag, arrive late, fold their buckets, or restart from an older checkpoint and replay."""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.core.concept_episodes import ConceptTracker
from monitor.core.detectors import DetectorSettings
from monitor.core.error_buckets import ErrorBuckets
from monitor.evaluation.concept import VersionConcept

MINUTE = 60_000
ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["read", "read", "read", "evaluate", "checkpoint", "crash"]), st.integers(0, 2)
    ),
    min_size=1,
    max_size=60,
)


def pairs(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Outcome times mostly in order, a tenth of them up to an hour late; 0/1 errors."""
    rng = np.random.default_rng(seed)
    times = np.sort(rng.integers(0, 6 * 60 * MINUTE, n)) - (rng.random(n) < 0.1) * rng.integers(
        0, 60 * MINUTE, n
    )
    return np.maximum(times, 0).astype(np.int64), (rng.random(n) < 0.2).astype(np.float64)


@settings(max_examples=60, deadline=None)
@given(
    actions=ACTIONS, seed=st.integers(0, 10_000), sizes=st.lists(st.integers(0, 400), min_size=3, max_size=3)
)
# Partition 0 is read and consumed, dies, and replays from an empty checkpoint while 1 reads on.
@example(
    actions=[
        ("checkpoint", 0),
        *[("read", 0)] * 6,
        ("read", 1),
        ("evaluate", 0),
        ("crash", 0),
        ("evaluate", 0),
    ],
    seed=1,
    sizes=[400, 50, 0],
)
def test_every_pair_is_counted_once(actions: list[tuple[str, int]], seed: int, sizes: list[int]) -> None:
    streams = [pairs(seed + p, n) for p, n in enumerate(sizes)]
    live = [ErrorBuckets(MINUTE, 10 * MINUTE) for _ in streams]  # keep only 10 minutes: folds a lot
    position = [0, 0, 0]
    saved = [(b.copy(), 0) for b in live]
    tracker = ConceptTracker(DetectorSettings("classification"))
    tracker.reset("b", {"accuracy": 0.8})
    concept = VersionConcept(tracker)
    rng = np.random.default_rng(seed)

    def read(p: int, count: int) -> None:
        times, errors = streams[p]
        chunk = slice(position[p], min(position[p] + count, times.size))
        live[p].add(times[chunk], errors[chunk])
        if chunk.stop > chunk.start:
            live[p].advance(int(times[: chunk.stop].max()))
        position[p] = chunk.stop

    for action, p in actions:
        if action == "read":
            read(p, int(rng.integers(1, 120)))
        elif action == "evaluate":
            concept.step({q: b.copy() for q, b in enumerate(live)}, MINUTE, 2 * MINUTE, final=False)
        elif action == "checkpoint":
            saved[p] = (live[p].copy(), position[p])
        else:  # the partition's process dies: it restarts from its checkpoint and reads on from there
            live[p], position[p] = saved[p][0].copy(), saved[p][1]
    for p in range(3):
        read(p, sizes[p])
    concept.step({q: b.copy() for q, b in enumerate(live)}, MINUTE, 2 * MINUTE, final=True)
    assert concept.carry.empty
    assert tracker.pairs == sum(sizes)
    assert tracker.warm.n == 0
