"""The exporter's pure parts: the durable buffer (memory bound, spill, persist, resend order),
backoff with jitter, bulk item triage and which daily indices are past retention."""

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.sinks.elasticsearch.buffer import DocumentBuffer
from monitor.sinks.elasticsearch.delivery import Backoff, split_item_errors
from monitor.sinks.elasticsearch.documents import Action
from monitor.sinks.elasticsearch.templates import expired_indices


def action(i: int, version: int = 1) -> Action:
    return Action("idx", f"doc-{i}", {"n": i, "version": version})


def drain(buffer: DocumentBuffer, limit: int = 3) -> list[Action]:
    sent = []
    while (batch := buffer.next_batch(limit)) is not None:
        sent += batch.actions
        buffer.ack(batch)
    return sent


def test_memory_batches_come_out_oldest_first_and_ack_removes_them(tmp_path: Path) -> None:
    buffer = DocumentBuffer(tmp_path, max_memory=100, max_spill_bytes=1 << 20)
    buffer.add(action(i) for i in range(7))
    assert buffer.pending == 7
    assert [a.id for a in drain(buffer)] == [f"doc-{i}" for i in range(7)]
    assert buffer.pending == 0 and not list(tmp_path.iterdir())


def test_a_newer_version_replaces_the_one_waiting(tmp_path: Path) -> None:
    buffer = DocumentBuffer(tmp_path, max_memory=100, max_spill_bytes=1 << 20)
    buffer.add([action(1), action(2)])
    buffer.add([action(1, version=2)])
    sent = drain(buffer)
    assert [(a.id, a.source["version"]) for a in sent] == [("doc-2", 1), ("doc-1", 2)]


def test_ack_keeps_a_version_that_arrived_while_the_batch_was_in_flight(tmp_path: Path) -> None:
    buffer = DocumentBuffer(tmp_path, max_memory=100, max_spill_bytes=1 << 20)
    buffer.add([action(1)])
    in_flight = buffer.next_batch(10)
    assert in_flight is not None
    buffer.add([action(1, version=2)])
    buffer.ack(in_flight)
    assert [a.source["version"] for a in drain(buffer)] == [2]


def test_overflow_spills_the_oldest_to_disk_and_files_are_sent_first(tmp_path: Path) -> None:
    buffer = DocumentBuffer(tmp_path, max_memory=10, max_spill_bytes=1 << 20)
    buffer.add(action(i) for i in range(11))  # one over the bound: spill down to half
    assert buffer.spill_files == 1 and buffer.pending == 11
    assert len(list(tmp_path.glob("*.ndjson"))) == 1
    buffer.add([action(99)])
    sent = drain(buffer, limit=100)
    assert [a.id for a in sent] == [f"doc-{i}" for i in range(11)] + ["doc-99"]
    assert buffer.spill_files == 0 and not list(tmp_path.glob("*.ndjson"))


def test_persist_at_close_and_a_new_buffer_resends_in_order(tmp_path: Path) -> None:
    first = DocumentBuffer(tmp_path, max_memory=4, max_spill_bytes=1 << 20)
    first.add(action(i) for i in range(9))  # some spilled, some in memory
    assert first.persist() > 0 and first.pending == 9
    (tmp_path / "0000000000000099.ndjson.tmp").write_bytes(b'{"half": ')  # a write cut short

    again = DocumentBuffer(tmp_path, max_memory=4, max_spill_bytes=1 << 20)
    assert again.pending == 9
    again.add([action(100)])  # new documents go after the old run's
    assert [a.id for a in drain(again, limit=100)] == [f"doc-{i}" for i in range(9)] + ["doc-100"]
    assert not list(tmp_path.iterdir())


def test_disk_bound_drops_the_oldest_files_and_counts_them(tmp_path: Path) -> None:
    buffer = DocumentBuffer(tmp_path, max_memory=2, max_spill_bytes=1024)
    big = [Action("idx", f"doc-{i}", {"pad": "x" * 400}) for i in range(12)]
    for a in big:
        buffer.add([a])
    on_disk = sum(p.stat().st_size for p in tmp_path.glob("*.ndjson"))
    assert buffer.dropped > 0
    assert on_disk <= 1024 or buffer.spill_files == 1
    assert buffer.pending + buffer.dropped == len(big)
    newest = drain(buffer, limit=100)
    assert newest[-1].id == "doc-11"  # what is dropped is the oldest


def test_backoff_doubles_up_to_the_cap_and_jitters_below_it() -> None:
    backoff = Backoff(initial=0.5, cap=8.0)
    assert [backoff.ceiling(a) for a in range(7)] == [0.5, 1, 2, 4, 8, 8, 8]
    assert backoff.ceiling(10_000) == 8.0
    rng = random.Random(1)
    delays = [backoff.delay(3, rng) for _ in range(200)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) == 200  # jittered, not in step
    assert max(delays) > 3.0 and min(delays) < 1.0


def test_bulk_item_errors_split_into_retryable_and_rejected() -> None:
    errors = [
        {"index": {"_id": "a", "status": 429, "error": {"type": "es_rejected_execution_exception"}}},
        {"index": {"_id": "b", "status": 400, "error": {"type": "mapper_parsing_exception"}}},
        {"index": {"_id": "c", "status": 503}},
    ]
    retryable, rejected = split_item_errors(errors)
    assert [i["_id"] for i in retryable] == ["a", "c"]
    assert [i["_id"] for i in rejected] == ["b"]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 1, 10, 12, tzinfo=UTC), ["dl-features-2026.01.01", "dl-windows-2026.01.01"]),
        (datetime(2026, 1, 9, 23, tzinfo=UTC), []),
    ],
)
def test_expired_indices_are_whole_days_past_retention_and_only_ours(
    now: datetime, expected: list[str]
) -> None:
    names = [
        "dl-windows-2026.01.01",
        "dl-features-2026.01.01",
        "dl-windows-2026.01.02",
        "dl-windows-latest",
        "other-windows-2025.01.01",
        "dl-windowsx-2025.01.01",
    ]
    assert expired_indices(names, "dl", now, retention_days=8) == expected


def test_an_unreadable_spill_file_is_set_aside_and_the_rest_still_flows(tmp_path: Path) -> None:
    first = DocumentBuffer(tmp_path, max_memory=2, max_spill_bytes=1 << 20)
    first.add(action(i) for i in range(3))  # spills doc-0 and doc-1
    first.persist()  # doc-2
    oldest = sorted(tmp_path.glob("*.ndjson"))[0]
    oldest.write_bytes(b'{"index": "idx", "id": "doc-0", "sou')  # damaged by hand or disk
    again = DocumentBuffer(tmp_path, max_memory=2, max_spill_bytes=1 << 20)
    assert [a.id for a in drain(again)] == ["doc-2"]
    assert again.dropped == 1 and again.pending == 0
    assert (tmp_path / f"{oldest.name}.bad").is_file()
