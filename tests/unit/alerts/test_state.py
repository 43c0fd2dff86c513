"""The alert state machine on hand-made observation sequences (pure: `now` passed in)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.rules import AlertKey, Observation
from alerts.state import AlertState, Notice, Policy, step, tick

T0 = datetime(2026, 1, 5, tzinfo=UTC)
H = timedelta(hours=1)
KEY = AlertKey("drift", "churn", "1", "spend")


def run(
    values: list[float], policy: Policy, minutes_per_window: float = 60, state: AlertState | None = None
) -> tuple[AlertState, list[tuple[int, Notice]]]:
    """Feed one value per hourly window; `now` advances `minutes_per_window` per window."""
    state = state or AlertState(KEY.id)
    sent: list[tuple[int, Notice]] = []
    for i, value in enumerate(values):
        start = T0 + i * H
        now = T0 + timedelta(minutes=minutes_per_window * (i + 1))
        state, notices = step(state, Observation(KEY, value, start + H, start, start + H), policy, now)
        sent += [(i, n) for n in notices]
    return state, sent


def test_flapping_around_the_threshold_fires_once_and_resolves_once_with_hysteresis() -> None:
    policy = Policy(">", 0.5, resolve_threshold=0.3, repeat_interval=timedelta(days=1))
    values = [0.1, 0.6, 0.4, 0.6, 0.45, 0.55, 0.35, 0.6, 0.2, 0.1]
    state, sent = run(values, policy)
    assert sent == [(1, "firing"), (8, "resolved")]
    assert state.status == "resolved" and state.episode == 1


def test_without_hysteresis_the_same_flapping_fires_every_time() -> None:
    _, sent = run([0.1, 0.6, 0.4, 0.6, 0.45], Policy(">", 0.5, None))
    assert [n for _, n in sent] == ["firing", "resolved", "firing", "resolved"]


def test_for_counts_consecutive_windows_and_a_clear_window_resets_it() -> None:
    policy = Policy(">=", 1, None, for_windows=3)
    state, sent = run([1, 1, 0, 1, 1, 1, 1], policy)
    assert sent == [(5, "firing")]
    assert state.status == "firing"


def test_for_as_a_duration_of_data() -> None:
    policy = Policy(">=", 1, None, for_duration=timedelta(hours=2))
    _, sent = run([1, 1, 1], policy)
    assert sent == [(1, "firing")]  # two hourly windows hold two hours of breach


def test_pending_then_clear_goes_back_to_inactive_without_a_notification() -> None:
    state, sent = run([1, 0], Policy(">=", 1, None, for_windows=2))
    assert sent == [] and state.status == "inactive"


def test_repeat_interval_is_honoured() -> None:
    policy = Policy(">", 0.5, None, repeat_interval=timedelta(hours=4))
    # ten breaching hourly windows: fires at 0, repeats at 4 and 8 hours after the last notice
    _, sent = run([0.9] * 10, policy)
    assert sent == [(0, "firing"), (4, "repeat"), (8, "repeat")]


def test_tick_repeats_between_observations_but_never_early() -> None:
    policy = Policy(">", 0.5, None, repeat_interval=timedelta(hours=4))
    state, _ = run([0.9], policy)
    fired = state.last_notified_at
    assert fired is not None
    assert tick(state, policy, fired + timedelta(hours=3, minutes=59))[1] == []
    state, notices = tick(state, policy, fired + timedelta(hours=4))
    assert notices == ["repeat"] and state.notices == 2
    assert tick(state, policy, fired + timedelta(hours=5))[1] == []


def test_cooldown_holds_a_refire_until_it_has_passed() -> None:
    policy = Policy(">", 0.5, None, cooldown=timedelta(hours=3))
    # fire at window 1, resolve at 2, breach again at 3 and 4 (inside the cooldown), 5 (past it)
    state, sent = run([0.1, 0.9, 0.1, 0.9, 0.9, 0.9], policy)
    assert sent == [(1, "firing"), (2, "resolved"), (5, "firing")]
    assert state.episode == 2


def test_re_evaluating_the_same_window_replaces_its_verdict_and_old_windows_are_ignored() -> None:
    policy = Policy(">", 0.05, None, for_windows=2)
    state = AlertState(KEY.id)
    w = [T0 + i * H for i in range(3)]
    now = T0 + 10 * H
    state, _ = step(state, Observation(KEY, 0.1, w[0] + H, w[0], w[0] + H), policy, now)
    # the same window again (more outcomes arrived): still one breaching window, not two
    state, notices = step(state, Observation(KEY, 0.1, w[0] + H, w[0], w[0] + H), policy, now)
    assert notices == [] and state.streak == 1 and state.status == "pending"
    state, notices = step(state, Observation(KEY, 0.1, w[1] + H, w[1], w[1] + H), policy, now)
    assert notices == ["firing"]
    # a late re-evaluation of window 0 clearing changes nothing: window 1 decided since
    after, notices = step(state, Observation(KEY, 0.0, w[0] + H, w[0], w[0] + H), policy, now)
    assert notices == [] and after == state


def test_state_round_trips_through_bytes() -> None:
    state, _ = run([0.9, 0.9], Policy(">", 0.5, None))
    assert AlertState.from_bytes(state.to_bytes()) == state
