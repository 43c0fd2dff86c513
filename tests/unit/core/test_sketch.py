import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core import _histogram
from monitor.core.limits import MAX_ABS_VALUE
from monitor.core.sketch import Moments, NumericSketch, ValueCounts, quantile_edges
from monitor.core.window_sketch import WindowSketch


def test_numeric_sketch_counts_bins_tails_and_missing() -> None:
    sketch = NumericSketch(np.array([0.0, 1.0, 2.0]))
    sketch.update(np.array([-1.0, 0.0, 0.5, 1.0, 2.0, 3.0, np.nan]))
    # slots: below 0 | [0,1) | [1,2] | above 2
    assert sketch.counts.tolist() == [1, 2, 2, 1]
    assert sketch.sums.tolist() == [-1.0, 0.5, 3.0, 3.0]
    assert sketch.missing == 1
    assert sketch.n_out_of_range == 2
    assert sketch.moments.n == 6 and sketch.moments.min == -1.0 and sketch.moments.max == 3.0


def test_the_native_update_matches_numpy_searchsorted_and_bincount() -> None:
    rng = np.random.default_rng(11)
    for k in (1, 2, 3, 7, 16, 17, 40):
        edges = np.unique(rng.normal(0, 1, k).round(1))
        values = np.concatenate([rng.normal(0, 1.5, 500).round(1), edges, [np.nan] * 7, [-np.inf, np.inf]])
        rng.shuffle(values)
        column = np.column_stack([values, values])[:, 1]  # strided, as a matrix column
        counts, sums = np.zeros(len(edges) + 1, np.int64), np.zeros(len(edges) + 1)
        missing, n, mean, m2, lo, hi = _histogram.update(column, edges, counts, sums)
        present = values[~np.isnan(values)]
        slot = np.searchsorted(edges, present, side="right")
        slot[present == edges[-1]] = len(edges) - 1  # the last bin is closed
        assert counts.tolist() == np.bincount(slot, minlength=len(edges) + 1).tolist()
        finite = np.isfinite(present)
        expected_sums = np.bincount(slot[finite], weights=present[finite], minlength=len(edges) + 1)
        assert np.allclose(sums[1:-1], expected_sums[1:-1])
        assert (missing, n, lo, hi) == (7, len(present), -np.inf, np.inf)
        assert np.isnan(mean) and np.isnan(m2)  # infinities make the moments undefined, as numpy's


def test_the_native_update_refuses_wrong_arrays() -> None:
    edges, counts, sums = np.array([0.0, 1.0]), np.zeros(3, np.int64), np.zeros(3)
    with pytest.raises(TypeError, match="values"):
        _histogram.update(np.zeros(4, np.float32), edges, counts, sums)
    with pytest.raises(ValueError, match="len"):
        _histogram.update(np.zeros(4), edges, np.zeros(2, np.int64), sums)
    with pytest.raises(ValueError, match="edge"):
        _histogram.update(np.zeros(4), np.zeros(0), np.zeros(1, np.int64), np.zeros(1))
    with pytest.raises((TypeError, ValueError, BufferError)):
        _histogram.update(np.zeros(4), edges, counts[::-1], sums)  # not writable-contiguous


