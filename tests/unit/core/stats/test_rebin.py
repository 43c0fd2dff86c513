"""Rebinning a sketch's histogram: bins whose values all sit on their left edge move exactly."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from monitor.baselines.baseline import numeric_sketch
from monitor.core.sketch import NumericSketch
from monitor.core.stats.binning import distinct_upper_bound, on_left_edge, rebin


def integers(seed: int, n: int) -> NDArray[np.float64]:
    """0..39 evenly: every value is a quantile edge, so every bin but the closed last one
    ([38, 39]) holds one value."""
    return np.random.default_rng(seed).integers(0, 40, n).astype(np.float64)


def test_bins_of_one_repeated_value_rebin_exactly() -> None:
    values = integers(3, 5000)
    sketch = numeric_sketch(values, 100)
    assert sketch.values is None  # more than 20 distinct values: quantile bins, not value counts
    edges = np.array([-0.5, 0.0, 2.5, 3.0, 7.2, 19.999, 20.0, 20.001, 37.5])  # on values and between
    moved = rebin(sketch.edges, sketch.counts, sketch.sums, sketch.moments.min, sketch.moments.max, edges)
    assert np.array_equal(moved, np.histogram(values, edges)[0])


def test_a_bin_spanning_values_is_spread_not_moved_whole() -> None:
    """Two values in one bin (0 and 1 in [0, 2)): the sums cannot say where each lies, so the bin
    is spread by the steepest linear density (mean 2/3 where the true one is 1/2)."""
    sketch = NumericSketch(np.array([0.0, 2.0, 4.0])).update(np.array([0.0, 1.0, 2.0, 3.0]))
    moved = rebin(sketch.edges, sketch.counts, sketch.sums, 0.0, 3.0, np.array([0.0, 0.5, 2.0, 4.0]))
    assert np.allclose(moved, [0.875, 1.125, 2.0])


def test_distinct_upper_bound_counts_one_per_single_value_bin() -> None:
    ref, cur = integers(4, 5000), integers(5, 3000)
    sketch = numeric_sketch(ref, 100)
    window = sketch.empty_like().update(cur)
    bound = distinct_upper_bound(sketch.edges, ((sketch.counts, sketch.sums), (window.counts, window.sums)))
    # 0..37 one each; the closed last bin [38, 39] counts every value it holds
    assert bound == 38 + int((ref >= 38).sum() + (cur >= 38).sum())

    continuous = numeric_sketch(np.random.default_rng(6).normal(0, 1, 5000), 100)
    assert distinct_upper_bound(continuous.edges, ((continuous.counts, continuous.sums),)) == 5000


def test_bins_near_the_float_limit_are_not_taken_for_points() -> None:
    edges = np.array([-1e308, 0.0, 1e308])
    counts, sums = [0, 2, 2, 0], [0.0, -1e308, 1e308, 0.0]  # means -5e307 and 5e307, mid-bin
    assert not on_left_edge(edges, counts, sums, -1e308).any()
    on_edge = np.array([-1e307, 0.0, 1e308])
    assert on_left_edge(on_edge, [0, 2, 0, 0], [0.0, -2e307, 0.0, 0.0], -1e307)[1]  # both values at -1e307
