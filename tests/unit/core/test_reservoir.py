import numpy as np

from monitor.core.reservoir import RowReservoir


def _stream(n: int, start: int = 0) -> dict[str, np.ndarray]:
    return {"i": np.arange(start, start + n, dtype=np.float64)}


def test_keeps_everything_until_full() -> None:
    r = RowReservoir(100).update(_stream(60), 60)
    assert len(r) == 60 and r.complete
    assert sorted(r.column("i").tolist()) == list(range(60))


def test_bounded_and_incomplete_past_capacity() -> None:
    r = RowReservoir(100)
    for start in range(0, 10_000, 1000):
        r.update(_stream(1000, start), 1000)
    assert len(r) == 100 and not r.complete and r.n_seen == 10_000


def test_same_input_same_sample() -> None:
    a = RowReservoir(50, seed=4).update(_stream(5000), 5000)
    b = RowReservoir(50, seed=4).update(_stream(5000), 5000)
    assert a.column("i").tolist() == b.column("i").tolist()


def test_sample_is_roughly_uniform() -> None:
    r = RowReservoir(2000, seed=1)
    for start in range(0, 100_000, 10_000):
        r.update(_stream(10_000, start), 10_000)
    # A uniform sample of 0..99999 has mean ~50000 with sd ~ 28868/sqrt(2000) ~ 645.
    assert abs(r.column("i").mean() - 50_000) < 4 * 645


def test_merge_keeps_smallest_keys_of_both() -> None:
    a = RowReservoir(30, seed=1).update(_stream(500), 500)
    b = RowReservoir(30, seed=2).update(_stream(500, 1000), 500)
    merged = a.merge(b)
    expected = np.sort(np.concatenate([a.keys, b.keys]))[:30]
    assert np.array_equal(merged.keys, expected)
    assert merged.n_seen == 1000
    assert RowReservoir.from_state(merged.to_state()).column("i").tolist() == merged.column("i").tolist()
