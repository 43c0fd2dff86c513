"""Pacing the faster topic: keep a partition's predictions and outcomes within a bound of each
other in event time.

The join (monitor.pipeline.join) decides expiry by the watermarks: a prediction waits for its
outcome until the outcome watermark passes its window's end plus the TTL. Read one topic far ahead
of the other and pairs are lost: predictions read days ahead of their outcomes (a replay, a
backlog, big outcome records that fetch slower) are still waiting when the TTL runs out, and
outcomes read far ahead of their predictions move the outcome watermark past the TTL of
predictions not read yet. So fewer pairs join than when both topics are read in time order. The
fix is at the edge: per partition, when one topic-partition's event time runs ahead of the other's
by more than `sources.kafka.max_read_ahead` while the other still has records to read, the one
ahead waits until the gap closes or the other is caught up. The two conditions exclude each other,
so at most one side of a partition waits and nothing deadlocks. (How a side waits is the source's
business: consumers/kafka.py holds its polled records back, and pauses it in the client only while
too many are held.)

A topic-partition's event time is the furthest event time read from it: the largest prediction
(outcome) watermark of the partition's join buffers over all models. The largest, because a model
that gets no outcomes must not hold back the others; and a side whose records never come cannot
stall the other either, since a wait needs records still to read on the other side, and reading
those never waits. A side with no event time yet (nothing read) counts as being at the start of
time: the other waits while it has records, and not once it is empty. One not fetched yet counts as
having records: its first fetch (a poll or two away) says, and until then a client that buffers
whole fetches would hand out days of the other topic (kafka-python learns a topic's high watermark
only after the records fetched before it are handed out).

The check runs between polls, so one poll (or, in its place, one release of held records, which
the source hands over `max_poll_records` at a time just before the check) can still bring up to
`max_poll_records` records of a partition past the bound: keep `max_read_ahead` plus that span
below the join's allowance for reading one input ahead (the model's `read_ahead`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from monitor.pipeline.monitor import Monitor

Side = Literal["predictions", "outcomes"]


def partition_event_times(monitor: Monitor) -> tuple[int, int]:
    """(predictions, outcomes) event time read so far in a partition, epoch ms (0: none yet)."""
    joins = monitor.joins.values()
    return max((j.watermark for j in joins), default=0), max((j.outcome_watermark for j in joins), default=0)


def ahead(leader_ms: int, other_ms: int, other_lag: int | None, max_ahead_ms: int) -> bool:
    """Whether a topic-partition must wait: its event time ahead of the other side's by more than
    the bound, and the other side has records still to read or is not fetched yet (lag None)."""
    return (other_lag is None or other_lag > 0) and leader_ms - other_ms > max_ahead_ms


@dataclass
class Pacer:
    """Which partitions' predictions or outcomes wait; `update` says when that changes."""

    max_ahead_ms: int
    waiting: set[tuple[Side, int]] = field(default_factory=set)
    waits: Counter[Side] = field(default_factory=Counter)  # how often a side had to wait, for the log

    def update(
        self,
        partition: int,
        predictions_ms: int,
        outcomes_ms: int,
        prediction_lag: int | None,
        outcome_lag: int | None,
    ) -> list[tuple[Side, bool]]:
        """The changes for this partition: (side, True) that side waits now, (side, False) it goes on."""
        changes: list[tuple[Side, bool]] = []
        sides: tuple[tuple[Side, int, int, int | None], ...] = (
            ("predictions", predictions_ms, outcomes_ms, outcome_lag),
            ("outcomes", outcomes_ms, predictions_ms, prediction_lag),
        )
        for side, leader, other, lag in sides:
            wait = ahead(leader, other, lag, self.max_ahead_ms)
            key = (side, partition)
            if wait and key not in self.waiting:
                self.waiting.add(key)
                self.waits[side] += 1
                changes.append((side, True))
            elif not wait and key in self.waiting:
                self.waiting.discard(key)
                changes.append((side, False))
        return changes

    def forget(self, partitions: set[int]) -> None:
        """Partitions leaving this instance: none of their sides waits any more."""
        self.waiting = {key for key in self.waiting if key[1] not in partitions}
