"""Windows that could not be evaluated (monitor/evaluation/failures.py): listed until one of their
evaluations succeeds, counted by a bounded set of reasons, the list bounded per model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.errors import BaselineError, DataError
from monitor.evaluation.failures import MAX_LISTED, REASONS, EvaluationErrors, reason_of

T0 = datetime(2026, 6, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_reasons_are_a_bounded_set() -> None:
    errors = [OverflowError(), ZeroDivisionError(), ValueError(), DataError("x"), BaselineError("x")]
    errors += [KeyError("x"), RuntimeError(), AssertionError(), TypeError()]
    found = [reason_of(e) for e in errors]
    assert set(found) <= set(REASONS)
    assert found[:5] == [
        "numeric_overflow",
        "numeric_overflow",
        "invalid_data",
        "invalid_data",
        "missing_baseline",
    ]
    assert found[-3:] == ["internal_error"] * 3


def test_a_failing_window_is_listed_until_it_evaluates() -> None:
    errors = EvaluationErrors()
    errors.record("m", "1", T0, T0 + HOUR, ValueError("cannot compute shares"), T0 + 2 * HOUR)
    errors.record("m", "1", T0 + HOUR, T0 + 2 * HOUR, OverflowError("x" * 1000), T0 + 2 * HOUR)
    errors.record("m", "1", T0, T0 + HOUR, ValueError("again"), T0 + 3 * HOUR)  # retried: still failing
    errors.record("other", "1", T0, T0 + HOUR, RuntimeError(), T0 + 2 * HOUR)
    failing = errors.failing("m", "1")
    assert [(e.window_start, e.reason) for e in failing] == [
        (T0, "invalid_data"),
        (T0 + HOUR, "numeric_overflow"),
    ]
    assert failing[0].detail == "ValueError: again" and len(failing[1].detail) <= 300
    assert failing[0].document()["window_id"] == str(int(T0.timestamp()))
    assert errors.counts() == {
        ("m", "invalid_data"): 2,
        ("m", "numeric_overflow"): 1,
        ("other", "internal_error"): 1,
    }
    errors.resolved("m", "1", T0)
    assert [e.window_start for e in errors.failing("m", "1")] == [T0 + HOUR]
    assert errors.counts()[("m", "invalid_data")] == 2  # a counter: it never goes down


def test_the_list_is_bounded_per_model() -> None:
    errors = EvaluationErrors()
    for i in range(MAX_LISTED + 5):
        errors.record("m", "1", T0 + i * HOUR, T0 + (i + 1) * HOUR, ValueError(), T0)
    errors.record("n", "1", T0, T0 + HOUR, ValueError(), T0)
    listed = errors.failing("m", "1")
    assert len(listed) == MAX_LISTED and listed[0].window_start == T0 + 5 * HOUR
    assert len(errors.failing("n", "1")) == 1