def test_moments_match_numpy_after_updates_and_merges() -> None:
    rng = np.random.default_rng(3)
    parts = [rng.normal(5, 2, n) for n in (10, 1, 300, 0, 57)]
    edges = np.array([0.0, 5.0, 10.0])
    moments = Moments()
    for part in parts:
        moments = moments.merge(
            NumericSketch(edges).update(part[: len(part) // 2]).update(part[len(part) // 2 :]).moments
        )
    everything = np.concatenate(parts)
    assert moments.n == len(everything)
    assert moments.mean == pytest.approx(everything.mean(), rel=1e-12)
    assert moments.std == pytest.approx(everything.std(), rel=1e-12)


finite_floats = st.floats(allow_nan=False, allow_infinity=False)


@given(st.lists(st.lists(finite_floats, max_size=6), min_size=1, max_size=6))
def test_updates_and_merges_never_raise_on_any_finite_value(batches: list[list[float]]) -> None:
    # Values up to the float limit (the issue's 1e200 after normal rows raised OverflowError in
    # the merge): no exception, counts and extremes exact, the mean finite.
    edges = np.array([-1.0, 0.0, 1.0])
    sketch, merged = NumericSketch(edges), Moments()
    for batch in batches:
        sketch.update(np.array(batch, dtype=np.float64))
        merged = merged.merge(NumericSketch(edges).update(np.array(batch, dtype=np.float64)).moments)
    values = [v for batch in batches for v in batch]
    for moments in (sketch.moments, merged):
        assert moments.n == len(values) == sketch.n_present
        if values:
            assert (moments.min, moments.max) == (min(values), max(values))
            assert math.isfinite(moments.mean) and moments.min <= moments.mean <= moments.max
            assert not math.isnan(moments.m2) and moments.m2 >= 0


@given(st.lists(st.lists(st.floats(-MAX_ABS_VALUE, MAX_ABS_VALUE), max_size=6), min_size=1, max_size=6))
def test_inside_the_admitted_range_every_moment_and_sum_is_finite(batches: list[list[float]]) -> None:
    edges = np.array([-1.0, 0.0, 1.0])
    sketch, merged = NumericSketch(edges), Moments()
    for batch in batches:
        sketch.update(np.array(batch, dtype=np.float64))
        merged = merged.merge(NumericSketch(edges).update(np.array(batch, dtype=np.float64)).moments)
    values = np.array([v for batch in batches for v in batch], dtype=np.float64)
    assert np.isfinite(sketch.sums).all()
    for moments in (sketch.moments, merged):
        assert math.isfinite(moments.m2) and math.isfinite(moments.std)
        if len(values):
            # m2 is within rounding of numpy's on the same values (relative to the values' scale).
            scale = float(np.abs(values).max()) ** 2 * len(values)
            assert abs(moments.m2 - float(((values - values.mean()) ** 2).sum())) <= 1e-9 * scale


def test_the_issue_values_keep_the_moments_defined() -> None:
    edges = np.array([0.0, 1.0])
    sketch = NumericSketch(edges).update(np.array([0.5, 0.7]))
    sketch.update(np.array([1e200]))  # raised OverflowError in Moments.merge
    assert sketch.moments.n == 3 and sketch.moments.max == 1e200
    assert math.isfinite(sketch.moments.mean) and sketch.moments.m2 == math.inf  # 1e400 is not a float
    both = NumericSketch(edges).update(np.array([1e308, -1e308, 1e308]))
    assert both.moments.mean == pytest.approx(1e308 / 3) and both.moments.m2 == math.inf
    same = NumericSketch(edges).update(np.array([1e308, 1e308]))
    assert same.moments.mean == 1e308 and same.moments.m2 == 0.0  # the sum overflowed; the mean did not
    far = Moments(1, 1.7e308, 0.0, 1.7e308, 1.7e308).merge(Moments(1, -1.7e308, 0.0, -1.7e308, -1.7e308))
    assert far.mean == 0.0 and far.m2 == math.inf


def test_value_counts_unseen_bound_and_overflow() -> None:
    counts = ValueCounts(("a", "b"), max_unseen=2)
    counts.update(np.array(["a", "a", "b", "x", "y", "z", "z", None], dtype=object))
    assert counts.counts.tolist() == [2, 1]
    assert counts.missing == 1
    assert counts.n_unseen == 4  # x, y, z, z: all counted even past the bound
    assert len(counts.unseen) == 2
    other = ValueCounts(("a", "b")).update(np.array(["x", "q"], dtype=object))
    mine, theirs = counts.aligned(other)
    # known a, b; then the tracked unseen keys of either (z, which is most frequent, one of x
    # and y, and q from the other side), sorted; then one bucket past the bound.
    assert counts.unseen["z"] == 2
    keys = sorted({*counts.unseen, "q", "x"})
    assert mine.tolist() == [2, 1, *(counts.unseen.get(k, 0) for k in keys), 1]
    assert theirs.tolist() == [0, 0, *(1 if k in ("q", "x") else 0 for k in keys), 0]


def test_value_counts_merge_adds_everything() -> None:
    a = ValueCounts(("a",)).update(np.array(["a", "q", None], dtype=object))
    b = ValueCounts(("a",)).update(np.array(["q", "r", "a"], dtype=object))
    merged = a.merge(b)
    assert merged.counts.tolist() == [2]
    assert merged.unseen == {"q": 2, "r": 1}
    assert merged.missing == 1


def test_merge_refuses_different_bins() -> None:
    with pytest.raises(ValueError, match="different bin edges"):
        NumericSketch(np.array([0.0, 1.0])).merge(NumericSketch(np.array([0.0, 2.0])))


def test_quantile_edges_are_distinct_for_discrete_data() -> None:
    edges = quantile_edges(np.array([1.0] * 50 + [2.0] * 50), 10)
    assert edges.tolist() == [1.0, 2.0]


def test_state_round_trip_preserves_window() -> None:
    rng = np.random.default_rng(0)
    window = WindowSketch(
        features={
            "x": NumericSketch(quantile_edges(rng.normal(size=1000), 20)),
            "c": ValueCounts(("a", "b")),
        },
        prediction=ValueCounts(("0", "1")),
        score=NumericSketch(np.linspace(0, 1, 11)),
        target=ValueCounts(("0", "1")),
        reservoir=__import__("monitor.core.reservoir", fromlist=["RowReservoir"]).RowReservoir(50, seed=1),
    )
    x = rng.normal(size=200)
    x[:5] = np.nan
    window.update(
        {"x": x, "c": rng.choice(np.array(["a", "b", "new"], dtype=object), 200)},
        rng.choice(np.array(["0", "1"], dtype=object), 200),
        rng.random(200),
    )
    restored = WindowSketch.from_state(window.to_state())
    assert restored.to_state() == window.to_state()
    assert np.isnan(restored.reservoir.column("x")).sum() == np.isnan(window.reservoir.column("x")).sum()


def test_the_mean_stays_between_the_extremes_where_it_rounds_past_them() -> None:
    # Found by the property above: the mean of these three rounds to ...330.5, below the minimum.
    values = np.array([3002399751580331.0, 3002399751580331.5, 3002399751580331.0])
    edges = np.array([-1.0, 0.0, 1.0])
    whole = NumericSketch(edges).update(values).moments
    first, rest = (NumericSketch(edges).update(part).moments for part in (values[:1], values[1:]))
    merged = first.merge(rest)
    for moments in (whole, merged):
        assert moments.min <= moments.mean <= moments.max
