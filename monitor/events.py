"""Batched, columnar decoding of prediction and outcome messages (formats in DESIGN.md, "Messages").

A batch of raw messages (Kafka record values, JSONL lines) becomes numpy columns grouped by model
(and model version), plus a list of `Rejected` messages that keep their original bytes and carry a
reason code from `REJECT_REASONS`. Nothing here raises on bad input: every message is either
decoded or rejected, so decoded + rejected == len(messages).

Two parsers, one set of rules. The *reference* path parses with `orjson.loads` and checks the
dicts column by column; it decides every reject. The *typed* path, used when msgspec is
installed, decodes each message straight into a per-model msgspec Struct (tagged by "model"):
types are checked in C while parsing and no dicts are built, which costs about 60% of
`orjson.loads`. A message the typed decoder refuses goes to the reference path, which accepts it
(e.g. a boolean numeric feature) or rejects it with a reason, so the typed path only
accelerates. Both share the column checks (`set(map(type, column))`, one numpy conversion per
block, vectorised range tests; a per-row loop only for a column that fails). Messages go in
chunks of a few hundred so parsed objects die young and stay in the CPU cache.

Rules worth knowing:
- empty or whitespace-only messages are returned as `Rejected(reason="empty")` (so counts add
  up); `JsonlDeadLetters` counts them but does not store them.
- a configured feature that is absent or null is *missing* (NaN / None), not a reject; features
  that are not configured are ignored, and so is the content of unconfigured fields.
- numeric features accept numbers and booleans (as 0/1). Class labels (categorical features,
  classification predictions and outcomes) accept strings, 64-bit integers, booleans ("1"/"0")
  and integral floats below 2**53 (3.0 -> "3"); anything else is `wrong_type`.
- NaN/Infinity tokens anywhere are `non_finite`; a number beyond float range (1e999) is
  `non_finite` where it is used and ignored in an unconfigured field.
- the message keys are fixed by the format ("prediction", "score", "outcome"); the column names
  in `ModelConfig` describe the reference data, not the messages.
- timestamps: ISO 8601 with "Z" or an offset, or a number of epoch seconds; naive strings and
  instants outside 1970..2200 are `bad_timestamp`. ISO strings are truncated to the
  millisecond, epoch-second numbers rounded to it.
- `known_versions=None` accepts any version; otherwise a model missing from the mapping has no
  known version, so its messages are `unknown_version`.
- batches and rejects keep input order; a required field that is null is `missing_field`.
- one known difference between the paths: msgspec skips unconfigured fields unread, so invalid
  UTF-8 *inside an ignored field* is accepted by the typed path and rejected (`invalid_utf8`)
  by the reference path. Checking every byte would cost ~10% of the decode.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import struct
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np
import orjson

from monitor.config import ModelConfig

try:  # the typed path is optional: without msgspec every message takes the reference path
    import msgspec
except ImportError:  # pragma: no cover
    msgspec = None  # type: ignore[assignment]

USE_TYPED_DECODER = msgspec is not None  # tests switch it off to compare both paths

REJECT_REASONS = frozenset(
    {
        "empty",
        "oversize",
        "invalid_utf8",
        "invalid_json",
        "non_finite",
        "not_an_object",
        "missing_field",
        "wrong_type",
        "out_of_range",
        "bad_timestamp",
        "unknown_model",
        "unknown_version",
    }
)

_CHUNK = 256
_MAX_MS = 7_258_118_400_000  # 2200-01-01T00:00:00Z; the lower bound is the epoch
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_NONE = type(None)
_STR: frozenset[type] = frozenset({str})
_DICT: frozenset[type] = frozenset({dict})
_NUMBER: frozenset[type] = frozenset({int, float})
_VERSION: frozenset[type] = frozenset({str, int})
_LABEL_OR_NULL: frozenset[type] = frozenset({str, _NONE})
_INT_LABEL: frozenset[type] = frozenset({str, int, bool, _NONE})
_NUMBER_OR_NULL: frozenset[type] = frozenset({int, float, _NONE})
_NUMERIC_FEATURE: frozenset[type] = frozenset({int, float, bool, _NONE})
_TYPED_ERRORS: tuple[type[BaseException], ...] = (
    (msgspec.DecodeError, UnicodeError, RecursionError) if msgspec is not None else ()
)


@dataclass(frozen=True)
class Rejected:
    """A message that could not be decoded: its original bytes, a reason code, a human detail."""

    raw: bytes
    reason: str
    detail: str


@dataclass
class PredictionBatch:
    """Predictions of one (model, model_version), one row per accepted message, in input order."""

    model: str
    model_version: str
    prediction_id: np.ndarray  # object array of str
    timestamp: np.ndarray  # int64 epoch milliseconds, UTC
    features: dict[str, np.ndarray]  # numeric: float64, NaN if missing; categorical: object, None
    prediction: np.ndarray  # classification: object array of str labels; regression: float64
    score: np.ndarray  # float64, NaN where absent
    segment: np.ndarray  # object array, None where absent

    def __len__(self) -> int:
        return len(self.prediction_id)


@dataclass
class OutcomeBatch:
    """Outcomes (ground truth) of one model, one row per accepted message, in input order."""

    model: str
    prediction_id: np.ndarray
    timestamp: np.ndarray
    outcome: np.ndarray  # typed like PredictionBatch.prediction

    def __len__(self) -> int:
        return len(self.prediction_id)


def decode_predictions(
    messages: Sequence[bytes],
    models: Mapping[str, ModelConfig],
    known_versions: Mapping[str, AbstractSet[str]] | None = None,
    max_bytes: int = 1_000_000,
) -> tuple[dict[tuple[str, str], PredictionBatch], list[Rejected]]:
    """Decode prediction messages into batches keyed by (model, model_version), plus the rejects."""
    plans = {name: _FeaturePlan(config) for name, config in models.items()}

    def build(part: _Part, pieces: dict[Any, list[_Columns]]) -> None:
        _prediction_pieces(part, models, plans, known_versions, pieces)

    def finish(key: tuple[str, str], columns: _Columns) -> PredictionBatch:
        plan = plans[key[0]]
        features = dict(zip(plan.numeric, columns["numeric"].T.copy(), strict=True))  # rows contiguous
        features.update((name, columns[f"features.{name}"]) for name in plan.categorical)
        return PredictionBatch(
            model=key[0],
            model_version=key[1],
            prediction_id=columns["prediction_id"],
            timestamp=columns["timestamp"],
            features=features,
            prediction=columns["prediction"],
            score=columns["score"],
            segment=columns["segment"],
        )

    return _decode(messages, _typed_decoder("prediction", _signature(models)), build, finish, max_bytes)


def decode_outcomes(
    messages: Sequence[bytes], models: Mapping[str, ModelConfig], max_bytes: int = 1_000_000
) -> tuple[dict[str, OutcomeBatch], list[Rejected]]:
    """Decode outcome messages into batches keyed by model, plus the rejects."""

    def build(part: _Part, pieces: dict[Any, list[_Columns]]) -> None:
        _outcome_pieces(part, models, pieces)

    def finish(model: str, columns: _Columns) -> OutcomeBatch:
        return OutcomeBatch(model, columns["prediction_id"], columns["timestamp"], columns["outcome"])

    return _decode(messages, _typed_decoder("outcome", _signature(models)), build, finish, max_bytes)


# ------------------------------------------------------------------------------------ the driver

_Columns = dict[str, np.ndarray]  # one group's arrays of one chunk, one row per message


class _Part:
    """Records of one chunk that came through one parser, with their input positions."""

    def __init__(self, records: list[Any], positions: Sequence[int], typed: _Typed | None) -> None:
        self.records, self.positions, self.typed = records, positions, typed
        self.faults = _Faults()


def _decode(
    messages: Sequence[Any], typed: _Typed | None, build: Callable, finish: Callable, max_bytes: int
) -> tuple[dict, list]:
    raws = messages if isinstance(messages, list) else list(messages)
    pieces: dict[Any, list[_Columns]] = {}
    rejected: list[tuple[int, Rejected]] = []
    typed = typed if USE_TYPED_DECODER else None
    for start in range(0, len(raws), _CHUNK):
        chunk = raws[start : start + _CHUNK]
        for part in _parse_chunk(chunk, start, typed, max_bytes, rejected):
            build(part, pieces)
            for row, (reason, detail) in part.faults.found.items():
                at = part.positions[row]
                rejected.append((at, Rejected(_as_bytes(chunk[at - start]), reason, detail)))
    batches = {key: finish(key, _assemble(found)) for key, found in pieces.items()}
    return batches, [r for _, r in sorted(rejected, key=itemgetter(0))]


def _assemble(pieces: list[_Columns]) -> _Columns:
    """One group's chunks joined (in input order: typed and reference rows may interleave)."""
    if len(pieces) == 1:
        return pieces[0]
    columns = {name: np.concatenate([p[name] for p in pieces]) for name in pieces[0]}
    if not (np.diff(columns["position"]) > 0).all():
        order = np.argsort(columns["position"], kind="stable")
        columns = {name: values[order] for name, values in columns.items()}
    return columns


