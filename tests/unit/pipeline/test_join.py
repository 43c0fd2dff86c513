"""The join's rule case by case, in memory and with its rows in a real store (SQLite and RocksDB)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from monitor.pipeline.join import NO_SEGMENT, JoinBuffer, JoinRules, Matches
from monitor.pipeline.join_rows import JoinDelta
from monitor.state.rocks import RocksStateStore
from monitor.state.store import PartitionCheckpoint
from tests.unit.embedded_stores import KINDS, EmbeddedStore, open_embedded, rocks_keys, stored_rows

H = 3_600_000
M = 60_000
RULES = JoinRules(ttl_ms=6 * H, lateness_ms=M, window_ms=H, dedup_ms=2 * H, read_ahead_ms=H, numeric=False)


def _predictions(
    buf: JoinBuffer, ids: list[str], start: int = 0, ts: int = 0, version: str = "1"
) -> tuple[Matches | None, int]:
    """Add predictions of window [start, start + 1 h); returns what `JoinBuffer.add` does: the pairs
    they form with held outcomes, and how many held outcomes they answered late."""
    n = len(ids)
    got = buf.add(
        version,
        start,
        start + H,
        np.asarray(ids, dtype=object),
        np.full(n, ts, np.int64),
        np.array([f"y{pid}" for pid in ids], dtype=object),
        np.array([sum(map(ord, pid)) % 100 / 100 for pid in ids]),  # a score of its own
    )
    buf.saw_predictions(ts)
    return got


def _add(buf: JoinBuffer, ids: list[str], start: int = 0, ts: int = 0, version: str = "1") -> int:
    """Add predictions of window [start, start + 1 h); returns how many held outcomes they joined."""
    matched, _ = _predictions(buf, ids, start, ts, version)
    return 0 if matched is None else len(matched.order)


def _outcomes(buf: JoinBuffer, ids: list[str], ts: int) -> tuple[int, int, int, int]:
    """(joined, expired, duplicate, held) of a batch of outcomes at time `ts`."""
    got = buf.match(ids, np.full(len(ids), ts, np.int64), np.array(["0"] * len(ids), dtype=object))
    return sum(len(m.order) for m in got.matches), got.expired, got.duplicate, got.held


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmbeddedStore]:
    opened = open_embedded(request.param, tmp_path / "state.db")
    yield opened
    opened.close()


def _checkpoint(buf: JoinBuffer, store: EmbeddedStore) -> None:
    store.save("g", [PartitionCheckpoint(0, {}, b"{}", {}, {"m": buf.delta()})])
    buf.committed(store.join_reader("g", 0, "m"))


def test_an_outcome_joins_its_prediction_once_and_later_ones_are_duplicates() -> None:
    buf = JoinBuffer(RULES)
    _add(buf, ["a", "b", "c"])
    assert _outcomes(buf, ["b", "zz", "b"], 10) == (1, 0, 1, 1)
    assert _outcomes(buf, ["b"], 11) == (0, 0, 1, 0)
    assert len(buf) == 2
    assert buf.new_ids(["a", "d", "d", "b"]).tolist() == [False, True, False, False]


def test_an_outcome_that_comes_first_joins_its_prediction_when_it_comes() -> None:
    buf = JoinBuffer(RULES)
    assert _outcomes(buf, ["late-pred", "late-pred"], 50) == (0, 0, 1, 1)
    assert _add(buf, ["x", "late-pred"], ts=20) == 1
    assert len(buf) == 1 and buf.held == 0


def test_held_outcomes_are_let_go_when_their_prediction_can_no_longer_come() -> None:
    buf = JoinBuffer(RULES)
    _outcomes(buf, ["nobody"], 10)  # held until predictions pass 1 h + lateness
    _add(buf, ["c"], start=0, ts=H)
    assert buf.expire().unknown_outcomes == 0
    _add(buf, ["d"], start=H, ts=H + M)
    assert buf.expire().unknown_outcomes == 1 and buf.held == 0


def test_a_let_go_outcome_still_makes_a_second_one_a_duplicate_until_the_read_ahead(
    store: EmbeddedStore,
) -> None:
    """Counted unknown once the predictions passed it, a held outcome's id is remembered until the
    outcome watermark passes its until (1 h + lateness) plus the read-ahead (1 h), in memory and
    stored: a second outcome until then is a duplicate, as it would be had the predictions been
    read later; after that it is held again."""
    buf = JoinBuffer(RULES)
    assert _outcomes(buf, ["x"], 10)[3] == 1
    _add(buf, ["c"], start=H, ts=H + M)
    assert buf.expire().unknown_outcomes == 1 and buf.held == 0
    assert _outcomes(buf, ["x"], 20) == (0, 0, 1, 0), "remembered in memory"
    _checkpoint(buf, store)
    assert _outcomes(buf, ["x"], 2 * H + M) == (0, 0, 1, 0), "and stored, up to until + read-ahead"
    assert buf.expire().unknown_outcomes == 0
    _checkpoint(buf, store)
    assert _outcomes(buf, ["other"], 2 * H + M + 1)[3] == 1  # the outcome watermark passes it
    buf.expire()
    _checkpoint(buf, store)
    assert set(store.join_reader("g", 0, "m").held(["x", "other"])) == {"other"}, "deleted"
    assert _outcomes(buf, ["x"], 2 * H + M + 2) == (0, 0, 0, 1), "forgotten: held again"
    assert [pid for pid, _ in buf.delta().held_inserted] == ["x"]


def test_predictions_expire_by_the_outcome_watermark_and_late_outcomes_count_expired() -> None:
    buf = JoinBuffer(RULES)
    _add(buf, ["a", "b", "c"])
    assert _outcomes(buf, ["a"], 100) == (1, 0, 0, 0)
    # An outcome past window end + TTL answers, too late: counted expired, its prediction waits on.
    assert _outcomes(buf, ["c"], H + 6 * H + 1) == (0, 1, 0, 0)
    assert buf.expire().predictions == {}  # the outcome watermark is not past end + TTL + lateness
    assert _outcomes(buf, ["zz"], 7 * H + M) == (0, 0, 0, 1)
    assert buf.expire().predictions == {("1", 0): 2}  # b and c, once
    assert buf.expire().predictions == {}
    assert _outcomes(buf, ["b", "c"], 7 * H + M) == (0, 1, 1, 0)  # b expired, c had its answer
    assert len(buf) == 0


def test_predictions_of_a_model_without_outcomes_expire_by_the_prediction_watermark() -> None:
    buf = JoinBuffer(RULES)
    _add(buf, ["a"])
    _add(buf, ["b"], start=8 * H - H, ts=8 * H - 1)  # 1 h + 6 h TTL + 1 h read-ahead - 1 ms
    assert buf.expire().predictions == {}
    _add(buf, ["c"], start=8 * H, ts=8 * H)
    assert buf.expire().predictions == {("1", 0): 1}


def test_joined_ids_are_forgotten_after_the_dedup_horizon_and_all_ids_after_ttl_plus_it() -> None:
    buf = JoinBuffer(RULES)
    _add(buf, ["a", "b", "c"])
    _outcomes(buf, ["a"], 10)
    _outcomes(buf, ["x"], 3 * H)  # outcome watermark past window end + 2 h horizon
    buf.expire()
    # Not while the window is open to predictions: a replay of a would be counted again.
    assert _outcomes(buf, ["a"], 3 * H) == (0, 0, 1, 0)
    _add(buf, ["z"], start=H, ts=H + M)  # closes window 0
    buf.expire()
    assert _outcomes(buf, ["a"], 3 * H) == (0, 0, 0, 1)  # forgotten: held, as if unknown
    assert _outcomes(buf, ["b"], 3 * H) == (1, 0, 0, 0)  # joined past the horizon: not kept
    assert _outcomes(buf, ["b"], 3 * H) == (0, 0, 0, 1)
    _outcomes(buf, ["x"], H + 6 * H + M + 2 * H)
    assert buf.expire().predictions == {("1", 0): 1, ("1", H): 1}  # c, and z
    assert 0 not in buf.segments  # and every id of window 0 is forgotten
    assert buf.new_ids(["c"]).tolist() == [True]


def test_checkpointed_rows_are_read_back_from_the_store(store: EmbeddedStore) -> None:
    buf = JoinBuffer(RULES, cache_rows=0)
    _add(buf, ["a", "b", "c", "d"])
    _outcomes(buf, ["early"], 5)
    _checkpoint(buf, store)
    assert buf.new_ids(["a", "e"]).tolist() == [False, True]  # from the store: the cache is off
    assert _outcomes(buf, ["a"], 10) == (1, 0, 0, 0)
    _checkpoint(buf, store)  # a is joined in the store now
    assert _outcomes(buf, ["a"], 11) == (0, 0, 1, 0)
    assert _add(buf, ["early"], ts=3) == 1  # the held outcome, read from the store
    _checkpoint(buf, store)
    assert _outcomes(buf, ["early"], 12) == (0, 0, 1, 0)

    restarted = JoinBuffer(RULES, cache_rows=0)
    restarted.load_state(buf.to_state(), store.join_reader("g", 0, "m"))
    assert _outcomes(restarted, ["a", "early", "b"], 13) == (1, 0, 2, 0)
    assert len(restarted) == 2  # c and d


def test_the_cache_is_bounded_and_forgets_the_oldest(store: EmbeddedStore) -> None:
    buf = JoinBuffer(RULES, cache_rows=2)
    _add(buf, ["a", "b", "c"])
    _checkpoint(buf, store)
    assert list(buf._cache) == ["b", "c"]
    assert _outcomes(buf, ["a", "c"], 10) == (2, 0, 0, 0)  # a from the store, c from the cache


def test_dropped_segments_leave_the_store(store: EmbeddedStore) -> None:
    buf = JoinBuffer(RULES, cache_rows=0)
    _add(buf, ["a", "b"])
    _outcomes(buf, ["a"], 10)
    _checkpoint(buf, store)
    _add(buf, ["c"], start=12 * H, ts=12 * H)
    _outcomes(buf, ["c"], 12 * H)
    buf.expire()
    _checkpoint(buf, store)
    assert set(stored_rows(store)) == {"c"}
    if isinstance(store, RocksStateStore):  # and their segment index entries with them
        assert [key[-1:] for key in rocks_keys(store, b"I")] == [b"c"]


def _save(buf: JoinBuffer, delta: JoinDelta, store: EmbeddedStore) -> None:
    store.save("g", [PartitionCheckpoint(0, {}, b"{}", {}, {"m": delta})])


def test_a_row_joined_while_its_checkpoint_is_saved_is_written_again(store: EmbeddedStore) -> None:
    # The checkpoint wrote a as waiting; a was joined meanwhile: committed() keeps that change, so
    # a second outcome is a duplicate and the next checkpoint stores a as joined.
    buf = JoinBuffer(RULES, cache_rows=0)
    _add(buf, ["a", "b"])
    delta = buf.delta()
    assert _outcomes(buf, ["a"], 10) == (1, 0, 0, 0)  # while the checkpoint is being saved
    _save(buf, delta, store)
    buf.committed(store.join_reader("g", 0, "m"))
    assert stored_rows(store) == {"a": 0, "b": 0}
    assert _outcomes(buf, ["a"], 11) == (0, 0, 1, 0)
    _checkpoint(buf, store)
    assert stored_rows(store) == {"a": 1, "b": 0}
    _add(buf, ["c"])  # added after the delta was taken: kept for the next checkpoint, not lost
    delta = buf.delta()
    _add(buf, ["d"])
    _save(buf, delta, store)
    buf.committed(store.join_reader("g", 0, "m"))
    _checkpoint(buf, store)
    assert stored_rows(store) == {"a": 1, "b": 0, "c": 0, "d": 0}


def test_a_row_forgotten_while_its_checkpoint_is_saved_does_not_come_back(store: EmbeddedStore) -> None:
    # b is written as waiting while it is joined past its window's dedup horizon and so forgotten:
    # once the write commits the store holds b as waiting, and only the tombstone keeps a second
    # outcome from joining it again, before and after committed().
    buf = JoinBuffer(RULES, cache_rows=0)
    _add(buf, ["a", "b"])
    _outcomes(buf, ["x"], 3 * H)
    _add(buf, ["z"], start=H, ts=H + M)
    buf.expire()  # window 0 closed and past its dedup horizon
    delta = buf.delta()
    assert _outcomes(buf, ["b"], 3 * H) == (1, 0, 0, 0)  # joined and forgotten at once
    _save(buf, delta, store)
    assert stored_rows(store)["b"] == 0  # the store has it waiting
    assert _outcomes(buf, ["b"], 3 * H) == (0, 0, 0, 1)  # forgotten: held, as if unknown
    buf.committed(store.join_reader("g", 0, "m"))
    assert _outcomes(buf, ["b"], 3 * H) == (0, 0, 1, 0)  # the held one's duplicate
    _checkpoint(buf, store)
    assert "b" not in stored_rows(store)


def test_a_held_outcome_met_while_its_checkpoint_is_saved_is_not_met_twice(store: EmbeddedStore) -> None:
    buf = JoinBuffer(RULES, cache_rows=0)
    _outcomes(buf, ["early"], 5)
    delta = buf.delta()
    assert _add(buf, ["early"], ts=3) == 1  # while the held outcome is being written
    _save(buf, delta, store)
    buf.committed(store.join_reader("g", 0, "m"))
    _checkpoint(buf, store)
    assert store.join_reader("g", 0, "m").held(["early"]) == {}
    restarted = JoinBuffer(RULES, cache_rows=0)
    restarted.load_state(buf.to_state(), store.join_reader("g", 0, "m"))
    assert restarted.held == 0
    assert _outcomes(restarted, ["early"], 12) == (0, 0, 1, 0)


def _mixed_join(store: EmbeddedStore, name: str) -> JoinBuffer:
    """A join with rows in three places: the store (read back, some through the bounded cache),
    and in memory since the last checkpoint; in two windows, one past its dedup horizon. An
    outcome is held in the store (hs), one in memory (zz)."""
    buf = JoinBuffer(RULES, cache_rows=3)
    _add(buf, [f"s{i}" for i in range(6)], start=0, ts=0)
    _add(buf, [f"t{i}" for i in range(4)], start=H, ts=H)
    buf.match(["s0", "t0", "hs"], np.array([H, H, H]), np.array(["0", "0", "0"], dtype=object))
    store.save(name, [PartitionCheckpoint(0, {}, b"{}", {}, {"m": buf.delta()})])
    buf.committed(store.join_reader(name, 0, "m"))
    _add(buf, [f"f{i}" for i in range(4)], start=H, ts=2 * H)
    buf.match(["zz"], np.array([3 * H]), np.array(["0"], dtype=object))  # the outcome watermark: 3 h
    buf.expire()  # window 0's joined ids are forgotten
    return buf


def test_a_batch_of_outcomes_is_decided_as_one_by_one(store: EmbeddedStore) -> None:
    """The join decides the common outcomes of a batch at once and the rest row by row: the pairs,
    counts and the rows left behind are those of the same outcomes matched one at a time."""
    ids = ["f1", "s1", "t1", "f1", "s0", "new", "f2", "s2", "f0", "t1", "s5", "f3", "t2"]
    ts = np.array([2 * H, 2 * H, 3 * H, 2 * H, 2 * H, 2 * H, 2 * H, 2 * H, 9 * H, 2 * H, 3 * H, 2 * H, 2 * H])
    outcomes = np.array([str(i % 2) for i in range(len(ids))], dtype=object)
    whole, single = _mixed_join(store, "whole"), _mixed_join(store, "single")
    got = whole.match(ids, ts, outcomes)
    one_by_one = [single.match([pid], ts[i : i + 1], outcomes[i : i + 1]) for i, pid in enumerate(ids)]
    assert (got.expired, got.duplicate, got.held) == tuple(
        sum(getattr(o, name) for o in one_by_one) for name in ("expired", "duplicate", "held")
    )
    assert got.expired and got.duplicate and got.held  # every kind of row is in the batch
    joined = [(i, m) for i, o in enumerate(one_by_one) for m in o.matches]  # (position, pair)
    starts = list(dict.fromkeys(m.window_start for _, m in joined))
    assert [m.window_start for m in got.matches] == starts and len(starts) == 2
    for match in got.matches:
        mine = [(i, m) for i, m in joined if m.window_start == match.window_start]
        assert match.order.tolist() == [i for i, _ in mine]
        for name in ("outcome", "outcome_timestamp", "prediction", "score", "prediction_timestamp"):
            expected = np.concatenate([getattr(m, name) for _, m in mine])
            np.testing.assert_array_equal(getattr(match, name), expected)
    assert whole.delta() == single.delta() and len(whole) == len(single)
    assert whole.outcome_watermark == single.outcome_watermark and whole.held == single.held


def test_outcomes_of_unknown_ids_are_held_as_one_by_one(store: EmbeddedStore) -> None:
    """The outcomes of ids the join knows nothing of are held at once, the rest go row by row
    (a forgotten id is held too, a second outcome or one for a held id is a duplicate, but not once
    the outcome watermark has passed the held one's until by the read-ahead: hs): what is held, in
    which order, and the counts are those of the same outcomes matched one at a time."""
    ids = ["n1", "s0", "zz", "n2", "n1", "s1", "hs", "n3", "s0", "f1", "n2", "s3"]
    ts = 3 * H + M * np.arange(len(ids))
    outcomes = np.array([f"o{i}" for i in range(len(ids))], dtype=object)
    whole, single = _mixed_join(store, "whole"), _mixed_join(store, "single")
    got = whole.match(ids, ts, outcomes)
    one_by_one = [single.match([pid], ts[i : i + 1], outcomes[i : i + 1]) for i, pid in enumerate(ids)]
    assert (got.held, got.duplicate, got.expired) == (5, 4, 0)  # n1 s0 n2 hs n3; zz n1 s0 n2
    assert got.held == sum(o.held for o in one_by_one) and got.duplicate == sum(
        o.duplicate for o in one_by_one
    )
    assert [m.order.tolist() for m in got.matches] == [[5, 11], [9]]  # s1 s3 in window 0, f1
    assert whole.delta() == single.delta()  # what is held too, in the order it was
    assert [pid for pid, _ in whole.delta().held_inserted] == ["zz", "n1", "s0", "n2", "hs", "n3"]
    # hs twice: its first outcome is let go (counted) at the next expiry.
    assert whole.held_buckets == single.held_buckets and whole.held == 7


def _holding_join(store: EmbeddedStore, name: str) -> JoinBuffer:
    """A join holding outcomes whose predictions (of window 0) have not come: some stored by a
    checkpoint, some in memory since; most in time, some not (stamped past the window's end + TTL,
    or read after the outcome watermark passed that plus the allowed lateness)."""
    buf = JoinBuffer(RULES, cache_rows=0)
    stored = ["s0", "s1", "s_stamped", "s2"]
    buf.match(
        stored, np.array([10, 20, 7 * H + 1, 30]), np.array([f"o{pid}" for pid in stored], dtype=object)
    )
    store.save(name, [PartitionCheckpoint(0, {}, b"{}", {}, {"m": buf.delta()})])
    buf.committed(store.join_reader(name, 0, "m"))
    kept = ["m0", "m_stamped", "m1", "zz", "m_read", "m2"]
    ts = np.array([40, 7 * H + 5, 50, 8 * H, 60, 70])
    buf.match(kept, ts, np.array([f"o{pid}" for pid in kept], dtype=object))
    return buf


def test_predictions_answer_held_outcomes_as_one_by_one(store: EmbeddedStore) -> None:
    """A batch of predictions answers the outcomes held for it, stored or in memory, in time or
    not, at once: the pairs, counts and what is left held are those of one prediction at a time."""
    ids = ["a", "m1", "s0", "b", "m_read", "s_stamped", "m0", "s2", "m_stamped", "c", "zz", "m2"]
    whole, single = _holding_join(store, "whole"), _holding_join(store, "single")
    assert whole.held == single.held == 10
    got, late = _predictions(whole, ids)
    one_by_one = [_predictions(single, [pid]) for pid in ids]
    assert late == sum(n for _, n in one_by_one) == 5  # m_read, s_stamped, m_stamped, zz, m2
    joined = [(i, m) for i, (m, _) in enumerate(one_by_one) if m is not None]
    assert got is not None and got.order.tolist() == [i for i, _ in joined] == [1, 2, 6, 7]
    for name in ("outcome", "outcome_timestamp", "prediction", "score", "prediction_timestamp"):
        expected = np.concatenate([getattr(m, name) for _, m in joined])
        np.testing.assert_array_equal(getattr(got, name), expected)
    assert whole.delta() == single.delta() and len(whole) == len(single) == 8  # answered late: waiting
    assert whole.held_buckets == single.held_buckets and whole.held == 1  # s1
    assert sorted(whole._held_gone) == ["s0", "s2", "s_stamped"]


def _add_coded(buf: JoinBuffer, ids: list[str], code: int, start: int = 0) -> None:
    n = len(ids)
    buf.add(
        "1",
        start,
        start + H,
        np.asarray(ids, dtype=object),
        np.zeros(n, np.int64),
        np.array(["1"] * n, dtype=object),
        np.full(n, 0.5),
        code,
    )
    buf.saw_predictions(0)


def test_pairs_carry_their_feature_segment_and_counts_per_window_sum_over_segments() -> None:
    buf = JoinBuffer(RULES)
    _add_coded(buf, ["a", "b"], 0)
    _add_coded(buf, ["c", "d", "e"], 2)
    _add_coded(buf, ["f"], 2)  # the same join segment as c, d, e
    assert len(buf.segments) == 2 and len(buf) == 6
    got = buf.match(["c", "a", "e"], np.full(3, 10, np.int64), np.array(["0"] * 3, dtype=object))
    assert sorted((m.segment_code, m.order.tolist()) for m in got.matches) == [(0, [1]), (2, [0, 2])]
    # Expiry counts per (version, window), the segments' waiting predictions summed: b, d, f.
    buf.match(["zz"], np.array([6 * H + H + M], np.int64), np.array(["0"], dtype=object))
    assert buf.expire().predictions == {("1", 0): 3}


def test_join_segments_of_states_written_before_the_code_load_without_a_segment() -> None:
    buf = JoinBuffer(RULES)
    _add(buf, ["a"])
    _add_coded(buf, ["b"], 3)
    state = buf.to_state()
    plain, coded = (rest for _, *rest in state["segments"])
    assert len(plain) == 6 and coded[-1] == 3  # a segment without a code is stored as before
    again = JoinBuffer(RULES)
    again.load_state(state, buf.reader)
    assert sorted(s.code for s in again.segments.values()) == [NO_SEGMENT, 3]
    _add_coded(again, ["c"], 3)
    assert len(again.segments) == 2  # c found b's segment again
