"""Raw messages to records. The typed path decodes each message into a per-model msgspec Struct
tagged by "model" (types checked in C, no dicts built); whatever it refuses goes to the reference
path (`orjson.loads`), which accepts it or decides its reject reason (see monitor.events)."""

from __future__ import annotations

import functools
import json
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

import msgspec
import orjson

from monitor.config import ModelConfig
from monitor.decoding.columns import DICT, Faults, show
from monitor.decoding.rejects import Rejected

_TYPED_ERRORS: tuple[type[BaseException], ...] = (
    msgspec.DecodeError,
    UnicodeError,
    RecursionError,
)


class Part:
    """Records of one chunk that came through one parser, with their input positions."""

    def __init__(self, records: list[Any], positions: Sequence[int], typed: Typed | None) -> None:
        self.records, self.positions, self.typed = records, positions, typed
        self.faults = Faults()


def parse_chunk(
    raws: list[Any], base: int, typed: Typed | None, max_bytes: int, out: list[tuple[int, Rejected]]
) -> list[Part]:
    """Typed records and reference dicts of one chunk; messages that cannot be parsed go to `out`."""
    index: Sequence[int] = range(len(raws))  # chunk index of each candidate (all but oversize ones)
    if max(map(len, raws)) > max_bytes:
        index = [i for i, raw in enumerate(raws) if len(raw) <= max_bytes]
        for i in sorted(set(range(len(raws))) - set(index)):
            raw = as_bytes(raws[i])
            out.append((base + i, Rejected(raw, "oversize", f"{len(raw)} bytes, over {max_bytes}")))
    candidates = raws if len(index) == len(raws) else [raws[i] for i in index]
    if typed is not None:
        records, failed = _decode_each(typed.decode, candidates, _TYPED_ERRORS)
        odd = typed.sentinel in set(map(type, records))
    else:
        records, failed = _decode_each(orjson.loads, candidates, (orjson.JSONDecodeError,))
        odd = set(map(type, records)) != DICT
    if not failed and not odd and len(index) == len(raws):
        return [Part(records, range(base, base + len(raws)), typed)]
    # Rare: some messages need the reference path. Find every record's position again.
    skip = set(failed)
    positions = [base + index[c] for c in range(len(candidates)) if c not in skip]
    retry = [base + index[c] for c in failed]
    if odd:
        fits = [(type(r) is not typed.sentinel) if typed else (type(r) is dict) for r in records]
        retry += [at for at, ok in zip(positions, fits, strict=True) if not ok]
        records = [r for r, ok in zip(records, fits, strict=True) if ok]
        positions = [at for at, ok in zip(positions, fits, strict=True) if ok]
    dicts, dict_at = [], []
    for at in sorted(retry):
        obj = _reference_parse(raws[at - base])
        if isinstance(obj, Rejected):
            out.append((at, obj))
        else:
            dicts.append(obj)
            dict_at.append(at)
    parts = [Part(records, positions, typed)] if records else []
    return parts + ([Part(dicts, dict_at, None)] if dicts else [])


def _decode_each(decode: Callable, raws: Sequence[Any], errors: tuple) -> tuple[list[Any], list[int]]:
    """decode() of every message in one C-level loop; the indices of those that raised, apart."""
    records: list[Any] = []
    failed: list[int] = []
    remaining = iter(raws)
    while True:
        try:
            records.extend(map(decode, remaining))  # keeps what it decoded before an exception
            return records, failed
        except errors:
            failed.append(len(records) + len(failed))


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
    # become inf, rejected only where a configured field uses them (as the typed path does).
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


def signature(models: Mapping[str, ModelConfig]) -> tuple:
    return tuple((n, m.task, tuple((f.name, f.kind) for f in m.features)) for n, m in models.items())


class Typed(NamedTuple):
    decode: Callable[[Any], Any]
    model_of: dict[type, str]  # Struct class -> model name
    sentinel: type  # decoded only from a message whose "model" is "\x00": sent to the reference path


@functools.lru_cache(maxsize=64)
def typed_decoder(kind: str, signature: tuple) -> Typed | None:
    """A msgspec decoder of a union of per-model Structs tagged by "model"."""
    if msgspec is None or not signature:
        return None
    label: Any = str | int | float | bool
    classes: dict[type, str] = {}
    for i, (model, task, features) in enumerate(signature):
        target = label if task == "classification" else float
        if kind == "prediction":
            # Numeric fields first, so that astuple() yields the numeric block then the labels;
            # Python names f0, f1... let any feature name work, `rename` maps them to JSON keys.
            ordered = [n for n, k in features if k == "numeric"] + [n for n, k in features if k != "numeric"]
            numeric = {n for n, k in features if k == "numeric"}
            typed_features = msgspec.defstruct(
                f"features_{i}",
                [  # an absent numeric feature is NaN at once, sparing the None fallback below
                    (f"f{j}", float | bool | None, math.nan)
                    if n in numeric
                    else (f"f{j}", label | None, None)
                    for j, n in enumerate(ordered)
                ],
                rename={f"f{j}": n for j, n in enumerate(ordered)},
                gc=False,
            )
            fields: list[Any] = [
                ("prediction_id", str),
                ("model_version", str | int),
                ("timestamp", str | int | float),
                ("features", typed_features),
                ("prediction", target),
                ("score", float | None, None),
                ("segment", str | None, None),
            ]
        else:
            fields = [("prediction_id", str), ("timestamp", str | int | float), ("outcome", target)]
        classes[msgspec.defstruct(f"{kind}_{i}", fields, tag_field="model", tag=model, gc=False)] = model
    # A lone tagged Struct accepts a message without "model"; an unmatchable second tag forces the check.
    sentinel = msgspec.defstruct("no_model", [], tag_field="model", tag="\x00", gc=False)
    decoder: Any = msgspec.json.Decoder(functools.reduce(operator.or_, [*classes, sentinel]))
    return Typed(decoder.decode, classes, sentinel)


def top_columns(part: Part, fields: tuple[str, ...], optional: tuple[str, ...]) -> list[Sequence[Any]]:
    """One sequence per field (required then optional), "model" second, in record order."""
    records = part.records
    if part.typed is None:
        return _required(records, fields, part.faults) + [[o.get(f) for o in records] for f in optional]
    columns: list[Sequence[Any]] = list(zip(*map(msgspec.structs.astuple, records), strict=True))
    names = list(map(part.typed.model_of.__getitem__, map(type, records)))  # the tag is the model
    return [columns[0], names, *columns[1:]]


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
