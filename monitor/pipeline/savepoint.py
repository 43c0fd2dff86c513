"""Undo for one group of a batch: what `Monitor.ingest` changes, kept so that a failure puts it back.

`Monitor.ingest_group` ingests the predictions of one (model, version), or the outcomes of one
model, under a `Savepoint`. If the group raises, the partition is put back as it was before the
group, so a group counts fully or not at all: its counters, windows and stream state never
disagree. No value the decoder admits can make a group raise (monitor.core.limits: every
accumulator stays finite inside the accepted range, and does not raise past it), so this is the
net under bugs, not a path data takes.

What is kept, and how:
- the partition's counters: a copy, taken up front (a few hundred labelled numbers at most);
- each stream of the model: everything but its windows, config and baseline (the watermark, the
  detector, the label delays...), forked up front; the window flags (closed, final), recorded;
- windows by copy-on-write: the monitor asks `writable(stream, start)` before it changes a
  window, which puts a fork in the stream's place the first time, so the change lands on the
  fork and the original is what an undo restores. Only the windows a group touches are copied.

Not kept: the model's join buffer (monitor.pipeline.join), which can hold every prediction of the
outcome TTL and is not copied per group. After an undo it may still know the group's prediction
ids (a replay of them counts as duplicate) or have marked its outcomes' predictions joined; the
service dead-letters the whole group with the failure, so nothing is lost silently.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

# Immutable: shared by a fork. Tuples count as immutable: the state holds only immutable values
# in them (category keys, bounds).
_SHARED = (str, bytes, int, float, bool, type(None), np.generic, pd.Index, frozenset, tuple)
_STREAM_KEEPS = ("windows", "config", "baseline")  # windows by copy-on-write; the others never change


def fork(value: Any) -> Any:
    """A copy sharing nothing mutable with `value`: arrays, containers and objects are copied;
    immutable leaves (numbers, strings, tuples, pandas indexes) are shared. Object arrays are
    copied shallowly: their elements (labels, ids) are immutable."""
    if isinstance(value, _SHARED):
        return value
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, Counter):
        return Counter(value)
    if isinstance(value, dict):
        return {key: fork(item) for key, item in value.items()}
    if isinstance(value, list):
        return [fork(item) for item in value]
    if isinstance(value, set):
        return set(value)
    own = getattr(type(value), "__fork__", None)
    if own is not None:  # a class that knows a cheaper copy of itself (many small sketches)
        return own(value)
    if hasattr(value, "__dict__") and not isinstance(value, type):
        # A class may name attributes it replaces but never changes in place (__fork_shared__):
        # those are shared, which spares copying a window's row sample on every group.
        shared = getattr(type(value), "__fork_shared__", ())
        copied = object.__new__(type(value))
        copied.__dict__.update(
            {name: item if name in shared else fork(item) for name, item in value.__dict__.items()}
        )
        return copied
    return copy.deepcopy(value)


class Savepoint:
    """The state one group may change: see the module docstring."""

    def __init__(self, monitor: Any, model: str) -> None:
        self.monitor = monitor
        self.counters = fork(monitor.counters)
        self.streams = [s for (m, _), s in monitor.streams.items() if m == model]
        self.stream_state = [
            {name: fork(value) for name, value in vars(s).items() if name not in _STREAM_KEEPS}
            for s in self.streams
        ]
        self.flags = {id(w): (w, w.closed, w.final) for s in self.streams for w in s.windows.values()}
        self.originals: dict[tuple[int, int], tuple[Any, Any]] = {}  # (stream, start) -> (stream, window)

    def writable(self, stream: Any, start: int) -> Any:
        """The window of `stream` at `start` (None if there is none yet), safe to change."""
        key = (id(stream), start)
        window = stream.windows.get(start)
        if key not in self.originals:
            self.originals[key] = (stream, window)
            if window is not None:
                window = stream.windows[start] = fork(window)
        return window

    def undo(self) -> None:
        """Put the partition back as it was when the savepoint was taken."""
        self.monitor.counters = self.counters
        for stream, state in zip(self.streams, self.stream_state, strict=True):
            for name, value in state.items():
                setattr(stream, name, value)
        for (_, start), (stream, window) in self.originals.items():
            if window is None:
                stream.windows.pop(start, None)
            else:
                stream.windows[start] = window
        for window, closed, final in self.flags.values():
            window.closed, window.final = closed, final
