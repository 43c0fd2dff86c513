"""Batched, columnar decoding of prediction and outcome messages (formats in DESIGN.md, "Messages").

A batch of raw messages (Kafka record values, JSONL lines) becomes numpy columns grouped by model
(and model version), plus a list of `Rejected` messages that keep their original bytes and carry a
reason code from `REJECT_REASONS`. Nothing here raises on bad input: every message is either
decoded or rejected, so decoded + rejected == len(messages).

Two decoders, one set of rules. The *reference* path parses with `orjson.loads` and checks the
dicts column by column; it decides every reject. The *native* path, the default, is a C scanner
(monitor.pipeline.decoding.scan) that reads a whole batch straight into columns, with labels coded over
a per-batch vocabulary, and builds no per-message objects but the prediction ids. It accepts a
strict subset of what the reference accepts (no escapes in keys, no duplicate keys, the
common timestamp layouts...) and gives the same values for it; every other message goes to the
reference path, so the native path only accelerates. The reference path checks column by
column: `set(map(type, column))`, one numpy conversion per block, vectorised range tests, and a
per-row loop only for a column that fails. The parsers live in
monitor.pipeline.decoding.scan and .parsing, the column checks in .columns, .features and .timestamps.

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
- a finite number past the accepted range (|x| > 1e100, monitor.core.limits, which says why) in
  a numeric feature or a regression prediction or outcome is `value_out_of_range`; a score has
  its own range, [0, 1] (`out_of_range`).
- the message keys are fixed by the format ("prediction", "score", "outcome"); the column names
  in `ModelConfig` describe the reference data, not the messages.
- timestamps: ISO 8601 with "Z" or an offset, or a number of epoch seconds; naive strings and
  instants outside 1970..2200 are `bad_timestamp`. ISO strings are truncated to the
  millisecond, epoch-second numbers rounded to it. With `not_after_ms` (the service passes its
  clock plus `sources.max_future`), a later instant is `future_timestamp`; past ones are fine.
- `known_versions=None` accepts any version; otherwise a model missing from the mapping has no
  known version, so its messages are `unknown_version`.
- batches and rejects keep input order; a required field that is null is `missing_field`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from operator import itemgetter
from typing import Any

import numpy as np

from monitor.config import ModelConfig
from monitor.pipeline.decoding.columns import (
    DICT,
    VERSION,
    Columns,
    Faults,
    check_ids_and_models,
    check_types,
    group_rows,
    refuse_nul,
    score_column,
    segment_column,
    take,
    target_column,
)
from monitor.pipeline.decoding.features import FeaturePlan, feature_columns
from monitor.pipeline.decoding.parsing import Part, as_bytes, parse_chunk, top_columns
from monitor.pipeline.decoding.rejects import REJECT_REASONS, Rejected
from monitor.pipeline.decoding.scan import Scanned, scan_outcomes, scan_predictions
from monitor.pipeline.decoding.timestamps import timestamps_ms

__all__ = [
    "REJECT_REASONS",
    "OutcomeBatch",
    "PredictionBatch",
    "Rejected",
    "decode_outcomes",
    "decode_predictions",
]

USE_NATIVE_DECODER = True  # tests switch it off to compare both paths


_CHUNK = 256


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
    position: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # input index per row

    def __len__(self) -> int:
        return len(self.prediction_id)


@dataclass
class OutcomeBatch:
    """Outcomes (ground truth) of one model, one row per accepted message, in input order."""

    model: str
    prediction_id: np.ndarray
    timestamp: np.ndarray
    outcome: np.ndarray  # typed like PredictionBatch.prediction
    position: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # input index per row

    def __len__(self) -> int:
        return len(self.prediction_id)


def decode_predictions(
    messages: Sequence[bytes],
    models: Mapping[str, ModelConfig],
    known_versions: Mapping[str, AbstractSet[str]] | None = None,
    max_bytes: int = 1_000_000,
    not_after_ms: int | None = None,
) -> tuple[dict[tuple[str, str], PredictionBatch], list[Rejected]]:
    """Decode prediction messages into batches keyed by (model, model_version), plus the rejects.
    `not_after_ms`: the latest event time accepted (later is `future_timestamp`), None for no bound."""
    plans = {name: FeaturePlan(config) for name, config in models.items()}

    def build(part: Part, pieces: dict[Any, list[Columns]]) -> None:
        _prediction_pieces(part, models, plans, known_versions, pieces, not_after_ms)

    def finish(key: tuple[str, str], columns: Columns) -> PredictionBatch:
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
            position=columns["position"],
        )

    def scan(raws: list[Any]) -> Scanned:
        return scan_predictions(raws, models, known_versions, max_bytes, not_after_ms)

    return _decode(messages, scan, build, finish, max_bytes)


def decode_outcomes(
    messages: Sequence[bytes],
    models: Mapping[str, ModelConfig],
    max_bytes: int = 1_000_000,
    not_after_ms: int | None = None,
) -> tuple[dict[str, OutcomeBatch], list[Rejected]]:
    """Decode outcome messages into batches keyed by model, plus the rejects (`not_after_ms` as
    for predictions)."""

    def build(part: Part, pieces: dict[Any, list[Columns]]) -> None:
        _outcome_pieces(part, models, pieces, not_after_ms)

    def finish(model: str, columns: Columns) -> OutcomeBatch:
        return OutcomeBatch(
            model, columns["prediction_id"], columns["timestamp"], columns["outcome"], columns["position"]
        )

    def scan(raws: list[Any]) -> Scanned:
        return scan_outcomes(raws, models, max_bytes, not_after_ms)

    return _decode(messages, scan, build, finish, max_bytes)


def _decode(
    messages: Sequence[Any], scan: Callable, build: Callable, finish: Callable, max_bytes: int
) -> tuple[dict, list]:
    raws = messages if isinstance(messages, list) else list(messages)
    pieces: dict[Any, list[Columns]] = {}
    rest: Sequence[int] = range(len(raws))  # input positions left to the reference path
    if USE_NATIVE_DECODER and raws:
        scanned = scan(raws)
        pieces = {key: [columns] for key, columns in scanned.groups.items()}
        rest = scanned.rest.tolist()
    rejected: list[tuple[int, Rejected]] = []
    for begin in range(0, len(rest), _CHUNK):
        at = rest[begin : begin + _CHUNK]
        chunk = [raws[i] for i in at]
        for part in parse_chunk(chunk, at, max_bytes, rejected):
            build(part, pieces)
            for row, (reason, detail) in part.faults.found.items():
                position = part.positions[row]
                rejected.append((position, Rejected(as_bytes(raws[position]), reason, detail)))
    batches = {key: finish(key, _assemble(found)) for key, found in pieces.items()}
    return batches, [replace(r, position=at) for at, r in sorted(rejected, key=itemgetter(0))]


def _assemble(pieces: list[Columns]) -> Columns:
    """One group's pieces joined (in input order: native and reference rows may interleave)."""
    if len(pieces) == 1:
        return pieces[0]
    columns = {name: np.concatenate([p[name] for p in pieces]) for name in pieces[0]}
    if not (np.diff(columns["position"]) > 0).all():
        order = np.argsort(columns["position"], kind="stable")
        columns = {name: values[order] for name, values in columns.items()}
    return columns


