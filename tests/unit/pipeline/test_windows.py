"""Event-time windows (monitor/pipeline/windows.py): the watermark no single message can move."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from monitor.pipeline.windows import running_watermark

_times = st.lists(st.integers(0, 10_000), max_size=30)


def second_largest(values: list[int]) -> int:
    return sorted(values)[-2] if len(values) >= 2 else -1


@given(_times, st.lists(st.integers(0, 30), max_size=4))
def test_the_watermark_is_the_second_largest_timestamp_before_each_row(
    times: list[int], cuts: list[int]
) -> None:
    # Brute force, and the same whatever the split into batches.
    expected = [second_largest(times[:i]) for i in range(len(times))]
    watermark, latest, got = -1, -1, []
    bounds = sorted({0, len(times), *(c for c in cuts if c <= len(times))})
    for lo, hi in pairwise(bounds):
        before, watermark, latest = running_watermark(np.array(times[lo:hi], np.int64), watermark, latest)
        got += before.tolist()
    assert got == expected
    assert watermark == second_largest(times)
    assert latest == (max(times) if times else -1)


def test_one_message_far_ahead_does_not_move_it_and_a_second_one_does() -> None:
    before, watermark, latest = running_watermark(np.array([100, 101, 102, 999_999, 103, 104]), -1, -1)
    assert before.tolist() == [-1, -1, 100, 101, 102, 103]
    assert (watermark, latest) == (104, 999_999)
    before, watermark, latest = running_watermark(np.array([999_998, 105]), watermark, latest)
    assert before.tolist() == [104, 999_998] and (watermark, latest) == (999_998, 999_999)
