"""Pacing the faster topic: keep a partition's predictions from being read far ahead of its outcomes.

The join holds a prediction until its outcome arrives or it expires; read the predictions topic
days ahead of the outcomes topic (a replay, a backlog, big outcome records that fetch slower) and
predictions expire before their outcomes are read, so fewer pairs join than when both topics are
read in time order. The fix is at the edge: per partition, when the predictions topic-partition's
event time runs ahead of the outcomes topic-partition's by more than `sources.kafka.max_read_ahead`
while the outcomes topic-partition still has records to read, stop fetching predictions until the
gap closes or the outcomes are caught up.

A topic-partition's event time is the furthest event time read from it: the largest prediction
(outcome) watermark of the partition's join buffers over all models. The largest, because a model
that gets no outcomes must not hold back the others; and a model whose outcomes never come cannot
stall anything either, since a pause needs outcome records still to read, and reading them is
never paused. An outcomes topic-partition with no event time yet (nothing read) counts as being at
the start of time: predictions wait while it has records, and not once it is empty. One not fetched
yet counts as having records: its first fetch (a poll or two away) says, and until then a client
that buffers whole fetches would hand out days of predictions (kafka-python learns the outcomes'
high watermark only after the predictions fetched before them are handed out).

The check runs between polls, so one poll can still bring up to `max_poll_records` records of a
partition's predictions past the bound: keep `max_read_ahead` plus that span below the join's
allowance for reading predictions ahead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.pipeline.monitor import Monitor


def partition_event_times(monitor: Monitor) -> tuple[int, int]:
    """(predictions, outcomes) event time read so far in a partition, epoch ms (0: none yet)."""
    joins = monitor.joins.values()
    return max((j.watermark for j in joins), default=0), max((j.outcome_watermark for j in joins), default=0)


def predictions_ahead(
    predictions_ms: int, outcomes_ms: int, outcome_lag: int | None, max_ahead_ms: int
) -> bool:
    """Whether the predictions topic-partition must wait: ahead by more than the bound, and
    outcome records still to read or not fetched yet (lag None)."""
    return (outcome_lag is None or outcome_lag > 0) and predictions_ms - outcomes_ms > max_ahead_ms


@dataclass
class Pacer:
    """Which partitions' predictions are paused; `update` says when that changes."""

    max_ahead_ms: int
    paused: set[int] = field(default_factory=set)
    pauses: int = 0  # how often a partition was paused, for the log

    def update(
        self, partition: int, predictions_ms: int, outcomes_ms: int, outcome_lag: int | None
    ) -> bool | None:
        """True: pause this partition's predictions now; False: resume them now; None: no change."""
        wait = predictions_ahead(predictions_ms, outcomes_ms, outcome_lag, self.max_ahead_ms)
        if wait and partition not in self.paused:
            self.paused.add(partition)
            self.pauses += 1
            return True
        if not wait and partition in self.paused:
            self.paused.discard(partition)
            return False
        return None

    def forget(self, partitions: set[int]) -> set[int]:
        """Partitions leaving this instance; returns those that were paused (to resume them)."""
        was = self.paused & partitions
        self.paused -= partitions
        return was
