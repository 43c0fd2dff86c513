"""Building prediction and outcome messages (the formats of DESIGN.md, "Messages") from what a model
service has at hand: a pandas DataFrame, a list of dicts, or a dict of columns.

Pure: rows in, JSON bytes out. Rules:
- NaN, None, pandas NA/NaT are a missing value (null); infinities too, since JSON cannot carry them.
- numpy scalars become plain numbers, booleans or strings.
- ids: a column name, a sequence, or None for new uuid4 strings.
- timestamps: a column name, a sequence, one value for all rows, or None for `now`. Each is a
  timezone-aware datetime (sent as ISO 8601 in UTC), epoch seconds, or an ISO string (sent as is,
  the service checks it). A naive datetime is an error: its time zone would be a guess.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

Rows = list[dict[str, Any]]


def as_rows(data: Any) -> Rows:
    """One dict per prediction from a DataFrame, a sequence of mappings or a mapping of columns."""
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a pandas DataFrame, without importing pandas
        return [{str(k): v for k, v in row.items()} for row in data.to_dict("records")]
    if isinstance(data, Mapping):
        columns = {str(name): list(values) for name, values in data.items()}
        lengths = {len(values) for values in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
        return [{name: values[i] for name, values in columns.items()} for i in range(n)]
    if isinstance(data, Iterable) and not isinstance(data, str | bytes):
        rows = list(data)
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise TypeError(f"row {i} is a {type(row).__name__}, not a mapping of column to value")
        return [{str(k): v for k, v in row.items()} for row in rows]
    raise TypeError(f"expected a DataFrame, a list of dicts or a dict of columns, got {type(data).__name__}")


def plain(value: Any) -> Any:
    """A JSON-ready value: numpy scalars unwrapped, every kind of missing value None."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if hasattr(value, "item") and not isinstance(value, datetime):  # numpy scalars
        with contextlib.suppress(ValueError, TypeError):  # a numpy array of several values stays as is
            value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    return value


def column(rows: Rows, spec: Any, what: str, default: Any = None) -> list[Any]:
    """Per-row values of `spec`: a column name of the rows, a sequence aligned with them, or None
    for `default` in every row."""
    if spec is None:
        return [default] * len(rows)
    if isinstance(spec, str):
        missing = next((i for i, row in enumerate(rows) if spec not in row), None)
        if missing is not None:
            known = ", ".join(sorted(rows[missing])[:20])
            raise KeyError(f"{what}: no column {spec!r} in row {missing} (it has: {known})")
        return [row[spec] for row in rows]
    values = list(spec)
    if len(values) != len(rows):
        raise ValueError(f"{what}: {len(values)} values for {len(rows)} rows")
    return values


def new_ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def timestamps(rows: Rows, spec: Any, now: datetime) -> list[Any]:
    """Per-row timestamps: `spec` as `column` reads it, one datetime or number for all, or `now`."""
    if isinstance(spec, datetime | int | float):
        return [_timestamp(spec, 0)] * len(rows)
    values = column(rows, spec, "timestamps", default=now)
    return [_timestamp(v, i) for i, v in enumerate(values)]


def _timestamp(value: Any, row: int) -> Any:
    if hasattr(value, "dtype") and str(getattr(value, "dtype", "")).startswith("datetime64"):
        raise ValueError(
            f"timestamps[{row}]: numpy datetime64 {value} has no time zone: pass timezone-aware datetimes"
        )
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"timestamps[{row}]: naive datetime {value}: make it timezone-aware, e.g. "
                "value.replace(tzinfo=timezone.utc) or, in pandas, .dt.tz_localize('UTC')"
            )
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    value = plain(value)
    if value is None:
        raise ValueError(f"timestamps[{row}]: missing")
    return value


def prediction_messages(
    rows: Rows,
    model: str,
    version: str,
    features: Sequence[str],
    predictions: list[Any],
    scores: list[Any],
    ids: list[str],
    times: list[Any],
    segments: list[Any],
) -> list[bytes]:
    messages = []
    for i, row in enumerate(rows):
        message: dict[str, Any] = {
            "prediction_id": ids[i],
            "model": model,
            "model_version": version,
            "timestamp": times[i],
            "features": {name: plain(row.get(name)) for name in features},
            "prediction": plain(predictions[i]),
        }
        score = plain(scores[i])
        if score is not None:
            message["score"] = score
        segment = plain(segments[i])
        if segment is not None:
            message["segment"] = segment
        messages.append(orjson.dumps(message))
    return messages


def outcome_messages(model: str, ids: list[str], outcomes: list[Any], times: list[Any]) -> list[bytes]:
    return [
        orjson.dumps({"prediction_id": pid, "model": model, "timestamp": at, "outcome": plain(outcome)})
        for pid, outcome, at in zip(ids, outcomes, times, strict=True)
    ]
