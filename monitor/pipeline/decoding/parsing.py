"""Raw messages to records on the reference path (`orjson.loads`): each message is parsed, or
rejected with the reason it could not be (see monitor.pipeline.events)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import orjson

from monitor.pipeline.decoding.columns import Faults, show
from monitor.pipeline.decoding.rejects import Rejected


class Part:
    """The parsed records of one chunk, with their input positions."""

    def __init__(self, records: list[dict[str, Any]], positions: list[int]) -> None:
        self.records, self.positions = records, positions
        self.faults = Faults()


def parse_chunk(
    raws: list[Any], positions: Sequence[int], max_bytes: int, out: list[tuple[int, Rejected]]
) -> list[Part]:
    """The records of one chunk that parse as JSON objects; the other messages go to `out`."""
    records: list[dict[str, Any]] = []
    at: list[int] = []
    for raw, position in zip(raws, positions, strict=True):
        if len(raw) > max_bytes:
            data = as_bytes(raw)
            out.append((position, Rejected(data, "oversize", f"{len(data)} bytes, over {max_bytes}")))
            continue
        obj = _reference_parse(raw)
        if isinstance(obj, Rejected):
            out.append((position, obj))
        else:
            records.append(obj)
            at.append(position)
    return [Part(records, at)] if records else []


def _reference_parse(raw: Any) -> dict[str, Any] | Rejected:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        obj = _unparsable(as_bytes(raw), str(err))
    if isinstance(obj, Rejected) or type(obj) is dict:
        return obj
    return Rejected(as_bytes(raw), "not_an_object", f"expected a JSON object, got {show(obj)}")


def _unparsable(raw: bytes, error: str) -> Any:
    """A Rejected for a message orjson refused, or the parsed object if only overflow stopped it."""
    if not raw.strip():
        return Rejected(raw, "empty", "empty or whitespace-only message")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return Rejected(raw, "invalid_utf8", f"byte {err.start} is not valid UTF-8")
    if "infinity" not in error and "NaN" not in text and "Infinity" not in text:
        return Rejected(raw, "invalid_json", error)
    # orjson refuses NaN/Infinity tokens (not JSON) and numbers beyond float range (valid JSON).
    # The stdlib parser takes both: tokens are rejected naming the field; overflowing numbers
    # become inf, rejected only where a configured field uses them (the native path leaves them here).
    tokens: list[str] = []

    def constant(token: str) -> float:
        tokens.append(token)
        return math.nan

    try:
        obj = json.loads(text, parse_constant=constant, parse_int=_int_like_orjson)
        orjson.dumps(obj)  # whatever else orjson refuses (lone surrogates) fails here
    except (ValueError, TypeError, RecursionError):
        return Rejected(raw, "invalid_json", error)
    if tokens:
        return Rejected(raw, "non_finite", f"{_non_finite_path(obj)}: {tokens[0]} is not a JSON number")
    return obj


def _int_like_orjson(text: str) -> int | float:
    value = int(text) if len(text) <= 21 else None
    if value is None or not -(2**63) <= value < 2**64:
        return float(text)  # orjson turns integers beyond 64 bits into floats (or inf)
    return value


def _non_finite_path(root: Any) -> str:
    stack: list[tuple[str, Any]] = [("", root)]
    while stack:
        path, value = stack.pop()
        if type(value) is float and not math.isfinite(value):
            return path or "(top level)"
        if type(value) is dict:
            stack.extend((f"{path}.{k}" if path else k, v) for k, v in reversed(value.items()))
        elif type(value) is list:
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(value))))
    return "(top level)"


def as_bytes(raw: Any) -> bytes:
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogatepass")
    return bytes(raw)


def top_columns(part: Part, fields: tuple[str, ...], optional: tuple[str, ...]) -> list[Sequence[Any]]:
    """One sequence per field (required then optional), in record order."""
    records = part.records
    return _required(records, fields, part.faults) + [[o.get(f) for o in records] for f in optional]


def _required(objs: list[dict[str, Any]], fields: tuple[str, ...], faults: Faults) -> list[Sequence[Any]]:
    get = itemgetter(*fields)
    try:
        rows = list(map(get, objs))
    except KeyError:
        rows = []
        for row, obj in enumerate(objs):
            missing = [f for f in fields if f not in obj]
            if missing:
                faults.add(row, "missing_field", f"{missing[0]}: required field is absent")
            rows.append(tuple(obj.get(f) for f in fields))
    return list(zip(*rows, strict=True))
