"""The alert state machine, one per alert key: inactive → pending → firing → resolved.

Pure: `step` takes the previous state, an observation, the rule's settings and `now`, and
returns the next state with the notifications it calls for ("firing", "repeat", "resolved").

- pending → firing once the condition held for `for` consecutive windows (or a duration of
  data), and the cooldown since the last resolution has passed;
- firing → resolved once the value is clear: past `resolve_threshold` when set (hysteresis:
  values between the two thresholds keep it firing), otherwise no longer breaching;
- a firing alert is re-notified every `repeat_interval` (`due_repeat`), never more often.

Windows are re-evaluated as late outcomes arrive: a result for the window last seen replaces
that window's verdict instead of counting again, and one for an older window is ignored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson

from alerts.rules import Observation, compare

Status = Literal["inactive", "pending", "firing", "resolved"]
Notice = Literal["firing", "repeat", "resolved"]


@dataclass(frozen=True)
class Policy:
    """A rule's settings as the state machine needs them."""

    op: str
    threshold: float
    resolve_threshold: float | None
    for_windows: int = 1
    for_duration: timedelta | None = None
    repeat_interval: timedelta = timedelta(hours=4)
    cooldown: timedelta = timedelta(0)

    def breaching(self, value: float) -> bool:
        return compare(self.op, value, self.threshold)

    def clear(self, value: float) -> bool:
        if self.resolve_threshold is None:
            return not self.breaching(value)
        return not compare(self.op, value, self.resolve_threshold)


@dataclass(frozen=True)
class AlertState:
    key: str
    status: Status = "inactive"
    value: float | None = None
    streak: int = 0  # consecutive breaching windows (or checks) up to the last one seen
    since: datetime | None = None  # start of the current breach
    last_window: datetime | None = None
    last_breached: bool = False
    episode: int = 0  # how many times it fired; part of the notification ids
    notices: int = 0  # notifications sent in this episode
    fired_at: datetime | None = None
    fired_window: datetime | None = None
    last_notified_at: datetime | None = None
    resolved_at: datetime | None = None
    updated_at: datetime | None = None

    def to_bytes(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_bytes(cls, raw: bytes) -> AlertState:
        data: dict[str, Any] = orjson.loads(raw)
        for name in _TIMES:
            data[name] = _time(data.get(name))
        return cls(**data)


_TIMES = ("since", "last_window", "fired_at", "fired_window", "last_notified_at", "resolved_at", "updated_at")


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def step(
    state: AlertState, obs: Observation, policy: Policy, now: datetime
) -> tuple[AlertState, list[Notice]]:
    window = obs.window_start
    if window is not None and state.last_window is not None and window < state.last_window:
        return state, []  # an older window re-evaluated: the newer one already decided
    breach = policy.breaching(obs.value)
    same_window = window is not None and window == state.last_window
    streak = state.streak - int(state.last_breached) if same_window else state.streak
    streak = streak + 1 if breach else 0
    since = None
    if breach:
        started = window if window is not None else obs.at
        since = state.since if (state.since is not None and streak > 1) else started
    state = replace(
        state,
        value=obs.value,
        streak=streak,
        since=since,
        last_window=window if window is not None else state.last_window,
        last_breached=breach,
        updated_at=now,
    )
    if state.status == "firing":
        if policy.clear(obs.value):
            return replace(state, status="resolved", resolved_at=now, last_notified_at=now), ["resolved"]
        if due_repeat(state, policy, now):
            return _notified(state, now), ["repeat"]
        return state, []
    if not breach:
        status: Status = "resolved" if state.status == "resolved" else "inactive"
        return replace(state, status=status), []
    held = _held(state, obs, policy)
    cooled = state.resolved_at is None or now - state.resolved_at >= policy.cooldown
    if held and cooled:
        fired = replace(
            state,
            status="firing",
            episode=state.episode + 1,
            notices=0,
            fired_at=now,
            fired_window=window,
            resolved_at=None,
        )
        return _notified(fired, now), ["firing"]
    return replace(state, status="pending"), []


def _held(state: AlertState, obs: Observation, policy: Policy) -> bool:
    if policy.for_duration is not None:
        assert state.since is not None
        return obs.at - state.since >= policy.for_duration
    return state.streak >= policy.for_windows


def due_repeat(state: AlertState, policy: Policy, now: datetime) -> bool:
    last = state.last_notified_at
    return state.status == "firing" and last is not None and now - last >= policy.repeat_interval


def tick(state: AlertState, policy: Policy, now: datetime) -> tuple[AlertState, list[Notice]]:
    """Between observations: re-notify a firing alert whose repeat interval has passed."""
    if due_repeat(state, policy, now):
        return _notified(state, now), ["repeat"]
    return state, []


def _notified(state: AlertState, now: datetime) -> AlertState:
    return replace(state, last_notified_at=now, notices=state.notices + 1)
