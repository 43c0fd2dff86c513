"""A bounded, durable buffer of documents waiting for Elasticsearch.

Documents live in memory up to a bound; past it the oldest half spills to a file in the spill
directory, and at close everything left in memory is written there too, so a restart resends
whatever the cluster never acknowledged. Files are delivered before memory and in the order they
were written, and a newer document with the same id replaces an older one still in memory, so the
last version of a document is always the last one sent. The directory has a byte bound too: past
it the oldest files are dropped (logged and counted), because a full disk would stop the service.

Thread-safe: the evaluator adds, the delivery thread takes batches and acknowledges them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from monitor.sinks.elasticsearch.documents import Action

log = logging.getLogger("driftline.elasticsearch")

SPILL_SUFFIX = ".ndjson"
Key = tuple[str, str]  # (index, id)


@dataclass(frozen=True)
class Batch:
    """Documents handed to the delivery thread: a whole spill file, or the oldest of memory."""

    actions: list[Action]
    file: Path | None = None
    versions: dict[Key, int] = field(default_factory=dict)  # memory batches: what to remove on ack


class DocumentBuffer:
    def __init__(self, spill_dir: Path, max_memory: int, max_spill_bytes: int) -> None:
        self.spill_dir = spill_dir
        self.max_memory = max_memory
        self.max_spill_bytes = max_spill_bytes
        self.dropped = 0  # documents lost to the disk bound
        self._memory: OrderedDict[Key, tuple[int, Action]] = OrderedDict()
        self._files: OrderedDict[Path, int] = OrderedDict()  # spill file -> documents in it
        self._lock = threading.Lock()
        spill_dir.mkdir(parents=True, exist_ok=True)
        for leftover in spill_dir.glob(f"*{SPILL_SUFFIX}.tmp"):
            leftover.unlink()  # a write cut short by a crash: its documents were still in memory
        for path in sorted(spill_dir.glob(f"*{SPILL_SUFFIX}")):
            self._files[path] = sum(1 for line in path.read_bytes().splitlines() if line.strip())
        self._seq = 1 + max((int(p.stem) for p in self._files if p.stem.isdigit()), default=0)

    def add(self, actions: Iterable[Action]) -> None:
        with self._lock:
            for action in actions:
                key = (action.index, action.id)
                self._memory.pop(key, None)  # the newer version goes to the back of the queue
                self._memory[key] = (self._seq, action)
                self._seq += 1
            if len(self._memory) > self.max_memory:
                # Spill down to half the bound, so a steady overflow writes few, larger files.
                self._spill(len(self._memory) - self.max_memory // 2)

    def next_batch(self, limit: int) -> Batch | None:
        with self._lock:
            while self._files:
                path = next(iter(self._files))
                try:
                    return Batch(read_spill_file(path), file=path)
                except (OSError, ValueError, KeyError) as err:
                    self._set_aside(path, err)
            if not self._memory:
                return None
            taken = [item for _, item in zip(range(limit), self._memory.items(), strict=False)]
            return Batch([a for _, (_, a) in taken], versions={k: seq for k, (seq, _) in taken})

    def ack(self, batch: Batch) -> None:
        """The batch reached the server: forget it (unless a newer version came in meanwhile)."""
        with self._lock:
            if batch.file is not None:
                self._files.pop(batch.file, None)
                batch.file.unlink(missing_ok=True)
                return
            for key, seq in batch.versions.items():
                held = self._memory.get(key)
                if held is not None and held[0] == seq:
                    del self._memory[key]

    def persist(self) -> int:
        """Write everything still in memory to the spill directory (at close); returns how many."""
        with self._lock:
            count = len(self._memory)
            if count:
                self._spill(count)
            return count

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._memory) + sum(self._files.values())

    @property
    def spill_files(self) -> int:
        with self._lock:
            return len(self._files)

    def _spill(self, count: int) -> None:
        oldest = [self._memory.popitem(last=False)[1][1] for _ in range(count)]
        path = self.spill_dir / f"{self._seq:016d}{SPILL_SUFFIX}"
        self._seq += 1
        write_spill_file(path, oldest)
        self._files[path] = len(oldest)
        self._enforce_disk_bound()

    def _set_aside(self, path: Path, err: Exception) -> None:
        """An unreadable spill file (edited, disk error) would block every later one: rename it
        to *.bad for a person to look at, and go on with the next."""
        self.dropped += self._files.pop(path)
        log.error("cannot read Elasticsearch spill file %s (%s): renamed to %s.bad", path, err, path.name)
        with contextlib.suppress(OSError):
            path.rename(path.with_name(path.name + ".bad"))

    def _enforce_disk_bound(self) -> None:
        sizes = {p: p.stat().st_size for p in self._files}
        total = sum(sizes.values())
        while total > self.max_spill_bytes and len(self._files) > 1:
            path, count = self._files.popitem(last=False)
            total -= sizes[path]
            path.unlink(missing_ok=True)
            self.dropped += count
            log.error(
                "Elasticsearch spill directory %s is over its %d-byte bound: dropped %d undelivered "
                "documents (%s)",
                self.spill_dir,
                self.max_spill_bytes,
                count,
                path.name,
            )


def write_spill_file(path: Path, actions: list[Action]) -> None:
    """Write then rename, so a crash never leaves a half-written file that would be resent."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as out:
        for action in actions:
            out.write(orjson.dumps(action.to_json()) + b"\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def read_spill_file(path: Path) -> list[Action]:
    return [Action.from_json(orjson.loads(line)) for line in path.read_bytes().splitlines() if line.strip()]
