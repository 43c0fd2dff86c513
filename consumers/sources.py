"""Embedded event sources: JSONL files, a followed directory, standard input.

A source yields `RawBatch`es of undecoded messages (one JSON object per line) with the
position reached, so the service can checkpoint where it is. Lines are read as bytes and
never decoded here; the decoder decides what is valid. Each source is configured with a
topic (predictions, outcomes, or mixed: see monitor.pipeline.raw_batch).
"""

from __future__ import annotations

import os
import select
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from monitor.pipeline.raw_batch import RawBatch, Topic


class Source(Protocol):
    @property
    def name(self) -> str: ...

    def resume(self, positions: Mapping[str, int]) -> None:
        """Continue from checkpointed positions (as found in RawBatch.positions)."""

    def batches(self, stop: threading.Event) -> Iterator[RawBatch]: ...


def _strip(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\n") else line


def _read_lines(handle: BinaryIO, limit: int, complete_only: bool) -> tuple[list[bytes], int]:
    """Up to `limit` lines and the bytes consumed. With `complete_only`, a last line without
    its newline (a writer mid-append) is left for the next read."""
    lines: list[bytes] = []
    consumed = 0
    while len(lines) < limit:
        start = handle.tell()
        line = handle.readline()
        if not line:
            break
        if complete_only and not line.endswith(b"\n"):
            handle.seek(start)
            break
        consumed += len(line)
        lines.append(_strip(line))
    return lines, consumed


@dataclass
class FileSource:
    """One JSONL file read once from `offset` to its end."""

    path: Path
    topic: Topic = "mixed"
    batch_size: int = 10_000
    offset: int = 0

    @property
    def name(self) -> str:
        return f"file:{self.path}"

    def resume(self, positions: Mapping[str, int]) -> None:
        self.offset = positions.get(self.name, self.offset)

    def batches(self, stop: threading.Event) -> Iterator[RawBatch]:
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            while not stop.is_set():
                lines, consumed = _read_lines(handle, self.batch_size, complete_only=False)
                if not lines:
                    return
                self.offset += consumed
                batch = RawBatch(positions={self.name: self.offset})
                batch.add(lines, self.topic)
                yield batch


@dataclass
class DirectorySource:
    """Every file matching `pattern` in a directory, in name order, followed as they grow and
    as new files appear (like `tail -F` over a log directory). Runs until stopped."""

    path: Path
    topic: Topic = "mixed"
    pattern: str = "*.jsonl"
    batch_size: int = 10_000
    poll_interval: float = 0.5
    offsets: dict[str, int] = field(default_factory=dict)
    follow: bool = True

    @property
    def name(self) -> str:
        return f"dir:{self.path}"

    def resume(self, positions: Mapping[str, int]) -> None:
        prefix = f"{self.name}/"
        self.offsets.update({k[len(prefix) :]: v for k, v in positions.items() if k.startswith(prefix)})

    def batches(self, stop: threading.Event) -> Iterator[RawBatch]:
        while not stop.is_set():
            progressed = False
            for file in sorted(self.path.glob(self.pattern)):
                key = file.name
                if file.stat().st_size <= self.offsets.get(key, 0):
                    continue
                with file.open("rb") as handle:
                    handle.seek(self.offsets.get(key, 0))
                    while not stop.is_set():
                        lines, consumed = _read_lines(handle, self.batch_size, complete_only=True)
                        if not lines:
                            break
                        progressed = True
                        self.offsets[key] = self.offsets.get(key, 0) + consumed
                        batch = RawBatch(positions={f"{self.name}/{key}": self.offsets[key]})
                        batch.add(lines, self.topic)
                        yield batch
            if not self.follow and not progressed:
                return
            if not progressed:
                stop.wait(self.poll_interval)


@dataclass
class StdinSource:
    """Standard input (or any readable file descriptor) until end of file or until stopped.

    Reads the descriptor directly with select(), so a pause in the input flushes the lines
    received so far (an interactive producer does not wait for `batch_size` lines) and a
    stop request is noticed within `poll_interval` even when no input comes.
    """

    topic: Topic = "mixed"
    batch_size: int = 10_000
    name: str = "stdin"
    fd: int = field(default_factory=lambda: sys.stdin.fileno())
    poll_interval: float = 0.2

    def resume(self, positions: Mapping[str, int]) -> None:
        """Standard input cannot be re-read: nothing to resume."""

    def batches(self, stop: threading.Event) -> Iterator[RawBatch]:
        pending: list[bytes] = []
        partial = b""
        while not stop.is_set():
            ready, _, _ = select.select([self.fd], [], [], self.poll_interval)
            chunk = os.read(self.fd, 1 << 20) if ready else None
            if chunk:
                lines = (partial + chunk).split(b"\n")
                partial = lines.pop()
                pending.extend(lines)
            if chunk == b"" and partial:
                pending.append(partial)
                partial = b""
            while len(pending) >= self.batch_size or (pending and not ready) or (pending and chunk == b""):
                take, pending = pending[: self.batch_size], pending[self.batch_size :]
                batch = RawBatch()  # standard input cannot be re-read: no position to resume from
                batch.add(take, self.topic)
                yield batch
            if chunk == b"":
                return