def _add_piece(
    pieces: dict, key: Any, part: Part, rows: list[int] | None, columns: Columns, found: Faults
) -> None:
    """Merge a group's faults into its part's and keep the group's good rows with their positions."""
    at = part.positions
    columns["position"] = np.asarray(at if rows is None else [at[row] for row in rows])
    for row, fault in found.found.items():
        part.faults.found.setdefault(row if rows is None else rows[row], fault)
    keep = found.good_mask(len(columns["position"]))
    if keep is not None:
        if not keep.any():
            return
        columns = {name: values[keep] for name, values in columns.items()}
    pieces.setdefault(key, []).append(columns)


_PREDICTION_FIELDS = ("prediction_id", "model", "model_version", "timestamp", "features", "prediction")


_OUTCOME_FIELDS = ("prediction_id", "model", "timestamp", "outcome")


def _prediction_pieces(
    part: Part,
    models: Mapping[str, ModelConfig],
    plans: Mapping[str, FeaturePlan],
    known_versions: Mapping[str, AbstractSet[str]] | None,
    pieces: dict,
    not_after_ms: int | None,
) -> None:
    faults = part.faults
    ids, names, versions, times, features, predictions, scores, segments = top_columns(
        part, _PREDICTION_FIELDS, ("score", "segment")
    )
    check_ids_and_models(ids, names, faults)
    check_types(versions, VERSION, "model_version", "a string", faults)
    refuse_nul(versions, "model_version", faults)
    check_types(features, DICT, "features", "an object", faults)
    if int in set(map(type, versions)):
        versions = [str(v) if type(v) is int else v for v in versions]
    for (model, version), rows in group_rows(names, versions, faults).items():
        if model not in models:
            faults.add_all(rows, len(ids), "unknown_model", f"model: {model!r} is not configured")
            continue
        if known_versions is not None and version not in known_versions.get(model, ()):
            detail = f"model_version: {version!r} is not a known version of model {model!r}"
            faults.add_all(rows, len(ids), "unknown_version", detail)
            continue
        plan, found = plans[model], Faults()
        columns = feature_columns(take(features, rows), plan, found)
        columns["prediction_id"] = np.array(take(ids, rows), dtype=object)
        columns["timestamp"] = timestamps_ms(take(times, rows), found, not_after_ms)
        columns["prediction"] = target_column(
            take(predictions, rows), plan.classification, "prediction", found
        )
        columns["score"] = score_column(take(scores, rows), found)
        columns["segment"] = segment_column(take(segments, rows), found)
        _add_piece(pieces, (model, version), part, rows, columns, found)


def _outcome_pieces(
    part: Part, models: Mapping[str, ModelConfig], pieces: dict, not_after_ms: int | None
) -> None:
    faults = part.faults
    ids, names, times, outcomes = top_columns(part, _OUTCOME_FIELDS, ())
    check_ids_and_models(ids, names, faults)
    for (model, _), rows in group_rows(names, None, faults).items():
        if model not in models:
            faults.add_all(rows, len(ids), "unknown_model", f"model: {model!r} is not configured")
            continue
        found = Faults()
        classification = models[model].task == "classification"
        columns = {
            "prediction_id": np.array(take(ids, rows), dtype=object),
            "timestamp": timestamps_ms(take(times, rows), found, not_after_ms),
            "outcome": target_column(take(outcomes, rows), classification, "outcome", found),
        }
        _add_piece(pieces, model, part, rows, columns, found)
