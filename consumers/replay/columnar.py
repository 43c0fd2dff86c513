"""Rows of a columnar history file (CSV, Parquet) as the pipeline's decoded batches, without a
detour through JSON, under the decoder's rules (monitor/pipeline/events.py).

The columns are checked with vectorised tests that accept a subset of what the decoder accepts and
give the same values for it; every row that fails one (a NaN prediction, an infinite feature, a
score outside [0, 1], an unknown model version, a bad timestamp...) is written as the JSON message
it stands for (`prediction_message`) and handed to the decoder, which rejects it with its reason
and original bytes, exactly as it would from any other source. So this path only accelerates, as
the native scanner does; `replay(..., columnar=False)` sends every row as JSON, and the tests
compare the two.

What a columnar file means (pandas' reading of it): NaN or an empty cell is a missing value (a
missing feature, an absent score, a missing prediction: rejected); ids and versions written as
integers are those strings; ±inf is a non-finite number (rejected); a timestamp is an ISO 8601
string with 'Z' or an offset, epoch seconds, or a timezone-aware datetime column.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from monitor.config import ModelConfig
from monitor.core.limits import out_of_range
from monitor.pipeline.decoding.columns import long_id_rows, nul_rows
from monitor.pipeline.events import OutcomeBatch, PredictionBatch

LABEL_INT_MAX = 2**53  # integral floats above this are not exact labels (the decoder's rule)


@dataclass(frozen=True)
class Names:
    """Which column of the file holds what."""

    id: str
    timestamp: str
    version: str | None  # None: every row has `default_version`
    prediction: str
    score: str | None
    outcome: str | None
    outcome_timestamp: str | None
    segment: str | None
    default_version: str | None


def id_strings(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Prediction ids (or versions) as strings, and which rows have a usable one (not missing, not
    empty)."""
    if pd.api.types.is_bool_dtype(column):  # true/false is not an id (nor a version)
        return np.full(len(column), None, dtype=object), np.zeros(len(column), dtype=bool)
    if pd.api.types.is_integer_dtype(column):
        return column.astype(str).to_numpy(dtype=object), np.ones(len(column), dtype=bool)
    values, good = _labels(column, allow_missing=False, bools=False)
    good &= values != ""
    good[long_id_rows(values.tolist())] = False  # the decoder says too_long
    return values, good


def labels(column: pd.Series, allow_missing: bool) -> tuple[np.ndarray, np.ndarray]:
    """Class labels under the decoder's rules: strings as they are, integers and booleans as their
    string ("1", "0"), integral floats as the integer's string; missing as None where allowed."""
    if pd.api.types.is_bool_dtype(column):
        return np.where(column.to_numpy(dtype=bool), "1", "0").astype(object), np.ones(len(column), bool)
    if pd.api.types.is_integer_dtype(column):
        return column.astype(str).to_numpy(dtype=object), np.ones(len(column), bool)
    return _labels(column, allow_missing)


def _labels(column: pd.Series, allow_missing: bool, bools: bool = True) -> tuple[np.ndarray, np.ndarray]:
    if pd.api.types.infer_dtype(column, skipna=False) == "string":  # all strings (ids): nothing to map
        values = column.to_numpy(dtype=object)
        return values, nul_free(values)
    codes, uniques = pd.factorize(column, use_na_sentinel=True)  # each distinct value once
    mapped = [_BAD if not bools and isinstance(v, bool | np.bool_) else _label(v) for v in uniques.tolist()]
    names = np.array([None if m is _BAD else m for m in mapped] + [None], dtype=object)
    good = [m is not _BAD and (m is not None or allow_missing) for m in mapped] + [allow_missing]
    return names[codes], np.array(good, dtype=bool)[codes]


_BAD = object()


def nul_free(values: np.ndarray) -> np.ndarray:
    """Which values are not text holding U+0000 (the decoder rejects that text: nul_character)."""
    free = np.ones(len(values), dtype=bool)
    free[nul_rows(values.tolist())] = False
    return free


def _label(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        return _BAD if "\x00" in value else value
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, int | np.integer):
        return str(int(value)) if -(2**63) <= int(value) < 2**64 else _BAD
    if isinstance(value, float | np.floating):
        number = float(value)
        if number.is_integer() and abs(number) <= LABEL_INT_MAX:
            return str(int(number))
    return _BAD


def numbers(column: pd.Series, allow_missing: bool) -> tuple[np.ndarray, np.ndarray]:
    """Float64 values (booleans as 0/1) and which rows are good: finite, or NaN where allowed."""
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        known = np.ones(len(values), dtype=bool)
    else:  # object columns: only numbers and booleans are numbers (the decoder's rule)
        raw = column.to_numpy(dtype=object)
        kinds = np.array([isinstance(v, int | float | np.integer | np.floating) for v in raw], dtype=bool)
        missing = pd.isna(column).to_numpy()
        values = np.full(len(raw), np.nan)
        values[kinds] = raw[kinds].astype(np.float64)
        known = kinds | missing
    # Past the accepted range (monitor.core.limits) is bad too: the decoder says value_out_of_range.
    finite = np.isfinite(values) & ~out_of_range(values)
    good = known & (finite | (np.isnan(values) & allow_missing))
    return values, good


