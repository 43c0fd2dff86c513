"""What the join keeps per prediction id, as the join store holds it, and what changed since the
last checkpoint.

The join store (monitor.state: SQLite or PostgreSQL tables keyed by partition, model and
prediction id) holds the rows as of the last checkpoint. The join (monitor.pipeline.join) reads it
through `JoinReader` and never writes to it: it collects its changes in a `JoinDelta`, which the
checkpoint writes in the same transaction as the input offsets it reflects. After a crash the rows
are those of the last checkpoint, the input is read again from its offsets, and the changes are
made again: nothing is counted twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, Protocol

WAITING = 0  # no outcome yet
JOINED = 1  # joined with its outcome; kept (as an id only) to tell a second outcome is a duplicate
ANSWERED_LATE = 2  # its first outcome came after window end + TTL: still waiting, for the counts


# One accepted prediction: (segment, timestamp, prediction, score, state), indexed by the names
# below. A plain tuple: one is made per prediction, on the ingest path. `segment` is the
# (version, window) it belongs to (JoinBuffer.segments); timestamp, prediction and score are None
# once it has its outcome: only the id is needed from then on.
Row = tuple[int, int | None, Any, float | None, int]
SEGMENT: Final = 0
TIMESTAMP: Final = 1
PREDICTION: Final = 2
SCORE: Final = 3
STATE: Final = 4


class Held(NamedTuple):
    """An outcome whose prediction has not come (yet)."""

    timestamp: int
    outcome: Any
    seen_before: int  # the largest outcome time read before it (decides whether it came in time)
    until: int  # held until the predictions, or the outcomes less the read-ahead, pass this


class JoinReader(Protocol):
    """Rows and held outcomes of one (partition, model) as of the last checkpoint."""

    def rows(self, ids: Sequence[str]) -> dict[str, Row]: ...

    def held(self, ids: Sequence[str]) -> dict[str, Held]: ...


class NoRows:
    """The reader of a join that was never checkpointed: everything it holds is in memory."""

    def rows(self, ids: Sequence[str]) -> dict[str, Row]:
        return {}

    def held(self, ids: Sequence[str]) -> dict[str, Held]:
        return {}


@dataclass
class JoinDelta:
    """The changes of one (partition, model) since its last checkpoint, in the order the store
    applies them: whole segments first, then single rows, then inserts (an id forgotten with its
    segment may come back as a new prediction), then held outcomes.

    What the join promises the stores, and lets them drop segments lazily (monitor.state.rocks):
    segment numbers are never reused; once a segment is in `drop_segments` no row of it is written
    again, and once it is in `drop_joined` no joined row of it is (a joined id past the dedup
    horizon is `deleted` instead). `answered` names only rows the store holds as waiting (an
    outcome answers a prediction once; this delta does not delete them), with the segment they
    were stored under, so a store may write them without reading them first; one of a segment
    dropped by the same delta (answered before the drop) stays dropped."""

    drop_segments: list[int] = field(default_factory=list)  # every row of these segments
    drop_joined: list[int] = field(default_factory=list)  # the joined rows of these segments
    deleted: list[str] = field(default_factory=list)  # rows joined after their segment's horizon
    answered: list[tuple[str, int, int]] = field(default_factory=list)  # (id, segment, state): data gone
    inserted: list[tuple[str, Row]] = field(default_factory=list)
    release_held_until: int | None = None  # drop held outcomes with until <= this
    held_deleted: list[str] = field(default_factory=list)  # held outcomes that met their prediction
    held_inserted: list[tuple[str, Held]] = field(default_factory=list)

    def __len__(self) -> int:
        """Row operations (for the benchmarks' accounting)."""
        return (
            len(self.drop_segments)
            + len(self.drop_joined)
            + len(self.deleted)
            + len(self.answered)
            + len(self.inserted)
            + len(self.held_deleted)
            + len(self.held_inserted)
            + (self.release_held_until is not None)
        )