def _add_piece(
    pieces: dict, key: Any, part: _Part, rows: list[int] | None, columns: _Columns, found: _Faults
) -> None:
    """Merge a group's faults into its part's and keep the group's good rows with their positions."""
    at = part.positions
    if rows is None:
        columns["position"] = np.arange(at.start, at.stop) if isinstance(at, range) else np.asarray(at)
    else:
        columns["position"] = np.asarray([at[row] for row in rows])
    for row, fault in found.found.items():
        part.faults.found.setdefault(row if rows is None else rows[row], fault)
    keep = found.good_mask(len(columns["position"]))
    if keep is not None:
        if not keep.any():
            return
        columns = {name: values[keep] for name, values in columns.items()}
    pieces.setdefault(key, []).append(columns)


# ---------------------------------------------------------------------------------------- parsing


def _parse_chunk(
    raws: list[Any], base: int, typed: _Typed | None, max_bytes: int, out: list[tuple[int, Rejected]]
) -> list[_Part]:
    """Typed records and reference dicts of one chunk; messages that cannot be parsed go to `out`."""
    index: Sequence[int] = range(len(raws))  # chunk index of each candidate (all but oversize ones)
    if max(map(len, raws)) > max_bytes:
        index = [i for i, raw in enumerate(raws) if len(raw) <= max_bytes]
        for i in sorted(set(range(len(raws))) - set(index)):
            raw = _as_bytes(raws[i])
            out.append((base + i, Rejected(raw, "oversize", f"{len(raw)} bytes, over {max_bytes}")))
    candidates = raws if len(index) == len(raws) else [raws[i] for i in index]
    if typed is not None:
        records, failed = _decode_each(typed.decode, candidates, _TYPED_ERRORS)
        odd = typed.sentinel in set(map(type, records))
    else:
        records, failed = _decode_each(orjson.loads, candidates, (orjson.JSONDecodeError,))
        odd = set(map(type, records)) != _DICT
    if not failed and not odd and len(index) == len(raws):
        return [_Part(records, range(base, base + len(raws)), typed)]
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
    parts = [_Part(records, positions, typed)] if records else []
    return parts + ([_Part(dicts, dict_at, None)] if dicts else [])


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
        obj = _unparsable(_as_bytes(raw), str(err))
    if isinstance(obj, Rejected) or type(obj) is dict:
        return obj
    return Rejected(_as_bytes(raw), "not_an_object", f"expected a JSON object, got {_show(obj)}")


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


