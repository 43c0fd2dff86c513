"""Message timestamps to epoch milliseconds (UTC): a vectorised path for the common ISO layout,
and a row-by-row path that names every bad row.

Event time is bounded on both sides: instants outside 1970..2200 are `bad_timestamp`, and with
`not_after_ms` (the service's clock plus `sources.max_future`) a later instant is
`future_timestamp`, so no single message can carry a stream's watermark into the future. The
past stays open: replaying history is a normal use."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from monitor.pipeline.decoding.columns import NUMBER, STR, Faults, show

_MAX_MS = 7_258_118_400_000  # 2200-01-01T00:00:00Z; the lower bound is the epoch


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


_ONE_MS = timedelta(milliseconds=1)


def timestamps_ms(values: Sequence[Any], found: Faults, not_after_ms: int | None = None) -> np.ndarray:
    kinds = set(map(type, values))
    millis = None
    if kinds == STR:
        millis = _iso_utc_fast(values)
    elif kinds <= NUMBER:
        millis = np.rint(np.array(values, dtype=np.float64) * 1000.0)
    upper = _MAX_MS if not_after_ms is None else min(_MAX_MS, not_after_ms + 1)
    if millis is not None and ((millis >= 0) & (millis < upper)).all():
        return millis.astype(np.int64)
    out = np.zeros(len(values), dtype=np.int64)
    for row, value in enumerate(values):
        ms = _one_timestamp_ms(value, row, found)
        if not_after_ms is not None and ms > not_after_ms:
            limit = datetime.fromtimestamp(not_after_ms / 1000, UTC).isoformat().replace("+00:00", "Z")
            detail = f"timestamp: {show(value)} is after {limit}, the service's clock plus sources.max_future"
            found.add(row, "future_timestamp", detail)
            ms = 0
        out[row] = ms
    return out


def _iso_utc_fast(values: Sequence[str]) -> np.ndarray | None:
    """Epoch ms of "YYYY-MM-DDTHH:MM:SS[.fff]Z" strings that share one length, else None.

    numpy's datetime parser is fast but lenient (it also takes "now", bare years and offsets), so
    it only sees strings whose separators and digits sit where this layout puts them; strided
    slices of the joined strings check every row at C speed.
    """
    distinct = set(values)
    if len(distinct) * 2 <= len(values):  # busy streams repeat timestamps: parse each once
        unique = list(distinct)
        parsed = _iso_utc_fast(unique)
        if parsed is None:
            return None
        lookup = dict(zip(unique, parsed.tolist(), strict=True))
        return np.fromiter(map(lookup.__getitem__, values), dtype=np.float64, count=len(values))
    lengths = set(map(len, values))
    width = lengths.pop() if len(lengths) == 1 else 0
    if not (width == 20 or 22 <= width <= 30):
        return None
    joined, n = "".join(values), len(values)
    layout = ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (width - 1, "Z"))
    if "+" in joined or any(joined[at::width] != mark * n for at, mark in layout):
        return None
    if width > 20 and joined[19::width] != "." * n:
        return None
    digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, *range(20, width - 1)]
    if not joined.isascii() or not all(joined[at::width].isdigit() for at in digits):
        return None  # numpy would take some of these (a space, a bracket) with a warning
    try:
        return np.array([s[:-1] for s in values], dtype="datetime64[ms]").astype(np.float64)
    except ValueError:  # e.g. 30 February: the row-by-row path names the row
        return None


def _one_timestamp_ms(value: Any, row: int, found: Faults) -> int:
    kind = type(value)
    if kind is str:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            found.add(row, "bad_timestamp", f"timestamp: {show(value)} is not an ISO 8601 timestamp")
            return 0
        if moment.tzinfo is None:
            found.add(row, "bad_timestamp", f"timestamp: {show(value)} has no 'Z' or UTC offset")
            return 0
        ms = (moment - _EPOCH) // _ONE_MS
    elif kind is int or kind is float:
        ms = round(value * 1000) if abs(value) < 1e15 else _MAX_MS  # no OverflowError from inf
    else:
        reason = "missing_field" if value is None else "wrong_type"
        found.add(row, reason, f"timestamp: expected an ISO 8601 string or epoch seconds, got {show(value)}")
        return 0
    if not 0 <= ms < _MAX_MS:
        hint = " (milliseconds sent as seconds?)" if kind is not str and ms >= _MAX_MS else ""
        found.add(row, "bad_timestamp", f"timestamp: {show(value)} is outside 1970..2200{hint}")
        return 0
    return ms
