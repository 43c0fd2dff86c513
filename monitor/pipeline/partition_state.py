"""A partition's state as checkpoints hold it, and back.

A checkpoint (monitor.state) writes what changed since the previous one: a small `meta` blob
(counters, each stream's `VersionStream.to_state()`, each join's segments and watermarks, the keys
of the windows held), the windows whose content changed since they were last written (a window is
written when it opens, closes, takes late outcomes or expires, and not again until it changes),
and each join's row changes. A restore reads the meta blob and the windows; the join's rows stay in
the store and are read when outcomes ask for them.

Pure: bytes and plain data in and out; the store and the reader of join rows are the caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from monitor.errors import DriftlineError
from monitor.pipeline.counters import Counters
from monitor.pipeline.join_rows import JoinDelta, JoinReader
from monitor.pipeline.legacy_state import restore_legacy
from monitor.pipeline.windows import WindowState

if TYPE_CHECKING:
    from monitor.pipeline.monitor import Monitor, VersionStream

FORMAT = 3  # the meta blob's layout; schema 2's blobs carried no "format"
WindowKey = tuple[str, str, int]  # model, version, window start (ms)


@dataclass(frozen=True)
class PartitionDelta:
    meta: bytes
    windows: dict[WindowKey, bytes | None]  # changed windows' state; None: no longer held
    joins: dict[str, JoinDelta]
    written: dict[WindowKey, tuple[int, ...]] = field(default_factory=dict)  # fingerprints once saved


def _window_blob(window: WindowState) -> bytes:
    return orjson.dumps(window.to_state(), option=orjson.OPT_SERIALIZE_NUMPY)


def partition_delta(monitor: Monitor) -> PartitionDelta:
    """What `monitor` would write now (nothing changes until `committed`)."""
    held: dict[WindowKey, tuple[int, ...]] = {}
    windows: dict[WindowKey, bytes | None] = {}
    for (model, version), stream in monitor.streams.items():
        for start, window in stream.windows.items():
            key = (model, version, start)
            held[key] = window.fingerprint
            if monitor.saved_windows.get(key) != held[key]:
                windows[key] = _window_blob(window)
    for key in monitor.saved_windows.keys() - held.keys():
        windows[key] = None
    meta = {
        "format": FORMAT,
        "streams": [[m, v, s.to_state()] for (m, v), s in sorted(monitor.streams.items())],
        "counters": monitor.counters.to_state(),
        "joins": {model: join.to_state() for model, join in sorted(monitor.joins.items())},
        "windows": sorted(held),
    }
    joins = {model: join.delta() for model, join in sorted(monitor.joins.items())}
    return PartitionDelta(orjson.dumps(meta, option=orjson.OPT_SERIALIZE_NUMPY), windows, joins, held)


def committed(monitor: Monitor, delta: PartitionDelta, reader_of: Callable[[str], JoinReader]) -> None:
    """`delta` is durable in the store `reader_of(model)` reads: forget it (hold the lock that kept
    `monitor` still since `partition_delta`)."""
    monitor.saved_windows = dict(delta.written)
    for model, join in monitor.joins.items():
        join.committed(reader_of(model))


def _meta(blob: bytes, where: str) -> dict[str, Any] | None:
    """The meta blob's content; None for schema 2's windows blob (monitor.pipeline.legacy_state)."""
    state = orjson.loads(blob)
    if "format" not in state:
        return None
    if state["format"] != FORMAT:
        raise DriftlineError(
            f"the checkpoint of {where} has state format {state['format']}, which this driftline "
            f"does not know ({FORMAT}); upgrade driftline or point state.url elsewhere"
        )
    return dict(state)


def restore(
    monitor: Monitor,
    meta: bytes,
    windows: Mapping[WindowKey, bytes],
    reader_of: Callable[[str], JoinReader],
    where: str = "this partition",
    legacy_join: bytes = b"",
) -> None:
    """Load a stored partition into a fresh `monitor`; `reader_of(model)` reads its join rows."""
    state = _load_common(monitor, meta, where, legacy_join)
    if state is None:
        return  # schema 2: everything is in memory until the next checkpoint writes it
    monitor.saved_windows = {}
    for key, blob in windows.items():
        stream = monitor.streams.get(key[:2])
        if stream is not None:
            window = _window(stream, blob)
            stream.windows[key[2]] = window
            monitor.saved_windows[key] = window.fingerprint
    for model, join_state in state["joins"].items():
        if model in monitor.joins:
            monitor.joins[model].load_state(join_state, reader_of(model))


def refresh_peer(monitor: Monitor, meta: bytes, changed: Mapping[WindowKey, bytes], where: str) -> None:
    """Bring an evaluator's copy of another instance's partition up to date: its streams and
    counters, the windows changed since it last looked, and none it no longer holds."""
    state = _load_common(monitor, meta, where, b"")
    if state is None:
        return
    present = {tuple(k) for k in state["windows"]}
    for (model, version), stream in monitor.streams.items():
        for start in [s for s in stream.windows if (model, version, s) not in present]:
            del stream.windows[start]
    for key, blob in changed.items():
        owner = monitor.streams.get(key[:2])
        if owner is not None and key in present:
            owner.windows[key[2]] = _window(owner, blob)


def _window(stream: VersionStream, blob: bytes) -> WindowState:
    """A stored window of `stream`, with its estimation sums and reconstruction errors if it was
    built on the stream's baseline (one swapped out while the window was open is not at hand here:
    no estimate and no multivariate result then)."""
    state = orjson.loads(blob)
    baseline = stream.baseline
    same = state.get("baseline_id", "") in ("", baseline.id)
    return WindowState.from_state(
        state,
        baseline.performance_estimator if same else None,
        baseline.pca if state.get("baseline_id") == baseline.id else None,
    )


def _load_common(monitor: Monitor, meta: bytes, where: str, legacy_join: bytes) -> dict[str, Any] | None:
    state = _meta(meta, where)
    if state is None:
        restore_legacy(monitor, meta, legacy_join)
        return None
    for model, version, stream_state in state["streams"]:
        stream = monitor.streams.get((model, version))
        if stream is not None:
            stream.load_state(stream_state)
    monitor.counters = Counters.from_state(state["counters"])
    return state