def _as_bytes(raw: Any) -> bytes:
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogatepass")
    return bytes(raw)


# ------------------------------------------------------------------------- typed (msgspec) decoder


def _signature(models: Mapping[str, ModelConfig]) -> tuple:
    return tuple((n, m.task, tuple((f.name, f.kind) for f in m.features)) for n, m in models.items())


class _Typed(NamedTuple):
    decode: Callable[[Any], Any]
    model_of: dict[type, str]  # Struct class -> model name
    sentinel: type  # decoded only from a message whose "model" is "\x00": sent to the reference path


@functools.lru_cache(maxsize=64)
def _typed_decoder(kind: str, signature: tuple) -> _Typed | None:
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
    return _Typed(decoder.decode, classes, sentinel)


def _top_columns(part: _Part, fields: tuple[str, ...], optional: tuple[str, ...]) -> list[Sequence[Any]]:
    """One sequence per field (required then optional), "model" second, in record order."""
    records = part.records
    if part.typed is None:
        return _required(records, fields, part.faults) + [[o.get(f) for o in records] for f in optional]
    columns: list[Sequence[Any]] = list(zip(*map(msgspec.structs.astuple, records), strict=True))
    names = list(map(part.typed.model_of.__getitem__, map(type, records)))  # the tag is the model
    return [columns[0], names, *columns[1:]]


