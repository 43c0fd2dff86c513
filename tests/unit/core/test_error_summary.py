"""Error summaries and per-partition error buckets: exact sums, exact clipping, growth-only reads."""

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.error_buckets import ErrorBuckets
from monitor.core.error_summary import BINS_PER_OCTAVE, ZERO_BIN, ErrorSummary, bin_lower_edge, bins_of

errors = st.lists(st.one_of(st.just(0.0), st.floats(1e-9, 1e9, allow_nan=False)), min_size=0, max_size=60)


def summary(values: list[float], t0: int = 0) -> ErrorSummary:
    x = np.asarray(values, dtype=np.float64)
    return ErrorSummary.of(x, np.arange(t0, t0 + x.size, dtype=np.int64))


def test_of_counts_pairs_powers_bins_and_the_latest_time() -> None:
    s = ErrorSummary.of(np.array([0.0, 1.0, 1.0, 3.0]), np.array([5, 9, 7, 8]))
    assert s.n == 4 and s.total == 5.0
    assert s.sums == [5.0, 11.0, 29.0, 83.0]
    assert s.bins == {
        ZERO_BIN: [1.0, 0.0],
        0: [2.0, 2.0],
        int(np.floor(np.log2(3) * BINS_PER_OCTAVE)): [1.0, 3.0],
    }
    assert s.last == 9
    assert ErrorSummary.of(np.zeros(0), np.zeros(0, np.int64)).empty


def test_a_classifiers_errors_fill_two_bins() -> None:
    s = summary([0, 1, 1, 0, 0, 1, 1])
    assert set(s.bins) == {ZERO_BIN, 0} and s.total == 4.0 and s.n == 7


@settings(max_examples=80, deadline=None)
@given(values=errors, cap_bin=st.integers(-40, 120))
def test_clipped_sum_is_exact_for_a_cap_on_a_bin_edge(values: list[float], cap_bin: int) -> None:
    cap = bin_lower_edge(cap_bin)
    expected = float(np.minimum(np.asarray(values, dtype=np.float64), cap).sum())
    assert summary(values).clipped_sum(cap_bin) == pytest.approx(expected, rel=1e-9, abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(values=errors, cuts=st.lists(st.integers(0, 60), max_size=4))
def test_adding_parts_gives_the_whole_in_any_grouping(values: list[float], cuts: list[int]) -> None:
    bounds = sorted({0, len(values), *(min(c, len(values)) for c in cuts)})
    parts = [summary(values[a:b], a) for a, b in itertools.pairwise(bounds)]
    whole = summary(values)
    forward, backward = ErrorSummary(), ErrorSummary()
    for part in parts:
        forward.add(part)
    for part in reversed(parts):
        backward.add(part)
    for got in (forward, backward):
        assert got.n == whole.n and got.last == whole.last
        assert got.sums == pytest.approx(whole.sums, rel=1e-9, abs=1e-9)
        assert {b: c for b, (c, _) in got.bins.items()} == {b: c for b, (c, _) in whole.bins.items()}


@settings(max_examples=80, deadline=None)
@given(values=errors, cut=st.integers(0, 60))
def test_minus_an_earlier_state_gives_the_new_pairs_and_never_more(values: list[float], cut: int) -> None:
    cut = min(cut, len(values))
    earlier, later = summary(values[:cut]), summary(values)
    new = later.minus(earlier)
    assert new.n == len(values) - cut
    assert new.total == pytest.approx(float(np.sum(values[cut:])), rel=1e-9, abs=1e-6)
    assert earlier.minus(later).empty  # a state restored from an older checkpoint: nothing new
    assert later.minus(later).empty
    consumed = earlier.at_least(later)
    assert consumed.n == later.n and later.minus(consumed).empty


def test_huge_errors_are_capped_so_their_powers_stay_finite() -> None:
    s = summary([1e200, 2.0])
    assert all(np.isfinite(s.sums)) and s.total == pytest.approx(1e60)


def test_state_round_trips_through_json() -> None:
    s = summary([0.0, 0.3, 2.5, 1e6], 100)
    assert ErrorSummary.from_state(json.loads(json.dumps(s.to_state()))) == s


def test_bins_are_log_scale_with_zero_apart() -> None:
    b = bins_of(np.array([0.0, 1.0, 2.0, 0.5, 1.2]))
    assert b.tolist() == [
        ZERO_BIN,
        0,
        BINS_PER_OCTAVE,
        -BINS_PER_OCTAVE,
        int(np.floor(np.log2(1.2) * BINS_PER_OCTAVE)),
    ]
    assert bin_lower_edge(BINS_PER_OCTAVE) == 2.0 and bin_lower_edge(ZERO_BIN) == 0.0


# ---------------------------------------------------------------- buckets of one partition


def test_pairs_go_to_the_bucket_of_their_outcome_time_and_old_ones_are_folded() -> None:
    buckets = ErrorBuckets(bucket_ms=60_000, keep_ms=120_000)
    buckets.add(np.array([10_000, 70_000, 130_000]), np.array([1.0, 0.0, 1.0]))
    assert sorted(buckets.buckets) == [0, 60_000, 120_000]
    buckets.advance(250_000)  # floor = 120,000: the first two buckets are folded
    assert sorted(buckets.buckets) == [120_000] and buckets.floor == 120_000
    assert buckets.dropped.n == 2 and buckets.dropped.total == 1.0
    buckets.add(np.array([5_000, 200_000]), np.array([1.0, 1.0]))  # a late pair lands in `dropped`
    assert buckets.dropped.n == 3 and sorted(buckets.buckets) == [120_000, 180_000]
    total = buckets.dropped.n + sum(b.n for b in buckets.buckets.values())
    assert total == 5
    buckets.advance(100_000)  # the watermark never goes back
    assert buckets.watermark == 250_000 and buckets.floor == 120_000


def test_bucket_state_round_trips_and_a_changed_width_folds_everything() -> None:
    buckets = ErrorBuckets(60_000, 600_000)
    buckets.add(np.array([10_000, 70_000]), np.array([0.5, 2.0]))
    buckets.advance(80_000)
    state = json.loads(json.dumps(buckets.to_state()))
    same = ErrorBuckets.from_state(state, 60_000, 600_000)
    assert same.to_state() == buckets.to_state()
    wider = ErrorBuckets.from_state(state, 300_000, 600_000)
    assert wider.buckets == {} and wider.dropped.n == 2 and wider.floor == 120_000


def test_buckets_the_evaluator_has_not_read_are_kept_until_it_has() -> None:
    buckets = ErrorBuckets(60_000, 120_000, keep_unread_ms=600_000)
    buckets.acknowledge(0)  # an evaluator in this process has read nothing yet
    buckets.add(np.arange(0, 540_000, 60_000), np.ones(9))
    buckets.advance(540_000)  # 7 buckets are older than keep_ms, none read: all kept
    assert len(buckets.buckets) == 9 and buckets.dropped.empty
    buckets.acknowledge(300_000)
    assert sorted(buckets.buckets)[0] == 300_000 and buckets.dropped.n == 5
    buckets.advance(1_000_000)  # unread buckets are kept for keep_unread_ms at most
    assert sorted(buckets.buckets)[0] == 360_000 and buckets.dropped.n == 6
