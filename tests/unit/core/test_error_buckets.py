"""A partition's error buckets (monitor/core/error_buckets.py): a copy shares the summaries, which the
buckets replace and never change in place, so nothing done to the original reaches the copy."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.core.error_buckets import ErrorBuckets
from monitor.pipeline.savepoint import fork

MINUTE = 60_000


def add(buckets: ErrorBuckets, minutes: list[float], errors: list[float]) -> None:
    buckets.add(np.array([int(m * MINUTE) for m in minutes], np.int64), np.array(errors))


@pytest.mark.parametrize("copied", [ErrorBuckets.copy, fork], ids=["copy", "savepoint fork"])
def test_a_copy_is_not_changed_by_adds_and_folds_to_the_original(copied) -> None:
    original = ErrorBuckets(MINUTE, 10 * MINUTE)
    add(original, [0.1, 0.5, 1.2, 3.0], [0.0, 1.0, 0.5, 2.0])
    original.advance(4 * MINUTE)
    copy = copied(original)
    before = copy.to_state()
    add(original, [1.5, 3.3, 20.0], [1.0, 4.0, 0.25])  # two buckets it has, one new
    original.advance(25 * MINUTE)  # folds all but the newest into `dropped`
    add(original, [2.0], [3.0])  # below the floor now: into `dropped` too
    assert copy.to_state() == before
    assert original.dropped.n == 7 and sum(b.n for b in original.buckets.values()) == 1
