"""Partitions in and out of a StateStore: checkpoint (what changed, with the offsets, then mark it
saved), restore (meta and windows; the join reads its rows from the store later), and the
evaluator's copies of partitions that other instances own, refreshed by what changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial

from monitor.pipeline.monitor import Monitor
from monitor.pipeline.partition_state import committed, partition_delta, refresh_peer, restore
from monitor.state.store import PartitionCheckpoint, StateStore, StoredPartition


def save_partitions(
    store: StateStore, group: str, partitions: Sequence[tuple[int, Mapping[str, int], Monitor]]
) -> int:
    """Checkpoint (partition, offsets, state) triples in one transaction; returns the bytes of state
    written. Hold the lock that keeps the monitors still: if the save fails nothing is marked
    saved, and the next checkpoint writes it all."""
    deltas = [(monitor, partition_delta(monitor)) for _, _, monitor in partitions]
    checkpoints = [
        PartitionCheckpoint(p, dict(offsets), d.meta, d.windows, d.joins)
        for (p, offsets, _), (_, d) in zip(partitions, deltas, strict=True)
    ]
    store.save(group, checkpoints)
    for (p, _, _), (monitor, delta) in zip(partitions, deltas, strict=True):
        committed(monitor, delta, partial(store.join_reader, group, p))
    return sum(len(d.meta) + sum(len(w or b"") for w in d.windows.values()) for _, d in deltas)


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
