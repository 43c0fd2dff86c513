"""The join rows any sequence of changes leaves in each embedded store, against a model that applies
each `JoinDelta` at once and in full (`Model`): the stores drop segments lazily, a bounded number of
rows a save (monitor.state.tables and monitor.state.rocks), and must show exactly what the model
shows after every save; once the drops are drained nothing of them is left on disk.
tests/integration/test_state_postgres.py runs the SQL drops on PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.pipeline.join_rows import ANSWERED_LATE, JOINED, SEGMENT, STATE, WAITING, Held, JoinDelta, Row
from monitor.state import rocks as rocks_module
from monitor.state import store as store_module
from monitor.state.store import PartitionCheckpoint, StateStore
from tests.unit.embedded_stores import KINDS, EmbeddedStore, open_embedded, rocks_keys, stored_rows

IDS = [f"p{i}" for i in range(8)]


def join_deltas(text: st.SearchStrategy[str]) -> st.SearchStrategy[JoinDelta]:
    """Any change a checkpoint may hold, of the ids `IDS`, segments 0-3 and predictions and
    outcomes of strings drawn from `text`, numbers or None."""
    values = st.one_of(
        text, st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False), st.none()
    )
    rows = st.tuples(
        st.integers(0, 3),  # segment
        st.one_of(st.none(), st.integers(0, 10**12)),
        values,
        st.one_of(st.none(), st.floats(0, 1)),
        st.sampled_from([WAITING, JOINED, ANSWERED_LATE]),
    )
    helds = st.builds(Held, st.integers(0, 10**6), values, st.integers(0, 10**6), st.integers(0, 20))
    pids = st.sampled_from(IDS)
    return st.builds(
        JoinDelta,
        drop_segments=st.lists(st.integers(0, 3), max_size=2, unique=True),
        drop_joined=st.lists(st.integers(0, 3), max_size=2, unique=True),
        deleted=st.lists(pids, max_size=3, unique=True),
        answered=st.lists(
            st.tuples(pids, st.integers(0, 3), st.sampled_from([JOINED, ANSWERED_LATE])),
            max_size=3,
            unique_by=lambda a: a[0],
        ),
        inserted=st.lists(st.tuples(pids, rows), max_size=5, unique_by=lambda r: r[0]),
        release_held_until=st.one_of(st.none(), st.integers(0, 20)),
        held_deleted=st.lists(pids, max_size=2, unique=True),
        held_inserted=st.lists(st.tuples(pids, helds), max_size=3, unique_by=lambda h: h[0]),
    )


@dataclasses.dataclass
class Model:
    """What a store must show: each delta applied in full, in JoinDelta's order; predictions and
    outcomes as the store gives them back (`stored_as`)."""

    stored_as: Callable[[Any], Any] = lambda value: value
    rows: dict[str, Row] = dataclasses.field(default_factory=dict)
    held: dict[str, Held] = dataclasses.field(default_factory=dict)

    def apply(self, delta: JoinDelta) -> None:
        def dropped(row: Row) -> bool:
            segment = row[SEGMENT]
            return segment in delta.drop_segments or (segment in delta.drop_joined and row[STATE] == JOINED)

        self.rows = {pid: row for pid, row in self.rows.items() if not dropped(row)}
        for pid in delta.deleted:
            self.rows.pop(pid, None)
        for pid, segment, state in delta.answered:
            if pid in self.rows:
                self.rows[pid] = (segment, None, None, None, state)
        self.rows.update((pid, (*row[:2], self.stored_as(row[2]), *row[3:])) for pid, row in delta.inserted)
        if delta.release_held_until is not None:
            self.held = {p: h for p, h in self.held.items() if h.until > delta.release_held_until}
        for pid in delta.held_deleted:
            self.held.pop(pid, None)
        self.held.update(
            (pid, held._replace(outcome=self.stored_as(held.outcome))) for pid, held in delta.held_inserted
        )


def as_the_join_writes(
    delta: JoinDelta, stored: dict[str, Row], dropped: set[int], joined_dropped: set[int]
) -> JoinDelta:
    """`delta` as the join writes it (JoinDelta's promise to the stores): no row into a segment it
    has dropped, no joined row into one whose joined rows it has dropped, answers only to rows the
    store holds as waiting, under their segment. An answer may still come with its row's segment
    dropped by the same delta (the answer came first). `stored`: the rows before it; the sets: the
    segments dropped before it, updated with its own drops."""
    dropped.update(delta.drop_segments)
    joined_dropped.update(delta.drop_joined)

    def kept(segment: int, state: int) -> bool:
        return segment not in dropped and not (state == JOINED and segment in joined_dropped)

    inserted = [(pid, row) for pid, row in delta.inserted if kept(row[SEGMENT], row[STATE])]
    answered = [
        (pid, stored[pid][SEGMENT], state)
        for pid, _, state in delta.answered
        if pid in stored
        and stored[pid][STATE] == WAITING  # an outcome answers a waiting prediction, once
        and pid not in delta.deleted
        and (stored[pid][SEGMENT] in delta.drop_segments or kept(stored[pid][SEGMENT], state))
    ]
    return dataclasses.replace(delta, inserted=inserted, answered=answered)


def save(store: StateStore, delta: JoinDelta, generation: int, group: str = "g") -> None:
    store.save(group, [PartitionCheckpoint(0, {"in": generation}, b"m", {}, {"m": delta})])


def check_sequence(
    store: StateStore, steps: list[JoinDelta], group: str = "g", model: Model | None = None
) -> None:
    """Save `steps` (less what the join never writes) and check the store shows what `model` does
    after each; then drop everything and drain the drops (DRAIN_MIN patched small)."""
    model = model or Model()
    dropped: set[int] = set()
    joined_dropped: set[int] = set()
    for generation, raw in enumerate(steps, 1):
        delta = as_the_join_writes(raw, model.rows, dropped, joined_dropped)
        save(store, delta, generation, group)
        model.apply(delta)
        reader = store.join_reader(group, 0, "m")
        assert reader.rows(IDS) == model.rows
        assert reader.held(IDS) == model.held
    # Dropping every segment and releasing everything leaves nothing once the drops are drained.
    final = JoinDelta(drop_segments=[0, 1, 2, 3], release_held_until=20, held_deleted=IDS)
    generation = len(steps) + 1
    save(store, final, generation, group)
    assert store.join_reader(group, 0, "m").rows(IDS) == {}
    for _ in range(len(IDS) * len(steps)):  # 2 rows a save: at most this many saves
        generation += 1
        save(store, JoinDelta(), generation, group)


def leftovers(store: EmbeddedStore) -> list[object]:
    """What a store keeps on disk of join rows and held outcomes, past its interface."""
    if isinstance(store, rocks_module.RocksStateStore):
        return [rocks_keys(store, tag) for tag in (b"R", b"I", b"H", b"U", b"D")]
    conn = store._conn
    return [
        stored_rows(store),
        conn.execute("SELECT * FROM driftline_join_held").fetchall(),
        conn.execute("SELECT * FROM driftline_join_drops").fetchall(),
    ]


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=60, deadline=None)
@given(steps=st.lists(join_deltas(st.text(max_size=6)), min_size=1, max_size=8))
def test_any_sequence_of_join_changes_shows_what_the_model_shows(
    kind: str, tmp_path_factory: pytest.TempPathFactory, steps: list[JoinDelta]
) -> None:
    store = open_embedded(kind, tmp_path_factory.mktemp(kind) / "store")
    with mock.patch.object(store_module, "DRAIN_MIN", 2):
        try:
            check_sequence(store, steps)
            # No row, no index entry (those of rows deleted one by one or moved included) is left.
            assert all(not found for found in leftovers(store)), leftovers(store)
        finally:
            store.close()


def test_sqlite_hides_dropped_rows_at_once_and_deletes_them_over_the_following_saves(tmp_path: Path) -> None:
    ids = [f"p{i:02d}" for i in range(30)]
    # Rows in three generations of ten, every third joined.
    rows = [(pid, (1, 10, "x", 0.5, JOINED if i % 3 == 0 else WAITING)) for i, pid in enumerate(ids)]
    store = open_embedded("sqlite", tmp_path / "s.db")
    waiting = {pid for pid, row in rows if row[STATE] == WAITING}
    with mock.patch.object(store_module, "DRAIN_MIN", 12):
        for generation in range(3):
            save(store, JoinDelta(inserted=rows[10 * generation : 10 * generation + 10]), generation + 1)
        save(store, JoinDelta(drop_joined=[1]), 4)
        assert set(store.join_reader("g", 0, "m").rows(ids)) == waiting, "hidden at once"
        # A budget of 12 rows reaches into the second generation: only the first one's go this save.
        assert set(stored_rows(store)) == waiting | {"p12", "p15", "p18", "p21", "p24", "p27"}
        store.close()  # the drop goes on after a restart, from where it got
        store = open_embedded("sqlite", tmp_path / "s.db")
        save(store, JoinDelta(), 5)
        assert set(stored_rows(store)) == waiting | {"p21", "p24", "p27"}
        save(store, JoinDelta(), 6)
        assert set(stored_rows(store)) == waiting
        assert store._conn.execute("SELECT * FROM driftline_join_drops").fetchall() == []
        # Dropping the whole segment hides the rest at once, then deletes it.
        save(store, JoinDelta(drop_segments=[1]), 7)
        assert store.join_reader("g", 0, "m").rows(ids) == {}
        assert len(stored_rows(store)) == len(waiting) - 6, "the first generation's 6 waiting rows went"
        for generation in range(8, 10):
            save(store, JoinDelta(), generation)
        assert stored_rows(store) == {}
        assert store._conn.execute("SELECT * FROM driftline_join_drops").fetchall() == []
    store.close()
