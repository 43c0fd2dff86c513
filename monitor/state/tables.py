"""The statements both backends run on the row-level state (schema 3), over a DB-API cursor:
saving a partition's checkpoint (offsets, meta, changed windows, join row changes) in the caller's
transaction, reading partitions back, and looking join rows up by prediction id.

Dropped segments (schema 4): a drop writes a marker row (the segment, whether only its joined rows
go, and how far the deletes got, by generation) that hides the rows from look-ups at once; each
save of the partition then deletes a bounded number of them (`drain_budget` in
monitor.state.store), oldest generations first, and removes the marker once the segment is done.
Deleting a dropped hour of a model at 1,000 predictions/s in one save (3.6M rows) stalled the
service for minutes (tests/benchmarks/README.md). It leans on what `JoinDelta` promises: segment
numbers are never reused, and no row is written into a dropped segment (nor a joined row into one
whose joined rows were dropped).

Statements are written with `?` placeholders; PostgreSQL's are `%s` (`Sql.mark`). What differs
between the backends beyond that (DDL, how values travel) stays in their modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from monitor.pipeline.join_rows import PREDICTION, SCORE, SEGMENT, STATE, TIMESTAMP, Held, JoinDelta, Row
from monitor.state.store import (
    CHECKPOINT_TABLE,
    JOIN_DROPS_TABLE,
    JOIN_HELD_TABLE,
    JOIN_ROWS_TABLE,
    JOIN_STREAMS_TABLE,
    WINDOWS_TABLE,
    PartitionCheckpoint,
    StoredPartition,
    WindowKey,
    decode_offsets,
    drain_budget,
    encode_offsets,
)

CHUNK = 500  # ids per IN (...) look-up: well under SQLite's variable limit

Cursor = Any  # sqlite3.Cursor or psycopg.Cursor: execute, executemany, fetchone, fetchall
T = TypeVar("T")
Run = Callable[[Callable[[Cursor], Any]], Any]  # runs a function on a cursor of the store's connection

# Rows of a dropped segment not deleted yet: not there for a look-up, and not updated.
_NOT_DROPPED = (
    f" AND NOT EXISTS (SELECT 1 FROM {JOIN_DROPS_TABLE} d WHERE d.sid = {JOIN_ROWS_TABLE}.sid "
    f"AND d.seg = {JOIN_ROWS_TABLE}.seg AND (d.joined_only = 0 OR {JOIN_ROWS_TABLE}.state = 1))"
)


@dataclass(frozen=True)
class Sql:
    mark: str  # "?" (SQLite) or "%s" (PostgreSQL)
    value: Callable[[Any], Any]  # how a prediction or outcome value is stored

    def __call__(self, text: str) -> str:
        return text if self.mark == "?" else text.replace("?", self.mark)


def save_partition(cur: Cursor, q: Sql, group: str, checkpoint: PartitionCheckpoint) -> None:
    """Write one partition's checkpoint inside the caller's transaction."""
    cur.execute(
        q(
            f"INSERT INTO {CHECKPOINT_TABLE} (grp, partition, offsets, windows, join_buffer, generation) "
            "VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (grp, partition) DO UPDATE SET "
            "offsets = excluded.offsets, windows = excluded.windows, "
            f"generation = {CHECKPOINT_TABLE}.generation + 1 RETURNING generation"
        ),
        (group, checkpoint.partition, encode_offsets(checkpoint.offsets), bytes(checkpoint.meta), b""),
    )
    generation = int(cur.fetchone()[0])
    key = (group, checkpoint.partition)
    gone = [(*key, *w) for w, blob in checkpoint.windows.items() if blob is None]
    if gone:
        cur.executemany(
            q(
                f"DELETE FROM {WINDOWS_TABLE} "
                "WHERE grp = ? AND partition = ? AND model = ? AND version = ? AND start = ?"
            ),
            gone,
        )
    changed = [
        (*key, *w, generation, bytes(blob)) for w, blob in checkpoint.windows.items() if blob is not None
    ]
    if changed:
        cur.executemany(
            q(
                f"INSERT INTO {WINDOWS_TABLE} (grp, partition, model, version, start, seq, state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (grp, partition, model, version, start) "
                "DO UPDATE SET seq = excluded.seq, state = excluded.state"
            ),
            changed,
        )
    inserted = 0
    for model, delta in sorted(checkpoint.joins.items()):
        if len(delta):
            _save_join(cur, q, _stream_id(cur, q, group, checkpoint.partition, model), delta, generation)
            inserted += len(delta.inserted)
    _drain(cur, q, group, checkpoint.partition, drain_budget(inserted))


def _stream_id(cur: Cursor, q: Sql, group: str, partition: int, model: str) -> int:
    cur.execute(
        q(
            f"INSERT INTO {JOIN_STREAMS_TABLE} (grp, partition, model) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING"
        ),
        (group, partition, model),
    )
    found = find_stream_id(cur, q, group, partition, model)
    assert found is not None  # inserted just now if it was not there
    return found


def find_stream_id(cur: Cursor, q: Sql, group: str, partition: int, model: str) -> int | None:
    cur.execute(
        q(f"SELECT sid FROM {JOIN_STREAMS_TABLE} WHERE grp = ? AND partition = ? AND model = ?"),
        (group, partition, model),
    )
    row = cur.fetchone()
    return None if row is None else int(row[0])


def _save_join(cur: Cursor, q: Sql, sid: int, delta: JoinDelta, generation: int) -> None:
    """Row operations in key order: each b-tree page they touch is visited once, in order."""
    rows, held, drops = JOIN_ROWS_TABLE, JOIN_HELD_TABLE, JOIN_DROPS_TABLE
    marks = [(sid, s, 0) for s in delta.drop_segments] + [(sid, s, 1) for s in delta.drop_joined]
    if marks:
        # A segment whose joined rows were being dropped and is now dropped whole starts over.
        cur.executemany(
            q(
                f"INSERT INTO {drops} (sid, seg, joined_only, next_gen) VALUES (?, ?, ?, 0) "
                "ON CONFLICT (sid, seg) DO UPDATE SET "
                f"joined_only = {drops}.joined_only * excluded.joined_only, "
                f"next_gen = {drops}.next_gen * excluded.joined_only"
            ),
            marks,
        )
    if delta.deleted:
        cur.executemany(
            q(f"DELETE FROM {rows} WHERE sid = ? AND pid = ?"), [(sid, pid) for pid in sorted(delta.deleted)]
        )
    if delta.answered:
        cur.executemany(
            q(
                f"UPDATE {rows} SET state = ?, ts = NULL, prediction = NULL, score = NULL "
                f"WHERE sid = ? AND pid = ?{_NOT_DROPPED}"  # a dropped row stays gone
            ),
            [(state, sid, pid) for pid, _, state in sorted(delta.answered)],
        )
    if delta.inserted:
        value = q.value
        cur.executemany(
            q(
                f"INSERT INTO {rows} (sid, pid, seg, gen, ts, prediction, score, state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (sid, pid) DO UPDATE SET seg = excluded.seg, gen = excluded.gen, "
                "ts = excluded.ts, "
                "prediction = excluded.prediction, score = excluded.score, state = excluded.state"
            ),
            [
                (sid, pid, r[SEGMENT], generation, r[TIMESTAMP], value(r[PREDICTION]), r[SCORE], r[STATE])
                for pid, r in sorted(delta.inserted)
            ],
        )
    if delta.release_held_until is not None:
        cur.execute(
            q(f"DELETE FROM {held} WHERE sid = ? AND hold_until <= ?"), (sid, delta.release_held_until)
        )
    if delta.held_deleted:
        cur.executemany(
            q(f"DELETE FROM {held} WHERE sid = ? AND pid = ?"), [(sid, pid) for pid in delta.held_deleted]
        )
    if delta.held_inserted:
        cur.executemany(
            q(
                f"INSERT INTO {held} (sid, pid, ts, outcome, seen_before, hold_until) "
                "VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (sid, pid) DO UPDATE SET ts = excluded.ts, outcome = excluded.outcome, "
                "seen_before = excluded.seen_before, hold_until = excluded.hold_until"
            ),
            [
                (sid, pid, h.timestamp, q.value(h.outcome), h.seen_before, h.until)
                for pid, h in delta.held_inserted
            ],
        )


def _drain(cur: Cursor, q: Sql, group: str, partition: int, budget: int) -> None:
    """Delete the rows of the partition's dropped segments, about `budget` of them (whole
    generations: one generation of one segment is at most one save's inserts)."""
    cur.execute(
        q(
            f"SELECT d.sid, d.seg, d.joined_only, d.next_gen FROM {JOIN_DROPS_TABLE} d "
            f"JOIN {JOIN_STREAMS_TABLE} s ON s.sid = d.sid WHERE s.grp = ? AND s.partition = ? "
            "ORDER BY d.sid, d.seg"
        ),
        (group, partition),
    )
    for sid, seg, joined_only, next_gen in cur.fetchall():
        if budget <= 0:
            return
        where = "sid = ? AND seg = ? AND gen >= ?"
        joined = " AND state = 1" if joined_only else ""
        cur.execute(
            q(f"SELECT gen FROM {JOIN_ROWS_TABLE} WHERE {where} ORDER BY gen LIMIT ?"),
            (sid, seg, next_gen, budget + 1),
        )
        gens = [int(g) for (g,) in cur.fetchall()]
        if len(gens) > budget:  # more than the budget left: the generations before the last seen
            until = gens[-1] + 1 if gens[0] == gens[-1] else gens[-1]
            cur.execute(
                q(f"DELETE FROM {JOIN_ROWS_TABLE} WHERE {where} AND gen < ?{joined}"),
                (sid, seg, next_gen, until),
            )
            cur.execute(
                q(f"UPDATE {JOIN_DROPS_TABLE} SET next_gen = ? WHERE sid = ? AND seg = ?"), (until, sid, seg)
            )
            return
        cur.execute(q(f"DELETE FROM {JOIN_ROWS_TABLE} WHERE {where}{joined}"), (sid, seg, next_gen))
        cur.execute(q(f"DELETE FROM {JOIN_DROPS_TABLE} WHERE sid = ? AND seg = ?"), (sid, seg))
        budget -= len(gens)


