"""The delayed-outcome join of one model in one partition: predictions wait for their outcome by
prediction_id.

The rows live in the join store (monitor.state), as of the last checkpoint; this class reads them
in batches through a `JoinReader` and keeps in memory only what changed since (`JoinDelta`, written
by the next checkpoint with the offsets), a bounded cache of recent predictions, and one small
`Segment` per (model version, window, feature segment) with its counts and where it is in its life.
The feature segment is the code of the predictions' segment (monitor.core.segments) for a model
with `segments`, so that each joined pair knows it; NO_SEGMENT otherwise, and for predictions
stored before segments were kept (their pairs count in the window, in no segment). Everything
counted per (model version, window) sums over the codes.

The rule, deterministic however the input is split into batches and however the predictions and
outcomes are interleaved (within the read-ahead allowance R):

- A prediction P of window [ws, we) is late if its window was closed (ws + window + allowed
  lateness <= the largest prediction time read before it); a late prediction is counted late and
  nothing else. An accepted (not late) P whose id is still held is a duplicate.
- An outcome O joins P iff P was accepted and O.timestamp <= we + TTL, and O is the first outcome
  read for that id; a first outcome past we + TTL counts `expired_prediction` (P keeps waiting),
  later outcomes for the id count `duplicate_outcome`.
- P expires (counted once, per window) when the partition's outcome watermark - the largest outcome
  time read, a running maximum decided per row, so batching does not matter - passes
  we + TTL + allowed_lateness, or, so that a model without outcomes does not keep its predictions
  for ever, when its prediction watermark passes we + TTL + R. An outcome read after that counts
  `expired_prediction`.
- An outcome that comes before its prediction is held until the prediction watermark passes the
  end of the outcome's window plus the allowed lateness (from then on any prediction it could
  belong to is late), or the outcome watermark passes that plus R; then it counts
  `unknown_prediction`. A prediction that comes while its outcome is held joins it as if it had
  come first (the outcome's own watermark decides whether it was in time). Its id is remembered
  until the outcome watermark passes that plus R, counted or not: a second outcome for it until
  then counts `duplicate_outcome` (by the prediction watermark alone, it would depend on how the
  inputs interleave).
- Ids are remembered for de-duplication as long as they can matter, and at least until their
  window is closed to predictions (so a replayed prediction is late, never new): a joined id
  until the outcome watermark passes we + dedup_horizon (a second outcome after that counts
  `unknown_prediction` instead of `duplicate_outcome`); every id until
  we + TTL + allowed_lateness + dedup_horizon (outcomes for expired predictions count
  `expired_prediction` until then, `unknown_prediction` after). Whether a second outcome is a
  duplicate or unknown can depend on the interleaving when the outcomes are read more than
  dedup_horizon ahead of the predictions; the joins and expiries do not.

Assumed by the rule: a replayed prediction carries its original timestamp, and an outcome is not
stamped before its prediction's window. R bounds how far one input may be read ahead of the other
(the Kafka edge holds the faster topic back); `watermark` and `outcome_watermark` are what it paces by.

Checkpoints may be written while ingestion goes on (monitor.state.partitions.CheckpointWriter):
`delta()` takes what changed, the store writes it, and `committed()` then forgets exactly what was
written and has not changed since, telling the two apart by identity (rows and held outcomes are
immutable tuples, replaced, never edited). Until then the written rows stay in memory, which the
look-ups read before the store, so they see the same whether the write has committed or not. Two
things need care meanwhile: a row being written that is forgotten (joined past its segment's
dedup horizon, or its segment dropped) leaves a tombstone in the changes, and so does a held
outcome being written that meets its prediction; either would otherwise turn up again from the
store once the write commits.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import filterfalse, repeat
from operator import attrgetter, is_, is_not, itemgetter
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.pipeline.join_rows import (
    ANSWERED_LATE,
    JOINED,
    PREDICTION,
    SEGMENT,
    STATE,
    TIMESTAMP,
    WAITING,
    Held,
    JoinDelta,
    JoinReader,
    NoRows,
    Row,
)

NO_SEGMENT = -1  # the code of predictions whose feature segment is not kept


@dataclass(frozen=True)
class JoinRules:
    ttl_ms: int
    lateness_ms: int
    window_ms: int
    dedup_ms: int
    read_ahead_ms: int
    numeric: bool  # regression: predictions and outcomes are numbers


@dataclass
class Segment:
    """The predictions of one model version in one window (and one feature segment, `code`):
    their count still waiting, and whether their joined ids were dropped (dedup horizon) and
    whether they expired."""

    version: str
    window_start: int
    window_end: int
    waiting: int = 0
    dedup_dropped: bool = False
    expired: bool = False
    code: int = NO_SEGMENT

    @property
    def key(self) -> tuple[str, int, int]:
        return self.version, self.window_start, self.code

    def to_state(self) -> list[Any]:
        state = [
            self.version,
            self.window_start,
            self.window_end,
            self.waiting,
            self.dedup_dropped,
            self.expired,
        ]
        # States without segments stay as they were.
        return state if self.code == NO_SEGMENT else [*state, self.code]

    @classmethod
    def from_state(cls, state: list[Any]) -> Segment:
        version, start, end, waiting, dropped, expired, *code = state  # no code: written before it
        return cls(
            str(version),
            int(start),
            int(end),
            int(waiting),
            bool(dropped),
            bool(expired),
            int(code[0]) if code else NO_SEGMENT,
        )


@dataclass(frozen=True)
class Matches:
    """Outcomes joined with their predictions, all from one segment (model version, window,
    feature segment code)."""

    version: str
    window_start: int
    segment_code: int
    order: NDArray[np.int64]  # arrival position of each pair in the call that joined it
    outcome: NDArray[Any]
    outcome_timestamp: NDArray[np.int64]
    prediction: NDArray[Any]
    score: NDArray[np.float64]
    prediction_timestamp: NDArray[np.int64]


@dataclass(frozen=True)
class JoinOutcome:
    matches: list[Matches]
    expired: int  # outcomes past their prediction's window end + TTL, or for an expired prediction
    duplicate: int  # outcomes for an id that already had its first outcome
    held: int  # outcomes that came before their prediction


@dataclass(frozen=True)
class Expiry:
    predictions: dict[tuple[str, int], int]  # predictions that expired waiting, per (version, window)
    unknown_outcomes: int  # held outcomes whose prediction never came


def _matches(
    segment: Segment,
    numeric: bool,
    order: Sequence[int] | NDArray[np.int64],
    outcome: Sequence[Any],
    outcome_ts: Sequence[int] | NDArray[np.int64],
    rows: Sequence[Row],
) -> Matches:
    kind = np.float64 if numeric else object
    _, ts, prediction, score, _ = zip(*rows, strict=True)
    return Matches(
        segment.version,
        segment.window_start,
        segment.code,
        np.asarray(order, np.int64),
        _array(list(outcome), kind),
        np.asarray(outcome_ts, np.int64),
        _array(list(prediction), kind),
        np.asarray([np.nan if v is None else v for v in score], np.float64),
        np.asarray([v or 0 for v in ts], np.int64),
    )


def _unchanged(taken: dict[str, Row], fresh: dict[str, Row]) -> list[tuple[str, Row]]:
    """The rows of `taken` (a copy of `fresh` made earlier) that `fresh` still holds as they were:
    removed from `fresh` and returned, in order. When nothing changed since the copy (a checkpoint
    taken and saved with ingestion stopped), that is all of it, found without a Python loop."""
    if len(fresh) == len(taken) and all(map(is_, map(fresh.get, taken), taken.values())):
        fresh.clear()
        return list(taken.items())
    saved = [(pid, row) for pid, row in taken.items() if fresh.get(pid) is row]
    for pid, _ in saved:
        del fresh[pid]
    return saved


# What `match` reads for an id the join does not remember: a row of no segment.
_NO_ROW: Row = (-1, None, None, None, -1)


def _first_of_id(ids: list[str], distinct: int) -> NDArray[np.bool_] | None:
    """Mask of the rows that are the first of their id in `ids` (`distinct` ids among them, which
    the callers know already); None if the ids are distinct."""
    if distinct == len(ids):
        return None
    first = np.zeros(len(ids), bool)
    first[np.unique(np.asarray(ids, dtype=object), return_index=True)[1]] = True
    return first


def _array(values: list[Any], kind: Any) -> NDArray[Any]:
    if kind is not object:
        return np.asarray(values, dtype=np.float64)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


@dataclass(frozen=True)
class _Flight:
    """What a `delta()` handed to the store: the changes it was made of, as they were then."""

    fresh: dict[str, Row] = field(default_factory=dict)
    changed: dict[str, Row | None] = field(default_factory=dict)
    held: dict[str, Held] = field(default_factory=dict)
    held_gone: set[str] = field(default_factory=set)
    drop_segments: int = 0  # how many of the segment operations it had
    drop_joined: int = 0
    release_held_until: int | None = None


class JoinBuffer:
    def __init__(self, rules: JoinRules, reader: JoinReader | None = None, cache_rows: int = 100_000) -> None:
        self.rules = rules
        self.reader: JoinReader = reader or NoRows()
        self.cache_rows = cache_rows
        self.watermark = 0  # largest prediction time read, ms
        self.outcome_watermark = 0  # largest outcome time read, ms
        self.segments: dict[int, Segment] = {}
        self.next_segment = 0
        self.held_buckets: dict[int, int] = {}  # until -> held outcomes (stored and new)
        self.released_until = -(2**62)  # held outcomes with until <= this were let go (counted)
        self.held_horizon = -(2**62)  # the largest until of an outcome ever held
        self._forgotten_until = -(2**62)  # held outcomes with until <= this are deleted
        self._segment_of: dict[tuple[str, int, int], int] = {}
        # Since the last checkpoint: rows inserted, stored rows changed (None: deleted), held
        # outcomes added, stored held outcomes consumed, segment and release operations.
        self._fresh: dict[str, Row] = {}
        self._fresh_by_segment: dict[int, list[str]] = {}
        self._changed: dict[str, Row | None] = {}
        self._held: dict[str, Held] = {}
        self._held_gone: set[str] = set()
        self._ops = JoinDelta()
        self._flight = _Flight()  # what the last delta() handed to the store, until committed()
        self._cache: OrderedDict[str, Row] = OrderedDict()  # stored rows inserted recently

    def __len__(self) -> int:
        """Predictions still waiting for an outcome."""
        return sum(s.waiting for s in self.segments.values() if not s.expired)

    @property
    def held(self) -> int:
        return sum(self.held_buckets.values())

    # ------------------------------------------------------------------ lookups

    def _stored_rows(self, ids: Sequence[str]) -> dict[str, Row]:
        if isinstance(self.reader, NoRows):
            return {}
        missing = [
            pid
            for pid in ids
            if pid not in self._fresh and pid not in self._changed and pid not in self._cache
        ]
        return self.reader.rows(missing) if missing else {}

    def _row(self, pid: str, stored: dict[str, Row]) -> tuple[Row, Segment] | None:
        """The row of `pid` and its segment as things stand, if it is still remembered."""
        row: Row | None
        if pid in self._fresh:
            row = self._fresh[pid]
        elif pid in self._changed:
            row = self._changed[pid]
        else:
            row = self._cache.get(pid) or stored.get(pid)
        if row is None:
            return None
        segment = self.segments.get(row[SEGMENT])
        if segment is None or (row[STATE] == JOINED and segment.dedup_dropped):
            return None
        return row, segment

    def _set(self, pid: str, row: Row | None) -> None:
        if pid in self._fresh:
            if row is None:
                self._forget_fresh(pid)
            else:
                self._fresh[pid] = row
        else:
            self._changed[pid] = row

    def _forget_fresh(self, pid: str) -> None:
        """Drop a row not checkpointed yet; one being written gets a tombstone (see the module doc)."""
        del self._fresh[pid]
        if pid in self._flight.fresh:
            self._changed[pid] = None

    def new_ids(self, ids: list[str]) -> NDArray[np.bool_]:
        """Mask of ids not remembered and first in this batch: the rest are duplicates."""
        distinct = set(ids)
        stored = self._stored_rows(list(distinct))
        # Set operations find the few ids anything remembers; only those are looked at one by one.
        candidates = (
            (self._fresh.keys() & distinct)
            | (self._changed.keys() & distinct)
            | (self._cache.keys() & distinct)
            | stored.keys()
        )
        remembered = {pid for pid in candidates if self._row(pid, stored) is not None}
        fresh = np.ones(len(ids), bool)
        if remembered:
            fresh &= np.fromiter((pid not in remembered for pid in ids), bool, len(ids))
        first = _first_of_id(ids, len(distinct))
        return fresh if first is None else fresh & first

    def pending_predictions(self, ids: list[str]) -> dict[str, tuple[str, int, Any]]:
        """The model version, timestamp and prediction of those of `ids` still waiting for their
        outcome (not joined, not answered late, not expired); a read that changes nothing."""
        stored = self._stored_rows(list(dict.fromkeys(ids)))
        pending: dict[str, tuple[str, int, Any]] = {}
        for pid in ids:
            found = self._row(pid, stored)
            if found is not None and found[0][STATE] == WAITING and not found[1].expired:
                row, segment = found
                pending[pid] = (segment.version, int(row[TIMESTAMP] or 0), row[PREDICTION])
        return pending

    # ------------------------------------------------------------------ predictions

    def _segment(self, version: str, window_start: int, window_end: int, code: int) -> int:
        key = (version, window_start, code)
        sid = self._segment_of.get(key)
        if sid is None:
            sid = self.next_segment
            self.next_segment += 1
            self._segment_of[key] = sid
            self.segments[sid] = Segment(version, window_start, window_end, code=code)
        return sid

    def add(
        self,
        version: str,
        window_start: int,
        window_end: int,
        ids: NDArray[Any],
        ts: NDArray[np.int64],
        pred: NDArray[Any],
        score: NDArray[np.float64],
        code: int = NO_SEGMENT,
    ) -> tuple[Matches | None, int]:
        """Add new (accepted, de-duplicated) predictions of one window and feature segment `code`.
        Returns the pairs they form with held outcomes, and how many held outcomes they answered
        too late."""
        sid = self._segment(version, window_start, window_end, code)
        segment = self.segments[sid]
        id_list = ids.tolist()
        scores = [None if s != s else s for s in score.tolist()]  # NaN: no score
        rows: list[Row] = list(
            zip(repeat(sid), ts.tolist(), pred.tolist(), scores, repeat(WAITING), strict=False)
        )
        self._fresh.update(zip(id_list, rows, strict=True))
        self._fresh_by_segment.setdefault(sid, []).extend(id_list)
        segment.waiting += len(id_list)
        if not self.held_buckets:
            return None, 0
        found = self._held_of(id_list)
        if not found:
            return None, 0
        return self._answer_held(sid, window_end + self.rules.ttl_ms, id_list, rows, found)

    def _held_of(self, ids: list[str]) -> dict[str, Held]:
        """The outcomes held for these ids and not let go, in memory or stored."""
        held, released = self._held, self.released_until
        # A set operation, not a loop over ids.
        found = {pid: held[pid] for pid in held.keys() & ids if held[pid].until > released}
        if self.held > sum(h.until > released for h in held.values()):  # some are stored
            found.update(self._stored_held(list(filterfalse(held.__contains__, ids)), released))
        return found

    def _answer_held(
        self, sid: int, deadline: int, ids: list[str], rows: list[Row], found: dict[str, Held]
    ) -> tuple[Matches | None, int]:
        """Answer the predictions just added (`ids`, `rows`: distinct, all in `_fresh`) whose
        outcomes were held (`found`), as if one by one in order: an outcome in time (stamped by
        `deadline`, window end + TTL, and read before the outcome watermark passed it plus the
        allowed lateness) joins; one that was not answers its prediction late. Returns the pairs,
        in arrival order, and how many were answered late."""
        segment, rules = self.segments[sid], self.rules
        at = np.flatnonzero(np.fromiter(map(found.__contains__, ids), bool, len(ids)))
        pids = [ids[i] for i in at.tolist()]
        assert len(pids) == len(found), "predictions are added de-duplicated"
        held = [found[pid] for pid in pids]
        self._drop_held(pids, held)
        outcome_ts = np.fromiter(map(attrgetter("timestamp"), held), np.int64, len(held))
        seen_before = np.fromiter(map(attrgetter("seen_before"), held), np.int64, len(held))
        in_time = (outcome_ts <= deadline) & (seen_before < deadline + rules.lateness_ms)
        late = np.flatnonzero(~in_time).tolist()
        for i in late:  # rare: row by row
            self._answer(pids[i], rows[int(at[i])], segment, ANSWERED_LATE)
        joined = np.flatnonzero(in_time)
        if not len(joined):
            return None, len(late)
        order = at[joined]
        pairs = _matches(
            segment,
            rules.numeric,
            order,
            [held[i].outcome for i in joined.tolist()],
            outcome_ts[joined],
            [rows[i] for i in order.tolist()],
        )
        self._join_all(sid, [pids[i] for i in joined.tolist()], [])
        return pairs, len(late)

    def _stored_held(self, ids: list[str], after: int) -> dict[str, Held]:
        """Stored held outcomes of these ids, not met by their prediction, held until past `after`."""
        ask = list(filterfalse(self._held_gone.__contains__, dict.fromkeys(ids)))
        found = self.reader.held(ask) if ask else {}
        return {pid: h for pid, h in found.items() if h.until > after}

    def _hold_until(self, ts: Any) -> Any:
        """Until when an outcome stamped `ts` (an int or an array) is held: its window's end plus the
        allowed lateness."""
        rules = self.rules
        return ts - ts % rules.window_ms + rules.window_ms + rules.lateness_ms

    def _drop_held(self, pids: list[str], held: list[Held]) -> None:
        """Let go of the held outcomes `held` of `pids`, answered by their predictions: those held
        in memory leave it, stored ones (or ones a checkpoint is writing) are marked gone, for the
        next checkpoint to delete; their buckets shrink."""
        in_memory, gone, writing = self._held, self._held_gone, self._flight.held
        for pid in pids:
            if in_memory.pop(pid, None) is None or pid in writing:
                gone.add(pid)
        buckets = self.held_buckets
        for until, n in Counter(map(attrgetter("until"), held)).items():
            left = buckets[until] - n
            if left:
                buckets[until] = left
            else:
                del buckets[until]

    def _answer(self, pid: str, row: Row, segment: Segment, state: int) -> None:
        """Record a prediction's first outcome: its data is no longer needed."""
        if state == JOINED:
            segment.waiting -= 1
            if segment.dedup_dropped:  # past the horizon: the id need not be kept
                self._set(pid, None)
                return
        self._set(pid, (row[SEGMENT], None, None, None, state))

    def _join_all(self, sid: int, in_fresh: list[str], elsewhere: list[str]) -> None:
        """What `_answer(pid, row, segment, JOINED)` does, for many waiting predictions of segment
        `sid` at once: those of `in_fresh` are in `_fresh`, those of `elsewhere` are not."""
        segment = self.segments[sid]
        segment.waiting -= len(in_fresh) + len(elsewhere)
        answer = None if segment.dedup_dropped else (sid, None, None, None, JOINED)
        if answer is None:  # past the horizon: the ids need not be kept
            for pid in in_fresh:
                self._forget_fresh(pid)
        else:
            self._fresh.update(dict.fromkeys(in_fresh, answer))
        self._changed.update(dict.fromkeys(elsewhere, answer))

    def mark_joined(self, pid: str) -> None:
        """Record that `pid` (added, waiting) had its outcome elsewhere: a checkpoint of schema 2."""
        row = self._fresh[pid]
        self._answer(pid, row, self.segments[row[SEGMENT]], JOINED)

    def hold(self, pid: str, timestamp: int, outcome: Any, seen_before: int) -> None:
        """Hold an outcome whose prediction has not come."""
        self._hold_all([pid], np.array([timestamp], np.int64), [outcome], np.array([seen_before], np.int64))

    def _hold_all(
        self, pids: list[str], ts: NDArray[np.int64], outcomes: list[Any], seen_before: NDArray[np.int64]
    ) -> None:
        """Hold outcomes whose predictions have not come, in this order: each until the end of its
        window plus the allowed lateness."""
        until = self._hold_until(ts).tolist()
        self.held_horizon = max([self.held_horizon, *until])
        self._held.update(
            zip(pids, map(Held, ts.tolist(), outcomes, seen_before.tolist(), until), strict=True)
        )
        buckets = self.held_buckets
        for at_until, n in Counter(until).items():
            buckets[at_until] = buckets.get(at_until, 0) + n

    def saw_predictions(self, latest: int) -> None:
        self.watermark = max(self.watermark, latest)

    # ------------------------------------------------------------------ outcomes

    def match(self, ids: list[str], ts: NDArray[np.int64], outcomes: NDArray[Any]) -> JoinOutcome:
        """Join a batch of outcomes, as if row by row in order.

        Rows are independent of each other but for their id: the common row (the first of its id
        in the batch, for a waiting prediction, in time) is decided for all at once, and so is
        the row to hold for an id the join knows nothing of (the first of its id in the batch);
        the others (duplicate, expired, forgotten, a second outcome of an id) then go row by row,
        in order, seeing what those rows changed, as they would have. The outcomes to hold are
        held at the end, in arrival order."""
        rules = self.rules
        times = ts.tolist()
        values = outcomes.tolist()
        before = np.maximum.accumulate(np.concatenate([[self.outcome_watermark], ts[:-1]])).astype(np.int64)
        unique = list(dict.fromkeys(ids))
        stored = self._stored_rows(unique)
        pairs: dict[int, tuple[list[int], list[Row]]] = {}  # per segment: arrival positions, rows
        first = _first_of_id(ids, len(unique))
        common = self._match_common(ids, ts, before, first, stored, pairs) if ids else np.zeros(0, bool)
        rest = ~common
        # Held outcomes (let go or not) of the other ids: each still tells a second outcome of its
        # id is a duplicate until the outcome watermark passes its until plus the read-ahead (none
        # can, and the store is not asked, once that has passed the latest until ever held).
        forgotten = self.outcome_watermark - rules.read_ahead_ms
        stored_held: dict[str, Held] = {}
        if self.held_horizon > forgotten:
            others = [
                pid for pid in map(ids.__getitem__, np.flatnonzero(rest).tolist()) if pid not in self._held
            ]
            stored_held = self._stored_held(others, forgotten)
        unheard = self._unheard_of(ids, rest if first is None else rest & first, stored, stored_held)
        # Outcomes to hold, id -> arrival position, and those a later outcome of their id replaced
        # (its id forgotten in between): all held at the end, in arrival order.
        holding = dict(zip([ids[i] for i in unheard.tolist()], unheard.tolist(), strict=True))
        replaced: list[int] = []
        rest[unheard] = False
        expired = duplicate = 0
        fresh, changed, cache, segments = self._fresh, self._changed, self._cache, self.segments
        for at in np.flatnonzero(rest).tolist():
            pid = ids[at]
            seen_before, t = int(before[at]), int(times[at])
            # self._row(pid, stored), inlined.
            row = fresh.get(pid)
            if row is None:
                row = changed[pid] if pid in changed else (cache.get(pid) or stored.get(pid))
            found = None
            if row is not None:
                segment = segments.get(row[SEGMENT])
                if segment is not None and not (row[STATE] == JOINED and segment.dedup_dropped):
                    found = row, segment
            if found is not None:
                row, segment = found
                end = segment.window_end
                # Forgotten at this outcome's place in the stream (once no prediction of the
                # window can be accepted any more: see expire).
                if self.watermark >= end + rules.lateness_ms and (
                    seen_before >= end + rules.ttl_ms + rules.lateness_ms + rules.dedup_ms
                    or (row[STATE] == JOINED and seen_before >= end + rules.dedup_ms)
                ):
                    found = None
            if found is None:
                if pid in holding:
                    until = self._hold_until(int(times[holding[pid]]))
                else:
                    held = self._held.get(pid) or stored_held.get(pid)
                    until = None if held is None else held.until
                if until is not None and until > seen_before - rules.read_ahead_ms:
                    duplicate += 1
                    continue
                if pid in holding:
                    replaced.append(holding[pid])
                holding[pid] = at
                continue
            row, segment = found
            if row[STATE] != WAITING:
                duplicate += 1
                continue
            deadline = segment.window_end + rules.ttl_ms
            if segment.expired or seen_before >= deadline + rules.lateness_ms or t > deadline:
                expired += 1
                self._answer(pid, row, segment, ANSWERED_LATE)
                continue
            joined_at, joined = pairs.setdefault(row[SEGMENT], ([], []))
            joined_at.append(at)
            joined.append(row)
            self._answer(pid, row, segment, JOINED)
        held_at = sorted([*holding.values(), *replaced])
        if held_at:
            self._hold_all(
                [ids[i] for i in held_at], ts[held_at], [values[i] for i in held_at], before[held_at]
            )
        if times:
            self.outcome_watermark = max(self.outcome_watermark, int(ts.max()))
        return JoinOutcome(self._pairs(pairs, ts, outcomes), expired, duplicate, len(held_at))

    def _unheard_of(
        self,
        ids: list[str],
        candidates: NDArray[np.bool_],
        stored: dict[str, Row],
        stored_held: dict[str, Held],
    ) -> NDArray[np.int64]:
        """The positions of the rows of `match` among `candidates` (not common, the first of their id
        in the batch) whose id the join knows nothing of: no row in any layer (still remembered or
        not), no outcome held in memory or stored. Each is held, whatever the rows before it did
        (they touch their own ids only), so all are found at once with set operations."""
        at = np.flatnonzero(candidates)
        pids = [ids[i] for i in at.tolist()]
        distinct = set(pids)
        known = stored.keys() | stored_held.keys()
        for layer in (self._fresh, self._changed, self._cache, self._held):
            known |= layer.keys() & distinct
        is_known = np.fromiter(map(known.__contains__, pids), bool, len(pids))
        return at[~is_known]

    def _match_common(
        self,
        ids: list[str],
        ts: NDArray[np.int64],
        before: NDArray[np.int64],
        first: NDArray[np.bool_] | None,
        stored: dict[str, Row],
        pairs: dict[int, tuple[list[int], list[Row]]],
    ) -> NDArray[np.bool_]:
        """Join the common rows of `match` at once (adding them to `pairs`); their mask.

        Common: the first outcome of its id in the batch, for a remembered prediction still
        waiting, whose segment has not expired, in time (read before the outcome watermark
        passed window end + TTL + allowed lateness, stamped by window end + TTL). Such a row is
        never forgotten (that needs the outcome watermark past window end + TTL + allowed
        lateness + dedup horizon) and joins; what it changes no other id's row looks at. `first`:
        the mask of the rows first of their id in the batch (None: the ids are distinct)."""
        rules, fresh, n = self.rules, self._fresh, len(ids)
        rows: list[Row] = list(map(fresh.get, ids, repeat(_NO_ROW)))
        in_fresh = np.fromiter(map(is_not, rows, repeat(_NO_ROW)), bool, n)
        if not in_fresh.all() and (self._changed or self._cache or stored):
            for i in np.flatnonzero(~in_fresh).tolist():
                pid = ids[i]
                if pid in self._changed:
                    rows[i] = self._changed[pid] or _NO_ROW
                else:
                    rows[i] = self._cache.get(pid) or stored.get(pid) or _NO_ROW
        sid = np.fromiter(map(itemgetter(SEGMENT), rows), np.int64, n)
        state = np.fromiter(map(itemgetter(STATE), rows), np.int64, n)
        sids, of_row = np.unique(sid, return_inverse=True)
        live = [self.segments.get(s) for s in sids.tolist()]
        usable = np.array([s is not None and not s.expired for s in live], bool)[of_row]
        end = np.array([0 if s is None else s.window_end for s in live], np.int64)[of_row]
        deadline = end + rules.ttl_ms
        common = usable & (state == WAITING) & (before < deadline + rules.lateness_ms) & (ts <= deadline)
        if first is not None:  # a second outcome of an id sees what the first changed: row by row
            common &= first
        for k in np.unique(of_row[common]).tolist():
            at = np.flatnonzero(common & (of_row == k))
            pairs[int(sids[k])] = (at.tolist(), [rows[i] for i in at.tolist()])
            kept = in_fresh[at]
            self._join_all(
                int(sids[k]), [ids[i] for i in at[kept].tolist()], [ids[i] for i in at[~kept].tolist()]
            )
        return common

    def _pairs(
        self, pairs: dict[int, tuple[list[int], list[Row]]], ts: NDArray[np.int64], outcomes: NDArray[Any]
    ) -> list[Matches]:
        """The joined pairs as `Matches`, one per segment in the order of its first pair, each in
        arrival order (the rows joined one by one came after those joined at once)."""
        out = []
        for sid, (joined_at, joined) in sorted(pairs.items(), key=lambda kv: min(kv[1][0])):
            order = np.asarray(joined_at, np.int64)
            rows: Sequence[Row] = joined
            if np.any(order[1:] < order[:-1]):
                arrival = np.argsort(order, kind="stable")
                order, rows = order[arrival], [joined[i] for i in arrival.tolist()]
            out.append(
                _matches(
                    self.segments[sid], self.rules.numeric, order, outcomes[order].tolist(), ts[order], rows
                )
            )
        return out

    # ------------------------------------------------------------------ expiry

    def expire(self) -> Expiry:
        """Move every segment along its life, and let go of held outcomes, as the watermarks say."""
        rules, pred, out = self.rules, self.watermark, self.outcome_watermark
        counts: dict[tuple[str, int], int] = {}
        for sid, segment in list(self.segments.items()):
            end = segment.window_end
            # Ids are forgotten only once the window is closed to predictions, so a replayed
            # prediction is late, never new, however far the outcomes are read ahead.
            closed = pred >= end + rules.lateness_ms
            if (
                not segment.dedup_dropped
                and closed
                and (out >= end + rules.dedup_ms or pred >= end + rules.dedup_ms + rules.read_ahead_ms)
            ):
                segment.dedup_dropped = True
                self._ops.drop_joined.append(sid)
                self._drop_fresh(sid, joined_only=True)
            ttl = end + rules.ttl_ms
            if not segment.expired and (out >= ttl + rules.lateness_ms or pred >= ttl + rules.read_ahead_ms):
                segment.expired = True
                key = (segment.version, segment.window_start)
                counts[key] = counts.get(key, 0) + segment.waiting
            if closed and (
                out >= ttl + rules.lateness_ms + rules.dedup_ms
                or pred >= ttl + rules.read_ahead_ms + rules.dedup_ms
            ):
                del self.segments[sid]
                del self._segment_of[segment.key]
                self._ops.drop_segments.append(sid)
                self._drop_fresh(sid, joined_only=False)
        return Expiry(counts, self._release_held(max(pred, out - rules.read_ahead_ms)))

    def _drop_fresh(self, sid: int, joined_only: bool) -> None:
        for pid in self._fresh_by_segment.get(sid, ()):
            row = self._fresh.get(pid)
            if row is not None and row[SEGMENT] == sid and (row[STATE] == JOINED or not joined_only):
                self._forget_fresh(pid)
        if not joined_only:
            self._fresh_by_segment.pop(sid, None)

    def _release_held(self, boundary: int) -> int:
        """Let go of the held outcomes with until <= `boundary` (counted: their prediction cannot
        come any more), and forget those the outcome watermark has passed by the read-ahead (until
        then they tell a second outcome of their id is a duplicate). Returns how many were let go."""
        due = [until for until in self.held_buckets if until <= boundary]
        released = sum(self.held_buckets.pop(until) for until in due)
        self.released_until = max(self.released_until, boundary)
        forget = self.outcome_watermark - self.rules.read_ahead_ms
        if forget > self._forgotten_until and self.held_horizon > self._forgotten_until:
            self._forgotten_until = forget
            self._held = {pid: h for pid, h in self._held.items() if h.until > forget}
            previous = self._ops.release_held_until
            self._ops.release_held_until = forget if previous is None else max(previous, forget)
        return released

    # ------------------------------------------------------------------ checkpoints

    def delta(self) -> JoinDelta:
        """What changed since the last checkpoint (read it, save it, then call `committed`; the
        join may go on meanwhile)."""
        ops = self._ops
        self._flight = _Flight(
            dict(self._fresh),
            dict(self._changed),
            dict(self._held),
            set(self._held_gone),
            len(ops.drop_segments),
            len(ops.drop_joined),
            ops.release_held_until,
        )
        return JoinDelta(
            drop_segments=list(ops.drop_segments),
            drop_joined=list(ops.drop_joined),
            deleted=[pid for pid, row in self._changed.items() if row is None],
            answered=[
                (pid, row[SEGMENT], row[STATE]) for pid, row in self._changed.items() if row is not None
            ],
            inserted=list(self._fresh.items()),
            release_held_until=ops.release_held_until,
            held_deleted=sorted(self._held_gone),
            held_inserted=list(self._held.items()),
        )

    def committed(self, reader: JoinReader) -> None:
        """The last `delta()` is durable: the store that `reader` reads holds it now. Forget what
        it wrote, except what changed since (that goes in the next one)."""
        if isinstance(self.reader, NoRows):
            self.reader = reader
        flight, self._flight = self._flight, _Flight()
        cache, changed, fresh = self._cache, self._changed, self._fresh
        for pid, row in flight.changed.items():
            if changed.get(pid, _NO_ROW) is row:
                del changed[pid]
                if row is None:
                    cache.pop(pid, None)
                elif pid in cache:
                    cache[pid] = row
        saved = _unchanged(flight.fresh, fresh)
        keep = self.cache_rows
        if len(saved) >= keep:  # only the newest `keep` of them would stay in the cache
            cache.clear()
            cache.update(saved[len(saved) - keep :])
        else:
            cache.update(saved)
            while len(cache) > keep:
                cache.popitem(last=False)
        by_segment: dict[int, list[str]] = {}
        for pid, row in fresh.items():
            by_segment.setdefault(row[SEGMENT], []).append(pid)
        self._fresh_by_segment = by_segment
        for pid, held in flight.held.items():
            if self._held.get(pid) is held:
                del self._held[pid]
        self._held_gone -= flight.held_gone
        ops = self._ops
        del ops.drop_segments[: flight.drop_segments], ops.drop_joined[: flight.drop_joined]
        if ops.release_held_until == flight.release_held_until:
            ops.release_held_until = None

    def to_state(self) -> dict[str, Any]:
        """The small part, stored in the partition's checkpoint row: segments, watermarks, counts."""
        return {
            "watermark": self.watermark,
            "outcome_watermark": self.outcome_watermark,
            "next_segment": self.next_segment,
            "segments": [[sid, *s.to_state()] for sid, s in sorted(self.segments.items())],
            "held": sorted(self.held_buckets.items()),
            "released_until": self.released_until,
            "held_horizon": self.held_horizon,
        }

    def load_state(self, state: dict[str, Any], reader: JoinReader) -> None:
        """Start from a checkpoint: the rows stay in the store, read through `reader`."""
        self.reader = reader
        self.watermark = int(state["watermark"])
        self.outcome_watermark = int(state["outcome_watermark"])
        self.next_segment = int(state["next_segment"])
        self.segments = {int(sid): Segment.from_state(rest) for sid, *rest in state["segments"]}
        self._segment_of = {s.key: sid for sid, s in self.segments.items()}
        self.held_buckets = {int(until): int(n) for until, n in state["held"]}
        self.released_until = int(state["released_until"])
        # Checkpoints from before the horizon was kept hold nothing let go: the buckets say it all.
        self.held_horizon = int(state.get("held_horizon", max([-(2**62), *map(int, self.held_buckets)])))
        self._forgotten_until = -(2**62)
        self._fresh, self._fresh_by_segment, self._changed = {}, {}, {}
        self._held, self._held_gone = {}, set()
        self._ops = JoinDelta()
        self._flight = _Flight()
        self._cache = OrderedDict()
