"""The grouped update of every segment's sketches gives what one update per segment gives: counts,
missing, unseen keys and moments equal, per-slot value sums equal up to rounding."""

import numpy as np
import pytest

from monitor.core.segments import SegmentProfiles
from monitor.core.sketch import NumericSketch
from tests.unit.core.segment_loop import PerSegmentProfiles

KINDS = {"x": "numeric", "heavy": "numeric", "c": "categorical"}


def batch(rng: np.random.Generator, n: int, n_segments: int) -> tuple[dict, np.ndarray]:
    x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan
    heavy = rng.standard_t(1, n) * 1e3  # far past the reference's range: tails
    c = np.array(["a", "b", "c", None], dtype=object)[rng.choice(4, n, p=[0.5, 0.3, 0.1, 0.1])]
    unseen = rng.random(n) < 0.05
    c[unseen] = [f"new{k}" for k in rng.integers(0, 150, int(unseen.sum()))]  # past the unseen bound
    segment = np.array([f"s{k}" for k in rng.integers(0, n_segments + 3, n)], dtype=object)
    segment[rng.random(n) < 0.05] = None
    return {"x": x, "heavy": heavy, "c": c}, segment


def assert_same(grouped: SegmentProfiles, looped: PerSegmentProfiles) -> None:
    sketches = grouped.sketches
    for label, by_feature in looped.sketches.items():
        for name, want in by_feature.items():
            got = sketches[label][name]
            assert got.missing == want.missing, (label, name)
            np.testing.assert_array_equal(got.counts, want.counts)
            if isinstance(want, NumericSketch):
                assert isinstance(got, NumericSketch)
                assert got.moments == want.moments, (label, name)
                np.testing.assert_allclose(got.sums, want.sums, rtol=1e-12, atol=1e-9)
            else:
                assert got.unseen == want.unseen and got.unseen_overflow == want.unseen_overflow


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("batch_size", [1, 7, 100, 2000])
def test_the_grouped_update_equals_one_update_per_segment(seed: int, batch_size: int) -> None:
    rng = np.random.default_rng(seed)
    rows, segment = batch(rng, 5000, 8)
    reference = SegmentProfiles.fit(
        rows | {"c": np.array(["a", "b", "c"] * 1000 + [None] * 2000, dtype=object)},
        KINDS,
        segment,
        max_segments=8,
    )
    grouped, looped = reference.window(), PerSegmentProfiles.empty_like(reference)
    for _ in range(5):
        live, live_segment = batch(rng, batch_size, 8)
        edges = reference.sketches[reference.segment_map.segments[0]]["x"].edges
        on_edges = rng.random(batch_size) < 0.2  # the edges themselves, the last one closed
        live["x"][on_edges] = edges[rng.integers(0, len(edges), int(on_edges.sum()))]
        live["x"][-1] = edges[-1]
        grouped.update(live, live_segment)
        looped.update(live, live_segment)
    assert_same(grouped, looped)


def test_an_empty_batch_and_an_all_missing_segment_change_nothing_else() -> None:
    rng = np.random.default_rng(9)
    rows, segment = batch(rng, 3000, 3)
    reference = SegmentProfiles.fit(rows, KINDS, segment, max_segments=3)
    grouped, looped = reference.window(), PerSegmentProfiles.empty_like(reference)
    empty = {k: v[:0] for k, v in rows.items()}
    missing_only = {"x": np.full(4, np.nan), "heavy": np.full(4, np.nan), "c": np.full(4, None, dtype=object)}
    for live, live_segment in (
        (empty, segment[:0]),
        (missing_only, np.array([reference.segment_map.segments[0]] * 4, dtype=object)),
    ):
        grouped.update(live, live_segment)
        looped.update(live, live_segment)
    assert_same(grouped, looped)
    first = reference.segment_map.segments[0]
    assert grouped.sketches[first]["x"].missing == 4 and grouped.sketches[first]["x"].n_present == 0


def test_a_fork_shares_nothing_an_update_changes() -> None:
    rng = np.random.default_rng(3)
    rows, segment = batch(rng, 3000, 3)
    reference = SegmentProfiles.fit(rows, KINDS, segment, max_segments=3)
    window = reference.window().update(*batch(rng, 500, 3))
    before = window.to_state()
    fork = window.copy()
    fork.update(*batch(rng, 500, 3))
    assert window.to_state() == before
    assert fork.to_state() != before


def test_values_near_the_float_limit_give_the_same_moments() -> None:
    """The totals overflow: the means and the merges take the scaled paths, as the native ones do."""
    rng = np.random.default_rng(5)
    rows, segment = batch(rng, 3000, 2)
    reference = SegmentProfiles.fit(rows, KINDS, segment, max_segments=2)
    grouped, looped = reference.window(), PerSegmentProfiles.empty_like(reference)
    for _ in range(3):
        live, live_segment = batch(rng, 50, 2)
        live["heavy"] = rng.choice([1.7e308, -1.7e308, 1.0], 50)
        grouped.update(live, live_segment)
        looped.update(live, live_segment)
    assert_same(grouped, looped)
