"""Checkpoints of schema 2 (one `windows` blob and one `join` blob per partition), read once.

After an upgrade the first restore of a partition finds its old blobs; they are loaded here into
a fresh `Monitor` (windows, streams, counters, and every pending prediction as if just added),
and the next checkpoint writes it all in the row-level layout. Ids remembered only as expired are
dropped: a late outcome for one counts `unknown_prediction` instead of `expired_prediction`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from monitor.pipeline.counters import Counters
from monitor.pipeline.join import JoinBuffer
from monitor.pipeline.windows import WindowState

if TYPE_CHECKING:
    from monitor.pipeline.monitor import Monitor


def restore_legacy(monitor: Monitor, windows_blob: bytes, join_blob: bytes) -> None:
    state = orjson.loads(windows_blob)
    for model, version, stream_state in state["streams"]:
        stream = monitor.streams.get((model, version))
        if stream is not None:
            stream.load_state(stream_state)
            stream.windows = {int(w["start"]): WindowState.from_state(w) for w in stream_state["windows"]}
    monitor.counters = Counters.from_state(state["counters"])
    monitor.saved_windows = {}  # all written by the next checkpoint
    joins = orjson.loads(join_blob) if join_blob else {}
    for model, join_state in joins.items():
        if model in monitor.joins:
            _import_join(monitor.joins[model], join_state)


def _import_join(join: JoinBuffer, state: dict[str, Any]) -> None:
    join.watermark = int(state["watermark"])
    join.outcome_watermark = int(state.get("outcome_watermark", 0))
    numeric = join.rules.numeric
    for segment in state["segments"].values():
        ids = segment["ids"]
        if not ids:
            continue
        prediction = np.empty(len(ids), dtype=object)
        prediction[:] = segment["prediction"]
        join.add(
            str(segment["version"]),
            int(segment["window_start"]),
            int(segment["window_end"]),
            np.asarray(ids, dtype=object),
            np.asarray(segment["timestamp"], dtype=np.int64),
            prediction.astype(np.float64) if numeric else prediction,
            np.asarray([np.nan if v is None else v for v in segment["score"]], dtype=np.float64),
        )
        for row in segment["joined"]:
            join.mark_joined(ids[int(row)])
    for pid, timestamp, outcome in state["early"]:
        join.hold(str(pid), int(timestamp), outcome, seen_before=int(timestamp))