def load_partitions(
    cur: Cursor, q: Sql, group: str, partitions: Iterable[int] | None, seen: Mapping[int, int]
) -> dict[int, StoredPartition]:
    """Checkpoints of `partitions` (None: every one of the group) with their windows written after
    generation `seen.get(partition, 0)`."""
    cur.execute(
        q(
            f"SELECT partition, offsets, windows, generation, join_buffer FROM {CHECKPOINT_TABLE} "
            "WHERE grp = ?"
        ),
        (group,),
    )
    wanted = None if partitions is None else set(partitions)
    heads = [r for r in cur.fetchall() if wanted is None or int(r[0]) in wanted]
    out: dict[int, StoredPartition] = {}
    for partition, offsets, meta, generation, legacy in heads:
        p = int(partition)
        since = seen.get(p, 0)
        windows: dict[WindowKey, bytes] = {}
        if since < int(generation):
            cur.execute(
                q(
                    f"SELECT model, version, start, state FROM {WINDOWS_TABLE} "
                    "WHERE grp = ? AND partition = ? AND seq > ?"
                ),
                (group, p, since),
            )
            windows = {(str(m), str(v), int(s)): bytes(blob) for m, v, s, blob in cur.fetchall()}
        out[p] = StoredPartition(
            p, decode_offsets(offsets, group, p), bytes(meta), int(generation), windows, bytes(legacy)
        )
    return out


