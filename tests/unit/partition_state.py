"""What a checkpoint stores of a partition, as bytes, for tests that compare two partitions: its
counters, every stream's own state and windows, and how many predictions wait in each model's join
(the join's rows themselves live in the state store: monitor.pipeline.join)."""

from __future__ import annotations

import orjson

from monitor.pipeline.monitor import Monitor


def state_bytes(monitor: Monitor, join: bool = True) -> bytes:
    """`join=False` leaves the join's pending counts out (a savepoint does not undo the join)."""
    streams = [
        [m, v, s.to_state(), [w.to_state() for _, w in sorted(s.windows.items())]]
        for (m, v), s in sorted(monitor.streams.items())
    ]
    pending = {model: len(join) for model, join in sorted(monitor.joins.items())}
    document = {
        "counters": monitor.counters.to_state(),
        "streams": streams,
        "pending": pending if join else None,
    }
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
