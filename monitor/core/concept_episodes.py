"""Concept drift as episodes: a CUSUM over sealed buckets of the error stream that re-arms after
each alarm, and the episodes its alarms make.

After an alarm the CUSUM starts again from 0, so a degradation that persists keeps alarming
(about every `expected_delay` pairs) and one that ends stops. Alarms closer than `rearm_pairs`
joined pairs belong to one episode, dated from its first alarm to its last, in outcome event time
(the latest outcome of the bucket that tipped the statistic). An episode closes when `rearm_pairs`
pairs pass without an alarm, or when the detector is reset for a new baseline; while open it
extends to the latest sealed time. A window's concept-drift flag is whether its event-time range
overlaps an episode (`flag`), so a window is never marked for an alarm that came before it, and
the flag does not depend on when the window happens to be evaluated.

`rearm_pairs` defaults to four times the design's expected detection delay (Wald: h over the
KL divergence of the degraded law from the reference): a degradation of the designed size re-alarms
well within it, while a stream back at the reference closes the episode after a few thousand pairs.
A degradation much smaller than designed alarms more slowly than that and shows as several episodes.

Pure: the evaluator (monitor.evaluation.concept) feeds it and keeps its state durable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import Any

from monitor.core.detectors import (
    Design,
    DetectorSettings,
    cusum_alarms,
    design_from_reference,
    design_from_warmup,
    llrs,
)
from monitor.core.error_summary import NO_TIME, ErrorSummary
from monitor.errors import DataError

REARM_DELAYS = 4.0  # default re-arm stretch, in expected detection delays
MAX_EPISODES = 200  # kept per model version (the API lists them; windows need the recent ones)


@dataclass(frozen=True)
class Episode:
    number: int  # 1, 2, ... per model version
    start: int  # first alarm, outcome event time (ms)
    end: int  # last alarm so far (ms)
    alarms: int
    open: bool
    baseline_id: str
    closed_by: str | None = None  # "recovered" (rearm_pairs without an alarm) or "new_baseline"

    def to_state(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "start": self.start,
            "end": self.end,
            "alarms": self.alarms,
            "open": self.open,
            "baseline_id": self.baseline_id,
            "closed_by": self.closed_by,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Episode:
        return cls(
            int(state["number"]),
            int(state["start"]),
            int(state["end"]),
            int(state["alarms"]),
            bool(state["open"]),
            str(state["baseline_id"]),
            state.get("closed_by"),
        )


@dataclass(frozen=True)
class EpisodeEvent:
    """An episode started (`kind` "start") or ended ("end")."""

    kind: str
    episode: Episode


@dataclass
class ConceptTracker:
    """The CUSUM and episodes of one model version, on one baseline's reference at a time."""

    settings: DetectorSettings
    rearm_pairs: int | None = None  # None: REARM_DELAYS expected delays of the design
    baseline_id: str = ""
    design: Design | None = None  # None while warming up
    warm: ErrorSummary = field(default_factory=ErrorSummary)
    statistic: float = 0.0
    since_alarm: int = 0  # pairs since the open episode's last alarm
    latest: int = NO_TIME  # latest outcome time fed (ms)
    pairs: int = 0  # pairs fed since the last reset
    episodes: list[Episode] = field(default_factory=list)  # oldest first

    # ------------------------------------------------------------------ reading

    @property
    def open_episode(self) -> Episode | None:
        return self.episodes[-1] if self.episodes and self.episodes[-1].open else None

    @property
    def rearm(self) -> int | None:
        if self.rearm_pairs is not None:
            return self.rearm_pairs
        if self.design is None:
            return None
        return max(1, math.ceil(REARM_DELAYS * self.design.expected_delay))

    def flag(self, start: int, end: int) -> tuple[bool, int | None]:
        """Whether the event-time range [start, end) overlaps an episode, and that episode's start
        (the earliest one overlapping)."""
        for episode in self.episodes:
            last = max(episode.end, self.latest) if episode.open else episode.end
            if start <= last and end > episode.start:
                return True, episode.start
        return False, None

    # ------------------------------------------------------------------ updates

    def reset(self, baseline_id: str, reference: Mapping[str, float | None] | None) -> list[EpisodeEvent]:
        """Start over on a new baseline: its reference (or a new warm-up), CUSUM at 0, the open
        episode closed."""
        events = self._close("new_baseline")
        self.baseline_id = baseline_id
        self.design = design_from_reference(self.settings, reference)
        self.warm = ErrorSummary()
        self.statistic, self.since_alarm, self.pairs = 0.0, 0, 0
        return events

    def feed(self, buckets: list[ErrorSummary]) -> list[EpisodeEvent]:
        """Sealed buckets, in outcome-time order."""
        events: list[EpisodeEvent] = []
        buckets = [b for b in buckets if not b.empty]
        while buckets and self.design is None:
            self.warm.add(buckets.pop(0))
            self._track(self.warm.last, 0)
            if self.warm.n >= self.settings.warmup:
                try:
                    self.design = design_from_warmup(self.settings, self.warm)
                except DataError:  # e.g. every warm-up error exactly 0: keep estimating
                    continue
        if not buckets or self.design is None:
            return events
        statistic, alarms = cusum_alarms(self.statistic, llrs(self.design, buckets), self.design.threshold)
        alarm_set = set(alarms)
        for i, bucket in enumerate(buckets):
            self._track(bucket.last, bucket.n)
            if i in alarm_set:
                events += self._alarm(bucket.last)
            elif self.open_episode is not None:
                self.since_alarm += bucket.n
                rearm = self.rearm
                if rearm is not None and self.since_alarm >= rearm:
                    events += self._close("recovered")
        self.statistic = statistic
        return events

    def _track(self, last: int, pairs: int) -> None:
        self.latest = max(self.latest, last)
        self.pairs += pairs

    def _alarm(self, at: int) -> list[EpisodeEvent]:
        self.since_alarm = 0
        episode = self.open_episode
        if episode is not None:
            self.episodes[-1] = replace(episode, end=max(episode.end, at), alarms=episode.alarms + 1)
            return []
        number = self.episodes[-1].number + 1 if self.episodes else 1
        started = Episode(number, at, at, 1, True, self.baseline_id)
        self.episodes = [*self.episodes[-(MAX_EPISODES - 1) :], started]
        return [EpisodeEvent("start", started)]

    def _close(self, why: str) -> list[EpisodeEvent]:
        episode = self.open_episode
        if episode is None:
            return []
        closed = replace(episode, open=False, closed_by=why)
        self.episodes[-1] = closed
        self.since_alarm = 0
        return [EpisodeEvent("end", closed)]

    # ------------------------------------------------------------------ state

    def to_state(self) -> dict[str, Any]:
        return {
            "baseline_id": self.baseline_id,
            "warm": self.warm.to_state(),
            "statistic": self.statistic,
            "since_alarm": self.since_alarm,
            "latest": self.latest,
            "pairs": self.pairs,
            "episodes": [e.to_state() for e in self.episodes],
        }

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any],
        settings: DetectorSettings,
        rearm_pairs: int | None,
        reference: Mapping[str, float | None] | None,
    ) -> ConceptTracker:
        """Restore; the design is derived again from the settings and `reference` (the performance
        of the baseline `state` was on) or the stored warm-up, so a changed config applies."""
        out = cls(
            settings,
            rearm_pairs,
            str(state["baseline_id"]),
            None,
            ErrorSummary.from_state(state["warm"]),
            float(state["statistic"]),
            int(state["since_alarm"]),
            int(state["latest"]),
            int(state["pairs"]),
            [Episode.from_state(e) for e in state["episodes"]],
        )
        out.design = design_from_reference(settings, reference)
        if out.design is None and out.warm.n >= settings.warmup:
            with suppress(DataError):  # still estimating otherwise (see feed)
                out.design = design_from_warmup(settings, out.warm)
        return out