def _required(objs: list[dict[str, Any]], fields: tuple[str, ...], faults: _Faults) -> list[Sequence[Any]]:
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


# ------------------------------------------------------------------------------ per model group

_PREDICTION_FIELDS = ("prediction_id", "model", "model_version", "timestamp", "features", "prediction")
_OUTCOME_FIELDS = ("prediction_id", "model", "timestamp", "outcome")


class _FeaturePlan:
    """The configured features of one model, numeric first (the order of the typed Struct)."""

    def __init__(self, config: ModelConfig) -> None:
        self.numeric = [f.name for f in config.features if f.kind == "numeric"]
        self.categorical = [f.name for f in config.features if f.kind != "numeric"]
        self.get_numeric = _tuple_getter(self.numeric)
        self.get_categorical = _tuple_getter(self.categorical)
        self.classification = config.task == "classification"


def _tuple_getter(names: list[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    if len(names) == 1:
        (name,) = names
        return lambda record: (record[name],)
    return itemgetter(*names) if names else lambda record: ()


def _prediction_pieces(
    part: _Part,
    models: Mapping[str, ModelConfig],
    plans: Mapping[str, _FeaturePlan],
    known_versions: Mapping[str, AbstractSet[str]] | None,
    pieces: dict,
) -> None:
    faults, typed = part.faults, part.typed is not None
    ids, names, versions, times, features, predictions, scores, segments = _top_columns(
        part, _PREDICTION_FIELDS, ("score", "segment")
    )
    _check_ids_and_models(ids, names, typed, faults)
    if not typed:
        _check_types(versions, _VERSION, "model_version", "a string", faults)
        _check_types(features, _DICT, "features", "an object", faults)
    if int in set(map(type, versions)):
        versions = [str(v) if type(v) is int else v for v in versions]
    for (model, version), rows in _group_rows(names, versions, faults).items():
        if model not in models:
            faults.add_all(rows, len(ids), "unknown_model", f"model: {model!r} is not configured")
            continue
        if known_versions is not None and version not in known_versions.get(model, ()):
            detail = f"model_version: {version!r} is not a known version of model {model!r}"
            faults.add_all(rows, len(ids), "unknown_version", detail)
            continue
        plan, found = plans[model], _Faults()
        columns = _feature_columns(_take(features, rows), plan, typed, found)
        columns["prediction_id"] = np.array(_take(ids, rows), dtype=object)
        columns["timestamp"] = _timestamps_ms(_take(times, rows), found)
        columns["prediction"] = _target_column(
            _take(predictions, rows), plan.classification, "prediction", found
        )
        columns["score"] = _score_column(_take(scores, rows), found)
        columns["segment"] = _segment_column(_take(segments, rows), found)
        _add_piece(pieces, (model, version), part, rows, columns, found)


def _outcome_pieces(part: _Part, models: Mapping[str, ModelConfig], pieces: dict) -> None:
    faults = part.faults
    ids, names, times, outcomes = _top_columns(part, _OUTCOME_FIELDS, ())
    _check_ids_and_models(ids, names, part.typed is not None, faults)
    for (model, _), rows in _group_rows(names, None, faults).items():
        if model not in models:
            faults.add_all(rows, len(ids), "unknown_model", f"model: {model!r} is not configured")
            continue
        found = _Faults()
        classification = models[model].task == "classification"
        columns = {
            "prediction_id": np.array(_take(ids, rows), dtype=object),
            "timestamp": _timestamps_ms(_take(times, rows), found),
            "outcome": _target_column(_take(outcomes, rows), classification, "outcome", found),
        }
        _add_piece(pieces, model, part, rows, columns, found)


def _feature_columns(records: Sequence[Any], plan: _FeaturePlan, typed: bool, found: _Faults) -> _Columns:
    """The numeric features as one (rows x features) float64 matrix, plus one array per label feature."""
    width, labelled = len(plan.numeric), len(plan.categorical)
    if typed:  # numeric fields come first in the typed Struct; msgspec has checked their types
        rows = list(map(msgspec.structs.astuple, records))
        matrix = _typed_float_matrix(rows, width, labelled)
        labels = list(zip(*map(itemgetter(slice(width, None)), rows), strict=True)) if labelled else []
    else:
        matrix = _float_matrix(_feature_rows(records, plan.numeric, plan.get_numeric), plan.numeric, found)
        labels = list(zip(*_feature_rows(records, plan.categorical, plan.get_categorical), strict=True))
    if np.isinf(matrix).any():  # only from numbers beyond float range such as 1e999
        for row, j in zip(*np.nonzero(np.isinf(matrix)), strict=True):
            found.add(int(row), "non_finite", f"features.{plan.numeric[j]}: number beyond float range")
    columns = {"numeric": matrix}
    for name, column in zip(plan.categorical, labels, strict=True):
        columns[f"features.{name}"] = _label_column(column, f"features.{name}", found, nullable=True)
    return columns


def _feature_rows(
    records: Sequence[dict[str, Any]], names: list[str], get: Callable
) -> list[tuple[Any, ...]]:
    try:
        return list(map(get, records))
    except KeyError:  # a feature absent somewhere: pay for per-key lookups only then
        return [tuple([d.get(name) for name in names]) for d in records]


def _typed_float_matrix(rows: list[tuple[Any, ...]], width: int, labelled: int) -> np.ndarray:
    """The numeric head of each typed row (numbers, booleans or None) as a float64 matrix."""
    # struct.pack converts the whole block in one C call; "?" swallows each row's trailing label
    # values (it takes any object), and a None makes it raise, leaving the block to numpy.
    n = len(rows)
    if width == 0:
        return np.empty((n, 0))
    packer, layout = _row_packer(n, width, labelled)
    try:
        return np.frombuffer(packer.pack(*chain.from_iterable(rows)), dtype=layout)["numbers"]
    except struct.error:
        return np.array([row[:width] for row in rows], dtype=np.float64).reshape(n, width)


@functools.lru_cache(maxsize=256)
def _row_packer(n: int, width: int, labelled: int) -> tuple[struct.Struct, np.dtype]:
    layout = np.dtype([("numbers", "<f8", (width,)), ("labels", "u1", (labelled,))])
    return struct.Struct("<" + f"{width}d{labelled}?" * n), layout


def _float_matrix(rows: list[tuple[Any, ...]], names: list[str], found: _Faults) -> np.ndarray:
    """Numeric feature values of dicts as a float64 matrix; values of other types are found."""
    # struct.pack is strict: it takes numbers and booleans and raises on None, strings and
    # containers, which then go to the per-column check.
    n, width = len(rows), len(names)
    try:
        return np.frombuffer(struct.pack(f"<{n * width}d", *chain.from_iterable(rows)), "<f8").reshape(
            n, width
        )
    except (struct.error, OverflowError):
        pass
    columns = [_numeric_values([r[j] for r in rows], name, found) for j, name in enumerate(names)]
    return np.column_stack(columns) if columns else np.empty((n, 0))


def _numeric_values(values: list[Any], name: str, found: _Faults) -> np.ndarray:
    if not set(map(type, values)) <= _NUMERIC_FEATURE:
        for row, value in enumerate(values):
            if type(value) not in _NUMERIC_FEATURE:
                found.add(row, "wrong_type", f"features.{name}: expected a number, got {_show(value)}")
                values[row] = None
    return np.array(values, dtype=np.float64)


# ---------------------------------------------------------------------------------- column checks


class _Faults:
    """Row index -> (reason, detail); the first fault found for a row wins."""

    def __init__(self) -> None:
        self.found: dict[int, tuple[str, str]] = {}

    def add(self, row: int, reason: str, detail: str) -> None:
        self.found.setdefault(row, (reason, detail))

    def add_all(self, rows: list[int] | None, n: int, reason: str, detail: str) -> None:
        for row in range(n) if rows is None else rows:
            self.add(row, reason, detail)

    def good_mask(self, n: int) -> np.ndarray | None:
        if not self.found:
            return None
        keep = np.ones(n, dtype=bool)
        keep[list(self.found)] = False
        return keep


def _check_types(
    values: Sequence[Any], allowed: frozenset[type], field: str, expected: str, faults: _Faults
) -> None:
    if set(map(type, values)) <= allowed:
        return
    for row, value in enumerate(values):
        if type(value) not in allowed:
            if value is None:
                faults.add(row, "missing_field", f"{field}: is null")
            else:
                faults.add(row, "wrong_type", f"{field}: expected {expected}, got {_show(value)}")


def _check_ids_and_models(ids: Sequence[Any], names: Sequence[Any], typed: bool, faults: _Faults) -> None:
    if not typed:  # the typed decoder checked these types already
        _check_types(ids, _STR, "prediction_id", "a string", faults)
        _check_types(names, _STR, "model", "a string", faults)
    if not all(ids):
        for row, value in enumerate(ids):
            if type(value) is str and not value:
                faults.add(row, "missing_field", "prediction_id: is an empty string")


def _group_rows(names: Sequence[Any], versions: Sequence[Any] | None, faults: _Faults) -> dict[tuple, Any]:
    """Rows by (model, version), skipping rows already at fault; None means all rows."""
    if not faults.found and len(set(names)) == 1 and (versions is None or len(set(versions)) == 1):
        return {(names[0], None if versions is None else versions[0]): None}
    groups: dict[tuple, list[int]] = {}
    for row, key in enumerate(zip(names, versions or [None] * len(names), strict=True)):
        if row not in faults.found:
            groups.setdefault(key, []).append(row)
    return groups


def _take(values: Sequence[Any], rows: list[int] | None) -> Sequence[Any]:
    return values if rows is None else [values[row] for row in rows]


def _label_column(values: Sequence[Any], field: str, found: _Faults, nullable: bool) -> np.ndarray:
    allowed = _LABEL_OR_NULL if nullable else _STR
    kinds = set(map(type, values))
    if not kinds <= allowed and kinds <= _INT_LABEL:
        # Few distinct values: normalise each once. 1 and True hash alike and map alike ("1");
        # floats are left to the row loop, since 2.0 == 2 but a float label has its own rules.
        labels = {v: _label(v) for v in set(values)}
        values = list(map(labels.__getitem__, values))
        kinds = set(map(type, values))
    if not kinds <= allowed:
        values = [_label(v) for v in values]
        for row, value in enumerate(values):
            if type(value) is str or (value is None and nullable):
                continue
            if value is None:
                found.add(row, "missing_field", f"{field}: is null")
            else:
                found.add(
                    row, "wrong_type", f"{field}: expected a string or integer label, got {_show(value)}"
                )
                values[row] = None
    return np.array(values, dtype=object)


def _label(value: Any) -> Any:
    """A label's string form; None stays None; anything that is not a label is returned as is."""
    kind = type(value)
    if kind is bool:
        return "1" if value else "0"
    if kind is int and -(2**63) <= value < 2**64:
        return str(value)
    if kind is float and value.is_integer() and abs(value) <= 2**53:
        return str(int(value))
    return value


def _target_column(values: Sequence[Any], classification: bool, field: str, found: _Faults) -> np.ndarray:
    if classification:
        return _label_column(values, field, found, nullable=False)
    return _number_column(values, _NUMBER, field, found)


def _number_column(values: Sequence[Any], allowed: frozenset[type], field: str, found: _Faults) -> np.ndarray:
    if not set(map(type, values)) <= allowed:
        values = list(values)
        for row, value in enumerate(values):
            if type(value) not in allowed:
                reason = "missing_field" if value is None else "wrong_type"
                found.add(row, reason, f"{field}: expected a number, got {_show(value)}")
                values[row] = None
    numbers = np.array(values, dtype=np.float64)
    for at in np.flatnonzero(np.isinf(numbers)):
        found.add(int(at), "non_finite", f"{field}: number beyond float range")
    return numbers


def _score_column(values: Sequence[Any], found: _Faults) -> np.ndarray:
    scores = _number_column(values, _NUMBER_OR_NULL, "score", found)
    for at in np.flatnonzero((scores < 0.0) | (scores > 1.0)):  # NaN (absent) compares False
        found.add(int(at), "out_of_range", f"score: {scores[at]!r} is outside [0, 1]")
    return scores


def _segment_column(values: Sequence[Any], found: _Faults) -> np.ndarray:
    if not set(map(type, values)) <= _LABEL_OR_NULL:
        values = list(values)
        for row, value in enumerate(values):
            if type(value) not in _LABEL_OR_NULL:
                found.add(row, "wrong_type", f"segment: expected a string, got {_show(value)}")
                values[row] = None
    return np.array(values, dtype=object)


# ------------------------------------------------------------------------------------- timestamps


def _timestamps_ms(values: Sequence[Any], found: _Faults) -> np.ndarray:
    kinds = set(map(type, values))
    millis = None
    if kinds == _STR:
        millis = _iso_utc_fast(values)
    elif kinds <= _NUMBER:
        millis = np.rint(np.array(values, dtype=np.float64) * 1000.0)
    if millis is not None and ((millis >= 0) & (millis < _MAX_MS)).all():
        return millis.astype(np.int64)
    out = np.zeros(len(values), dtype=np.int64)
    for row, value in enumerate(values):
        out[row] = _one_timestamp_ms(value, row, found)
    return out


def _iso_utc_fast(values: Sequence[str]) -> np.ndarray | None:
    """Epoch ms of "YYYY-MM-DDTHH:MM:SS[.fff]Z" strings that share one length, else None.

    numpy's datetime parser is fast but lenient (it also takes "now", bare years and offsets), so
    it only sees strings whose separators sit where this layout puts them; strided slices of the
    joined strings check every row at C speed.
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
    try:
        return np.array([s[:-1] for s in values], dtype="datetime64[ms]").astype(np.float64)
    except ValueError:  # e.g. 30 February: the row-by-row path names the row
        return None


def _one_timestamp_ms(value: Any, row: int, found: _Faults) -> int:
    kind = type(value)
    if kind is str:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            found.add(row, "bad_timestamp", f"timestamp: {_show(value)} is not an ISO 8601 timestamp")
            return 0
        if moment.tzinfo is None:
            found.add(row, "bad_timestamp", f"timestamp: {_show(value)} has no 'Z' or UTC offset")
            return 0
        ms = (moment - _EPOCH) // _ONE_MS
    elif kind is int or kind is float:
        ms = round(value * 1000) if abs(value) < 1e15 else _MAX_MS  # no OverflowError from inf
    else:
        reason = "missing_field" if value is None else "wrong_type"
        found.add(row, reason, f"timestamp: expected an ISO 8601 string or epoch seconds, got {_show(value)}")
        return 0
    if not 0 <= ms < _MAX_MS:
        hint = " (milliseconds sent as seconds?)" if kind is not str and ms >= _MAX_MS else ""
        found.add(row, "bad_timestamp", f"timestamp: {_show(value)} is outside 1970..2200{hint}")
        return 0
    return ms


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) in (dict, list):
        return "an object" if type(value) is dict else "an array"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
