"""The statements both backends run on the row-level state (schema 3), over a DB-API cursor:
saving a partition's checkpoint (offsets, meta, changed windows, join row changes) in the caller's
transaction, reading partitions back, and looking join rows up by prediction id.

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
    JOIN_HELD_TABLE,
    JOIN_ROWS_TABLE,
    JOIN_STREAMS_TABLE,
    WINDOWS_TABLE,
    PartitionCheckpoint,
    StoredPartition,
    WindowKey,
    decode_offsets,
    encode_offsets,
)

CHUNK = 500  # ids per IN (...) look-up: well under SQLite's variable limit

Cursor = Any  # sqlite3.Cursor or psycopg.Cursor: execute, executemany, fetchone, fetchall
T = TypeVar("T")
Run = Callable[[Callable[[Cursor], Any]], Any]  # runs a function on a cursor of the store's connection


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
    for model, delta in sorted(checkpoint.joins.items()):
        if len(delta):
            _save_join(cur, q, _stream_id(cur, q, group, checkpoint.partition, model), delta, generation)


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
    rows, held = JOIN_ROWS_TABLE, JOIN_HELD_TABLE
    if delta.drop_segments:
        cur.executemany(
            q(f"DELETE FROM {rows} WHERE sid = ? AND seg = ?"), [(sid, s) for s in delta.drop_segments]
        )
    if delta.drop_joined:
        cur.executemany(
            q(f"DELETE FROM {rows} WHERE sid = ? AND seg = ? AND state = 1"),
            [(sid, s) for s in delta.drop_joined],
        )
    if delta.deleted:
        cur.executemany(
            q(f"DELETE FROM {rows} WHERE sid = ? AND pid = ?"), [(sid, pid) for pid in sorted(delta.deleted)]
        )
    if delta.answered:
        cur.executemany(
            q(
                f"UPDATE {rows} SET state = ?, ts = NULL, prediction = NULL, score = NULL "
                "WHERE sid = ? AND pid = ?"
            ),
            [(state, sid, pid) for pid, state in sorted(delta.answered)],
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


def _of_ids(cur: Cursor, q: Sql, columns: str, table: str, sid: int, ids: Sequence[str]) -> Iterator[Any]:
    """`columns` of the rows of stream `sid` with these prediction ids, CHUNK ids per query."""
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i : i + CHUNK]
        marks = ", ".join("?" * len(chunk))
        cur.execute(q(f"SELECT {columns} FROM {table} WHERE sid = ? AND pid IN ({marks})"), (sid, *chunk))
        yield from cur.fetchall()


def read_rows(cur: Cursor, q: Sql, sid: int, ids: Sequence[str]) -> dict[str, Row]:
    columns = "pid, seg, ts, prediction, score, state"
    return {
        pid: (int(seg), None if ts is None else int(ts), prediction, score, int(state))
        for pid, seg, ts, prediction, score, state in _of_ids(cur, q, columns, JOIN_ROWS_TABLE, sid, ids)
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
