"""One input partition's joined error stream of a model version, summarised per stretch of outcome time.

Each joined pair adds its error to the bucket of its outcome's event time (`bucket_ms` wide, one
minute by default). The concept-drift decision is not taken here: the evaluator merges the buckets
of every partition and runs one CUSUM over them (monitor.evaluation.concept), so splitting the
input into Kafka partitions does not split the error stream that the detector sees.

Bounded: once the partition's joined stream (the earlier of how far its predictions and its
outcomes have been read) is `keep_ms` past a bucket, the bucket is folded into `dropped`, one
summary of everything older. When the evaluator runs in the same process it acknowledges what it
has read (`acknowledge`), and buckets it has not read yet are kept up to `keep_unread_ms` (so a
backlog replayed faster than the evaluation passes is still read bucket by bucket, with its time).
What a bucket or `dropped` holds only grows,
and which of the two a pair lands in depends only on its outcome time and the watermark, so the
evaluator can take the new pairs as differences from what it consumed before, exactly once, even
after this partition was restored from an older checkpoint.

The summaries are replaced, never changed in place, so a copy shares them: copies are taken under
the ingest lock (the evaluator's snapshot, and the savepoint of every batch group, which costs
a dict of a few dozen entries instead of a deep copy of every bucket).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.core.error_summary import NO_TIME, ErrorSummary


@dataclass
class ErrorBuckets:
    bucket_ms: int
    keep_ms: int
    buckets: dict[int, ErrorSummary] = field(default_factory=dict)  # bucket start (ms) -> pairs
    dropped: ErrorSummary = field(default_factory=ErrorSummary)  # every pair of a bucket below `floor`
    floor: int = NO_TIME  # buckets starting below it are folded into `dropped`
    watermark: int = NO_TIME  # the joined stream's time in this partition (ms; Monitor._advance_errors)
    keep_unread_ms: int = 6 * 3_600_000
    read_until: int = NO_TIME  # the evaluator has read every bucket starting below it

    def acknowledge(self, read_until: int) -> None:
        """The evaluator has read the buckets starting below `read_until`: they may be folded."""
        if read_until > self.read_until:
            self.read_until = read_until
            self._fold()

    def add(self, times: NDArray[np.int64], errors: NDArray[np.float64]) -> None:
        """Add joined pairs: their outcome times (ms) and errors."""
        if len(times) == 0:
            return
        starts = np.asarray(times, dtype=np.int64) // self.bucket_ms * self.bucket_ms
        old = starts < self.floor
        if old.any():
            self.dropped = self.dropped.plus(ErrorSummary.of(errors[old], times[old]))
        for start in np.unique(starts[~old]).tolist():
            rows = starts == start
            summary = ErrorSummary.of(errors[rows], times[rows])
            before = self.buckets.get(start)
            self.buckets[start] = summary if before is None else before.plus(summary)

    def advance(self, watermark: int) -> None:
        """Move the watermark forward; fold the buckets it has left `keep_ms` behind."""
        if watermark <= self.watermark:
            return
        self.watermark = watermark
        self._fold()

    def _fold(self) -> None:
        floor = self._start(self.watermark - self.keep_ms)
        if self.read_until != NO_TIME:  # an evaluator in this process: keep what it has not read
            floor = min(
                floor, max(self._start(self.read_until), self._start(self.watermark - self.keep_unread_ms))
            )
        if floor <= self.floor:
            return
        self.floor = floor
        for start in [s for s in self.buckets if s < floor]:
            self.dropped = self.dropped.plus(self.buckets.pop(start))

    def _start(self, time: int) -> int:
        return time // self.bucket_ms * self.bucket_ms

    def copy(self) -> ErrorBuckets:
        """A copy sharing the summaries (never changed in place)."""
        return ErrorBuckets(
            self.bucket_ms,
            self.keep_ms,
            dict(self.buckets),
            self.dropped,
            self.floor,
            self.watermark,
            self.keep_unread_ms,
            self.read_until,
        )

    __fork__ = copy  # monitor.pipeline.savepoint

    def to_state(self) -> dict[str, Any]:
        return {
            "bucket_ms": self.bucket_ms,
            "keep_ms": self.keep_ms,
            "buckets": [[s, b.to_state()] for s, b in sorted(self.buckets.items())],
            "dropped": self.dropped.to_state(),
            "floor": self.floor,
            "watermark": self.watermark,
            "read_until": self.read_until,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], bucket_ms: int, keep_ms: int) -> ErrorBuckets:
        """Restore; a state kept with another bucket width (the config changed) is folded whole
        into `dropped`, which the evaluator takes as late pairs: counted once, dated later."""
        out = cls(bucket_ms, keep_ms, floor=int(state["floor"]), watermark=int(state["watermark"]))
        out.read_until = int(state.get("read_until", NO_TIME))
        out.dropped = ErrorSummary.from_state(state["dropped"])
        buckets = {int(s): ErrorSummary.from_state(b) for s, b in state["buckets"]}
        if int(state["bucket_ms"]) == bucket_ms:
            out.buckets = buckets
        else:
            out.floor = max(out.floor, max(buckets, default=NO_TIME) + int(state["bucket_ms"]))
            for summary in buckets.values():
                out.dropped = out.dropped.plus(summary)
        return out
