"""Records held back by pacing: per topic-partition in offset order, offsets kept through joins and
takes, counted over all topic-partitions, dropped with revoked partitions."""

from hypothesis import given
from hypothesis import strategies as st

from consumers.held_records import HeldRecords, joined, sliced
from consumers.kafka_client import PartitionRecords


def run(topic: str, partition: int, first: int, n: int) -> PartitionRecords:
    """n records with offsets first, first + 1, ...; each value names its offset."""
    return PartitionRecords(
        topic, partition, [str(first + i).encode() for i in range(n)], lambda i: first + i
    )


def offsets(records: PartitionRecords) -> list[int]:
    return [records.offset_at(i) for i in range(len(records.values))]


def test_joined_and_sliced_keep_each_value_with_its_offset() -> None:
    # Offsets with a gap between the runs (a compacted topic or a transaction marker).
    both = joined(run("p", 0, 10, 3), run("p", 0, 20, 2))
    assert offsets(both) == [10, 11, 12, 20, 21]
    assert [int(v) for v in both.values] == offsets(both)  # type: ignore[arg-type]
    middle = sliced(both, 2, 4)
    assert offsets(middle) == [12, 20] and middle.values == [b"12", b"20"]
    assert middle.next_offset == 21


@given(
    st.lists(st.tuples(st.sampled_from(["p", "o"]), st.integers(0, 2), st.integers(1, 7)), max_size=30),
    st.integers(1, 10),
)
def test_takes_give_back_every_held_record_once_in_offset_order(polls, most: int) -> None:
    held = HeldRecords(limit=10, limit_bytes=10**9)
    next_offset: dict[tuple[str, int], int] = {}
    for topic, partition, n in polls:
        first = next_offset.get((topic, partition), 0)
        held.hold(run(topic, partition, first, n))
        next_offset[(topic, partition)] = first + n
    assert len(held) == sum(n for _, _, n in polls)
    assert held.over_limit() == (len(held) > 10)
    taken: dict[tuple[str, int], list[int]] = {}
    while held.holding():
        for tp in held.holding():
            records = held.take(tp, most)
            assert records is not None and 0 < len(records.values) <= most
            assert [int(v) for v in records.values] == offsets(records)  # type: ignore[arg-type]
            taken.setdefault(tp, []).extend(offsets(records))
    assert len(held) == 0
    assert taken == {tp: list(range(n)) for tp, n in next_offset.items()}


def test_drop_forgets_only_the_revoked_partitions() -> None:
    held = HeldRecords(limit=100, limit_bytes=10**9)
    held.hold(run("p", 0, 0, 3))
    held.hold(run("o", 0, 0, 2))
    held.hold(run("p", 1, 5, 4))
    held.drop({0})
    assert held.holding() == [("p", 1)] and len(held) == 4
    assert ("p", 0) not in held and ("p", 1) in held
    assert held.take(("p", 0), 10) is None


def test_first_offset_is_the_next_record_the_service_gets() -> None:
    # The source reads a topic-partition's lag from here: its held records are still to read.
    held = HeldRecords(limit=100, limit_bytes=10**9)
    assert held.first_offset(("p", 0)) is None
    held.hold(run("p", 0, 7, 5))
    held.hold(run("p", 0, 12, 5))
    assert held.first_offset(("p", 0)) == 7
    held.take(("p", 0), 6)
    assert held.first_offset(("p", 0)) == 13
    held.take(("p", 0), 6)
    assert held.first_offset(("p", 0)) is None


def test_an_empty_poll_of_a_partition_holds_nothing() -> None:
    held = HeldRecords(limit=1, limit_bytes=10**9)
    held.hold(PartitionRecords("p", 0, [], lambda i: i))
    assert held.holding() == [] and len(held) == 0


def test_big_records_go_over_the_byte_limit_before_the_count() -> None:
    held = HeldRecords(limit=1000, limit_bytes=10_000)
    held.hold(PartitionRecords("p", 0, [b"x" * 6_000], lambda i: i))
    assert not held.over_limit()
    held.hold(PartitionRecords("p", 1, [b"x" * 6_000, None], lambda i: i))  # a tombstone weighs nothing
    assert held.over_limit() and len(held) == 3
    held.take(("p", 1), 5)
    assert not held.over_limit()
    held.drop({0})
    assert len(held) == 0 and not held.over_limit()
    held.hold(PartitionRecords("p", 2, [b"x" * 20_000], lambda i: i))
    assert held.over_limit()
