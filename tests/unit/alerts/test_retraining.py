"""The retraining trigger policy (pure): which rules, minimum interval, maximum per 24 hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.config import RetrainingPolicy
from alerts.retraining import allow, decode_history, encode_history, prune

T0 = datetime(2026, 1, 5, tzinfo=UTC)
H = timedelta(hours=1)


def policy(**kw: object) -> RetrainingPolicy:
    return RetrainingPolicy.model_validate({"model": "churn", "url": "http://x/r", "on": ["drift"], **kw})


def simulate(p: RetrainingPolicy, hours: list[float], rule: str = "drift") -> list[float]:
    """Offer a trigger at each hour; return the hours at which one was allowed."""
    history: list[datetime] = []
    allowed = []
    for h in hours:
        now = T0 + h * H
        if allow(p, rule, history, now):
            history = [*prune(history, now), now]
            allowed.append(h)
    return allowed


def test_only_the_listed_rules_trigger() -> None:
    assert simulate(policy(), [0], rule="other") == []
    assert simulate(policy(), [0]) == [0]


def test_minimum_interval_between_triggers() -> None:
    p = policy(min_interval="6h", max_per_day=10)
    assert simulate(p, [0, 1, 5.9, 6, 7, 12.5]) == [0, 6, 12.5]


def test_at_most_max_per_day_in_any_24_hours() -> None:
    p = policy(min_interval="1h", max_per_day=2)
    assert simulate(p, [0, 1, 2, 3, 23.5, 24, 25, 26]) == [0, 1, 24, 25]


def test_defaults_allow_one_a_day() -> None:
    assert simulate(policy(), [0, 12, 23.9, 24, 30]) == [0, 24]


def test_history_round_trips_and_pruning_keeps_the_latest() -> None:
    history = [T0, T0 + 2 * H]
    assert decode_history(encode_history(history)) == history
    assert prune(history, T0 + 30 * H) == [T0 + 2 * H]  # older than a day, but the last one counts
    assert decode_history(None) == []
