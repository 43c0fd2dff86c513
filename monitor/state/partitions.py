"""Partitions in and out of a StateStore: checkpoint (what changed, with the offsets, then mark it
saved), restore (meta and windows; the join reads its rows from the store later), and the
evaluator's copies of partitions that other instances own, refreshed by what changed.

A checkpoint is taken in three steps: `take_checkpoint` (under the lock that keeps the monitors
still: what changed, as bytes and row lists), the store's `save` (no lock needed: it reads only
what was taken), and `mark_saved` (under the lock again). `save_partitions` does all three at once;
`CheckpointWriter` runs the save on a thread of its own while ingestion goes on, which the join
allows (monitor.pipeline.join: what changes meanwhile goes in the next checkpoint).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from monitor.pipeline.monitor import Monitor
from monitor.pipeline.partition_state import PartitionDelta, committed, partition_delta, refresh_peer, restore
from monitor.state.store import PartitionCheckpoint, StateStore, StoredPartition

Owned = tuple[int, Mapping[str, int], Monitor]  # (partition, its input offsets, its state)


@dataclass(frozen=True)
class TakenCheckpoint:
    monitors: list[Monitor]  # of the checkpoints, in their order
    deltas: list[PartitionDelta]
    checkpoints: list[PartitionCheckpoint]  # what the store writes, in one transaction

    @property
    def state_bytes(self) -> int:
        return sum(len(d.meta) + sum(len(w or b"") for w in d.windows.values()) for d in self.deltas)


def take_checkpoint(partitions: Sequence[Owned]) -> TakenCheckpoint:
    """What each partition changed since its last checkpoint, with its offsets (hold the lock)."""
    deltas = [partition_delta(monitor) for _, _, monitor in partitions]
    checkpoints = [
        PartitionCheckpoint(p, dict(offsets), d.meta, d.windows, d.joins)
        for (p, offsets, _), d in zip(partitions, deltas, strict=True)
    ]
    return TakenCheckpoint([monitor for _, _, monitor in partitions], deltas, checkpoints)


def mark_saved(store: StateStore, group: str, taken: TakenCheckpoint) -> None:
    """`taken` is in the store now: the monitors forget what it wrote (hold the lock)."""
    for monitor, delta, checkpoint in zip(taken.monitors, taken.deltas, taken.checkpoints, strict=True):
        committed(monitor, delta, partial(store.join_reader, group, checkpoint.partition))


def save_partitions(store: StateStore, group: str, partitions: Sequence[Owned]) -> int:
    """Checkpoint (partition, offsets, state) triples in one transaction; returns the bytes of state
    written. Hold the lock that keeps the monitors still: if the save fails nothing is marked
    saved, and the next checkpoint writes it all."""
    taken = take_checkpoint(partitions)
    store.save(group, taken.checkpoints)
    mark_saved(store, group, taken)
    return taken.state_bytes


class CheckpointWriter:
    """At most one checkpoint being saved at a time, on a thread of its own.

    `start` (under the lock) takes the checkpoint and starts its save; `finish` (under the lock
    again, on the same thread as `start`) marks it saved once the save is done and returns its
    offsets (to commit to Kafka), re-raising the save's error if it failed. A failed save marks
    nothing: the next checkpoint writes it all again, as after a failed `save_partitions`.
    """

    def __init__(self, store: StateStore, group: str) -> None:
        self.store, self.group = store, group
        self._taken: TakenCheckpoint | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def busy(self) -> bool:
        return self._taken is not None

    def done(self) -> bool:
        return self._thread is None or not self._thread.is_alive()

    def start(self, partitions: Sequence[Owned]) -> None:
        if self._taken is not None:
            raise RuntimeError("a checkpoint is still being saved: finish it first")
        self._taken = taken = take_checkpoint(partitions)
        self._error = None
        self._thread = threading.Thread(
            target=self._save, args=(taken.checkpoints,), name="driftline-checkpoint", daemon=True
        )
        self._thread.start()

    def _save(self, checkpoints: list[PartitionCheckpoint]) -> None:
        try:
            self.store.save(self.group, checkpoints)
        except BaseException as err:  # handed to the thread that finishes it
            self._error = err

    def wait(self) -> None:
        """Until the save in flight is done (call without the lock: the save does not need it)."""
        if self._thread is not None:
            self._thread.join()

    def finish(self) -> dict[int, dict[str, int]] | None:
        """Mark the finished save's partitions saved; their offsets, or None if there was none.
        Call once `done()`; hold the lock."""
        taken = self._taken
        if taken is None:
            return None
        if not self.done():
            raise RuntimeError("the checkpoint is still being saved")
        self._taken, self._thread = None, None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        mark_saved(self.store, self.group, taken)
        return {c.partition: dict(c.offsets) for c in taken.checkpoints}


def restore_partition(store: StateStore, group: str, stored: StoredPartition, monitor: Monitor) -> None:
    """Load a stored partition into a fresh monitor; its join reads its rows from `store`."""
    restore(
        monitor,
        stored.meta,
        stored.windows,
        lambda model: store.join_reader(group, stored.partition, model),
        f"group {group!r} partition {stored.partition}",
        stored.legacy_join,
    )


class PeerPartitions:
    """What an evaluator merges of the partitions other instances own: each refresh reads every
    partition's small meta blob and only the windows written since the last refresh."""

    def __init__(self, store: StateStore, group: str, new_monitor: Callable[[int], Monitor]) -> None:
        self.store, self.group, self.new_monitor = store, group, new_monitor
        self.partitions: dict[int, Monitor] = {}
        self._seen: dict[int, int] = {}  # partition -> generation read

    def refresh(self) -> dict[int, Monitor]:
        stored = self.store.load_changes(self.group, self._seen)
        for p in set(self.partitions) - set(stored):
            del self.partitions[p]
            self._seen.pop(p, None)
        for p, partition in stored.items():
            if self._seen.get(p) == partition.generation and p in self.partitions:
                continue
            monitor = self.partitions.setdefault(p, self.new_monitor(p))
            refresh_peer(monitor, partition.meta, partition.windows, f"group {self.group!r} partition {p}")
            self._seen[p] = partition.generation
        return dict(self.partitions)
