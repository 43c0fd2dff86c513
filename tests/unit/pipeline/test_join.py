import numpy as np

from monitor.pipeline.join import JoinBuffer

HOUR = 3_600_000


def _add(buf: JoinBuffer, ids: list[str], start: int = 0, ts: int = 0, version: str = "1") -> None:
    n = len(ids)
    buf.add(
        version,
        start,
        start + HOUR,
        np.asarray(ids, dtype=object),
        np.full(n, ts, np.int64),
        np.array(["1"] * n, dtype=object),
        np.full(n, 0.5),
    )


def _outcomes(n: int) -> np.ndarray:
    return np.array(["0"] * n, dtype=object)


def test_outcome_joins_its_prediction_once() -> None:
    buf = JoinBuffer(ttl_ms=24 * HOUR)
    _add(buf, ["a", "b", "c"])
    first = buf.match(["b", "zz", "b"], np.array([10, 10, 10], np.int64), _outcomes(3))
    assert [(m.version, m.window_start, m.order.tolist()) for m in first.matches] == [("1", 0, [0])]
    assert first.matches[0].outcome_timestamp.tolist() == [10]
    assert (first.held, first.expired, first.duplicate) == (1, 0, 1)
    again = buf.match(["b"], np.array([11], np.int64), _outcomes(1))
    assert again.matches == [] and again.duplicate == 1
    assert len(buf) == 2


def test_an_outcome_that_comes_first_joins_its_prediction_later() -> None:
    buf = JoinBuffer(ttl_ms=HOUR)
    early = buf.match(["late-pred"], np.array([50], np.int64), np.array(["1"], dtype=object))
    assert early.held == 1 and early.matches == []
    matched = buf.add(
        "1",
        0,
        HOUR,
        np.asarray(["x", "late-pred"], dtype=object),
        np.array([10, 20], np.int64),
        np.array(["0", "1"], dtype=object),
        np.full(2, 0.5),
    )
    assert matched is not None and matched.order.tolist() == [1]
    assert matched.outcome.tolist() == ["1"] and matched.prediction_timestamp.tolist() == [20]
    assert buf.early == {} and len(buf) == 1


def test_held_outcomes_expire_as_unknown() -> None:
    buf = JoinBuffer(ttl_ms=HOUR)
    buf.match(["nobody"], np.array([0], np.int64), _outcomes(1))
    _add(buf, ["c"], start=2 * HOUR, ts=2 * HOUR)
    assert buf.expire().unknown_outcomes == 1 and buf.early == {}


def test_new_ids_flags_seen_and_in_batch_duplicates() -> None:
    buf = JoinBuffer(ttl_ms=HOUR)
    _add(buf, ["a"])
    assert buf.new_ids(["a", "b", "b", "c"]).tolist() == [False, True, False, True]


def test_expiry_counts_unjoined_and_classifies_late_outcomes() -> None:
    buf = JoinBuffer(ttl_ms=HOUR)
    _add(buf, ["a", "b"], start=0)
    buf.match(["a"], np.array([100], np.int64), _outcomes(1))
    _add(buf, ["c"], start=2 * HOUR, ts=2 * HOUR)  # watermark passes window end + TTL
    assert buf.expire().predictions == {("1", 0): 1}
    late = buf.match(["b", "nobody"], np.array([2 * HOUR, 2 * HOUR], np.int64), _outcomes(2))
    assert (late.expired, late.held) == (1, 1)
    # An expired id is no longer a duplicate: the TTL bounds memory.
    assert buf.new_ids(["a"]).tolist() == [True]


def test_state_round_trip() -> None:
    buf = JoinBuffer(ttl_ms=HOUR)
    _add(buf, ["a", "b"])
    buf.match(["a", "early"], np.array([5, 5], np.int64), _outcomes(2))
    restored = JoinBuffer.from_state(buf.to_state())
    assert restored.to_state() == buf.to_state()
    result = restored.match(["b", "a"], np.array([6, 6], np.int64), _outcomes(2))
    assert [m.order.tolist() for m in result.matches] == [[0]] and result.duplicate == 1
    assert restored.early == {"early": (5, "0")}