def _of_ids(
    cur: Cursor, q: Sql, columns: str, table: str, sid: int, ids: Sequence[str], also: str = ""
) -> Iterator[Any]:
    """`columns` of the rows of stream `sid` with these prediction ids (and the condition `also`),
    CHUNK ids per query."""
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i : i + CHUNK]
        marks = ", ".join("?" * len(chunk))
        cur.execute(
            q(f"SELECT {columns} FROM {table} WHERE sid = ? AND pid IN ({marks}){also}"), (sid, *chunk)
        )
        yield from cur.fetchall()


def read_rows(cur: Cursor, q: Sql, sid: int, ids: Sequence[str]) -> dict[str, Row]:
    columns = "pid, seg, ts, prediction, score, state"
    found = _of_ids(cur, q, columns, JOIN_ROWS_TABLE, sid, ids, _NOT_DROPPED)
    return {
        pid: (int(seg), None if ts is None else int(ts), prediction, score, int(state))
        for pid, seg, ts, prediction, score, state in found
    }


def read_held(cur: Cursor, q: Sql, sid: int, ids: Sequence[str]) -> dict[str, Held]:
    columns = "pid, ts, outcome, seen_before, hold_until"
    return {
        pid: Held(int(ts), outcome, int(seen_before), int(until))
        for pid, ts, outcome, seen_before, until in _of_ids(cur, q, columns, JOIN_HELD_TABLE, sid, ids)
    }


class StoredJoin:
    """`JoinReader` of one (group, partition, model) over a store's connection (`run`)."""

    def __init__(self, run: Run, q: Sql, group: str, partition: int, model: str) -> None:
        self._run, self._q = run, q
        self._key = (group, partition, model)
        self._sid: int | None = None  # known once a checkpoint has written the model's rows

    def _stream(self) -> int | None:
        if self._sid is None:
            self._sid = self._run(lambda cur: find_stream_id(cur, self._q, *self._key))
        return self._sid

    def rows(self, ids: Sequence[str]) -> dict[str, Row]:
        sid = self._stream()
        if sid is None or not ids:
            return {}
        found: dict[str, Row] = self._run(lambda cur: read_rows(cur, self._q, sid, ids))
        return found

    def held(self, ids: Sequence[str]) -> dict[str, Held]:
        sid = self._stream()
        if sid is None or not ids:
            return {}
        found: dict[str, Held] = self._run(lambda cur: read_held(cur, self._q, sid, ids))
        return found
