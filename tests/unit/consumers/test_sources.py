import os
import threading
from pathlib import Path

from consumers.sources import DirectorySource, FileSource, StdinSource
from monitor.pipeline.raw_batch import RawBatch

PRED = b'{"prediction_id": "1", "features": {}}'
OUT = b'{"prediction_id": "1", "outcome": 1}'


def test_mixed_batches_split_by_features_and_outcome_keys() -> None:
    batch = RawBatch()
    batch.add([PRED, OUT, b"garbage"], "mixed")
    assert batch.predictions == [PRED] and batch.outcomes == [OUT] and batch.unsorted == [b"garbage"]
    batch.add([OUT], "predictions")
    assert batch.predictions[-1] == OUT and len(batch) == 4


def test_file_source_reads_in_batches_and_resumes_from_offset(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([PRED] * 5 + [OUT] * 2) + b"\n")
    source = FileSource(path, "mixed", batch_size=3)
    batches = list(source.batches(threading.Event()))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert batches[-1].positions == {source.name: path.stat().st_size}
    resumed = FileSource(path, "mixed", batch_size=10, offset=batches[0].positions[source.name])
    assert len(next(resumed.batches(threading.Event()))) == 4


def test_directory_source_follows_appends_and_new_files(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(PRED + b"\n" + PRED + b"\n" + b'{"partial')
    source = DirectorySource(tmp_path, "mixed", batch_size=100, poll_interval=0.01)
    stop = threading.Event()
    stream = source.batches(stop)
    first = next(stream)
    assert len(first.predictions) == 2  # the unterminated line waits for its newline
    with (tmp_path / "a.jsonl").open("ab") as handle:
        handle.write(b'": 1}\n')
    (tmp_path / "b.jsonl").write_bytes(OUT + b"\n")
    second, third = next(stream), next(stream)
    assert second.unsorted == [b'{"partial": 1}'] and third.outcomes == [OUT]
    assert source.offsets == {"a.jsonl": (tmp_path / "a.jsonl").stat().st_size, "b.jsonl": len(OUT) + 1}
    stop.set()
    assert list(stream) == []


def test_directory_source_without_follow_ends(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(PRED + b"\n")
    (tmp_path / "skip.txt").write_bytes(PRED + b"\n")
    batches = list(DirectorySource(tmp_path, follow=False).batches(threading.Event()))
    assert sum(len(b) for b in batches) == 1


def test_stdin_source_flushes_on_pause_and_ends_at_eof() -> None:
    read_fd, write_fd = os.pipe()
    source = StdinSource("mixed", batch_size=1000, fd=read_fd, poll_interval=0.05)
    stream = source.batches(threading.Event())
    os.write(write_fd, PRED + b"\n" + OUT + b"\n")
    first = next(stream)  # arrives without waiting for 1000 lines
    assert first.predictions == [PRED] and first.outcomes == [OUT]
    os.write(write_fd, PRED + b"\n" + b"last-line-without-newline")
    os.close(write_fd)
    rest = list(stream)
    assert [m for b in rest for m in b.predictions] == [PRED]
    assert [m for b in rest for m in b.unsorted] == [b"last-line-without-newline"]
    os.close(read_fd)


def test_stdin_source_stops_when_asked_without_input() -> None:
    read_fd, write_fd = os.pipe()
    stop = threading.Event()
    source = StdinSource(fd=read_fd, poll_interval=0.02)
    threading.Timer(0.1, stop.set).start()
    assert list(source.batches(stop)) == []
    os.close(read_fd)
    os.close(write_fd)