def time_ms(column: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """Epoch ms of a timezone-aware datetime column; None for other columns (checked by the decoder's
    timestamp rules on their values). A naive datetime column is refused by the caller."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        ms = column.dt.tz_convert("UTC").astype("datetime64[ms, UTC]").astype("int64").to_numpy()
        good = column.notna().to_numpy() & (ms >= 0) & (ms < 7_258_118_400_000)
        return np.where(good, ms, 0), good
    return None


def prediction_batches(
    frame: pd.DataFrame,
    ts: np.ndarray,
    ts_good: np.ndarray,
    config: ModelConfig,
    names: Names,
    known_versions: AbstractSet[str],
) -> tuple[dict[tuple[str, str], PredictionBatch], np.ndarray]:
    """Decoded batches of the good rows, and the mask of the rows left to the decoder."""
    good = ts_good.copy()
    ids, ok = id_strings(frame[names.id])
    good &= ok
    if names.version is not None:
        versions, ok = id_strings(frame[names.version])
        good &= ok
    else:
        versions = np.full(len(frame), names.default_version, dtype=object)
    features: dict[str, np.ndarray] = {}
    for feature in config.features:
        if feature.name not in frame.columns:  # absent: missing in every row, as in a message
            missing = np.full(len(frame), np.nan) if feature.kind == "numeric" else np.full(len(frame), None)
            features[feature.name] = missing
            continue
        column = frame[feature.name]
        values, ok = numbers(column, True) if feature.kind == "numeric" else labels(column, True)
        features[feature.name] = values
        good &= ok
    prediction, ok = _task_values(frame[names.prediction], config)
    good &= ok
    score = np.full(len(frame), np.nan)
    if names.score is not None and names.score in frame.columns:
        score, ok = numbers(frame[names.score], allow_missing=True)
        good &= ok & ~((score < 0) | (score > 1))
    segment = np.full(len(frame), None, dtype=object)
    if names.segment is not None and names.segment in frame.columns:
        column = frame[names.segment]
        segment = column.to_numpy(dtype=object).copy()
        missing = pd.isna(column).to_numpy()
        segment[missing] = None
        good &= missing | (np.array([isinstance(v, str) for v in segment], dtype=bool) & nul_free(segment))
    batches: dict[tuple[str, str], PredictionBatch] = {}
    for version in pd.unique(versions[good]).tolist() if good.any() else []:
        rows = good & (versions == version)
        if version not in known_versions:
            good &= ~rows  # the decoder rejects them as unknown_version
            continue
        batches[(config.name, version)] = PredictionBatch(
            model=config.name,
            model_version=version,
            prediction_id=ids[rows],
            timestamp=ts[rows].astype(np.int64),
            features={name: values[rows] for name, values in features.items()},
            prediction=prediction[rows],
            score=score[rows],
            segment=segment[rows],
        )
    return batches, ~good


def outcome_batch(
    frame: pd.DataFrame, ts: np.ndarray, ts_good: np.ndarray, config: ModelConfig, names: Names
) -> tuple[OutcomeBatch | None, np.ndarray]:
    assert names.outcome is not None
    ids, good = id_strings(frame[names.id])
    good &= ts_good
    outcome, ok = _task_values(frame[names.outcome], config)
    good &= ok
    if not good.any():
        return None, ~good
    return OutcomeBatch(config.name, ids[good], ts[good].astype(np.int64), outcome[good]), ~good


def _task_values(column: pd.Series, config: ModelConfig) -> tuple[np.ndarray, np.ndarray]:
    """A prediction or outcome column (none may be missing): labels for a classifier, numbers for
    a regressor; with the mask of good rows."""
    if config.task == "classification":
        return labels(column, allow_missing=False)
    return numbers(column, allow_missing=False)


def _json_value(value: Any, missing_is_null: bool = True) -> Any:
    """A cell as the JSON value it stands for: NaN null (missing), numpy scalars unwrapped; an
    infinity stays infinite (json writes the Infinity token, which the decoder rejects)."""
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is None or (isinstance(value, float) and math.isnan(value) and missing_is_null):
        return None
    if value is pd.NaT or type(value).__name__ == "NAType":
        return None
    return value


def _id_value(value: Any) -> Any:
    value = _json_value(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # integer ids and versions in a columnar file are those strings
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value


def prediction_message(row: Mapping[str, Any], config: ModelConfig, names: Names) -> bytes:
    """The JSON message a row of the file stands for."""
    message: dict[str, Any] = {
        "prediction_id": _id_value(row.get(names.id)),
        "model": config.name,
        "model_version": _id_value(row.get(names.version)) if names.version else names.default_version,
        "timestamp": _json_value(row.get(names.timestamp)),
        "features": {f.name: _json_value(row.get(f.name)) for f in config.features if f.name in row},
        "prediction": _json_value(row.get(names.prediction)),
    }
    if names.score is not None and names.score in row:
        message["score"] = _json_value(row[names.score])
    if names.segment is not None and names.segment in row:
        message["segment"] = _json_value(row[names.segment])
    return json.dumps(message, allow_nan=True).encode()


def outcome_message(row: Mapping[str, Any], config: ModelConfig, names: Names) -> bytes:
    assert names.outcome is not None
    at = names.outcome_timestamp if names.outcome_timestamp and names.outcome_timestamp in row else None
    moment = row.get(at) if at is not None else None
    if moment is None or (isinstance(moment, float) and math.isnan(moment)) or moment is pd.NaT:
        moment = row.get(names.timestamp)
    message = {
        "prediction_id": _id_value(row.get(names.id)),
        "model": config.name,
        "timestamp": _json_value(moment),
        "outcome": _json_value(row.get(names.outcome)),
    }
    return json.dumps(message, allow_nan=True).encode()
