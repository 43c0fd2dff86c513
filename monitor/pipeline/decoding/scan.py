"""The native fast path (monitor/pipeline/decoding/_scan.c): messages straight into columns.

`scan_predictions` / `scan_outcomes` run one C pass over a whole batch. It fills numeric and
timestamp columns and codes every label over a per-call vocabulary, so a label column is one
numpy take from its vocabulary. A message the scanner does not vouch for is returned in
`rest` (input positions), for the reference path to accept or reject; the scanner never
decides a reject (a timestamp after `not_after_ms` included). The result holds the columns of
each (model, version) group, or of each model for outcomes, with each row's input position.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from monitor.config import ModelConfig
from monitor.core.limits import MAX_ABS_VALUE
from monitor.pipeline.decoding import _scan
from monitor.pipeline.decoding.columns import Columns, long_id_rows

# Label columns of a prediction scan (the C side's C_VERSION, C_SEGMENT, C_PREDICTION), then
# one per categorical feature.
_VERSION, _SEGMENT, _PREDICTION, _FEATURES = range(4)


# Seeds the scanner's hash of labels, so that labels colliding in it cannot be prepared.
_HASH_SEED = secrets.randbits(64)


@dataclass
class Scanned:
    groups: dict[Any, Columns]  # (model, version) or model -> columns, with "position"
    rest: np.ndarray  # input positions of the messages left to the reference path


@dataclass(frozen=True)
class _Plan:
    capsule: Any
    models: tuple[str, ...]
    classification: tuple[bool, ...]
    numeric: tuple[tuple[str, ...], ...]
    categorical: tuple[tuple[str, ...], ...]


@functools.lru_cache(maxsize=64)
def _plan(signature: tuple) -> _Plan:
    models, classification, numeric, categorical = [], [], [], []
    for name, task, features in signature:
        models.append(name)
        classification.append(task == "classification")
        numeric.append(tuple(n for n, kind in features if kind == "numeric"))
        categorical.append(tuple(n for n, kind in features if kind != "numeric"))
    rows = zip(models, classification, numeric, categorical, strict=True)
    capsule = _scan.make_plan([(m, c, list(n), list(k)) for m, c, n, k in rows], _HASH_SEED, MAX_ABS_VALUE)
    return _Plan(capsule, tuple(models), tuple(classification), tuple(numeric), tuple(categorical))


def signature(models: Mapping[str, ModelConfig]) -> tuple:
    return tuple((n, m.task, tuple((f.name, f.kind) for f in m.features)) for n, m in models.items())


def _labels(vocabulary: list[str]) -> np.ndarray:
    """The labels of a column's codes, with None last for code -1 (absent or null)."""
    return np.array([*vocabulary, None], dtype=object)


def _run(
    messages: list[Any], plan: _Plan, outcome: bool, max_bytes: int
) -> tuple[dict[str, np.ndarray], list, list]:
    n = len(messages)
    width = 0 if outcome else max(map(len, plan.numeric), default=0)
    n_codes = 1 if outcome else _FEATURES + max(map(len, plan.categorical), default=0)
    out: dict[str, np.ndarray] = {
        "ok": np.empty(n, np.uint8),
        "model": np.zeros(n, np.int32),
        "timestamp": np.empty(n, np.int64),
        "numeric": np.empty((n, width)),
        "score": np.empty(n),
        "target": np.empty(n),
        "codes": np.empty((n, n_codes), np.int32),
    }
    ids, vocabularies = _scan.scan(messages, plan.capsule, outcome, max_bytes, *out.values())
    return out, ids, vocabularies


def _vouched(out: dict[str, np.ndarray], ids: list, not_after_ms: int | None) -> np.ndarray:
    """The rows the scanner decoded, less those timestamped after `not_after_ms` or with an id
    over MAX_ID_CHARS: the reference path rejects those (future_timestamp, too_long)."""
    ok = out["ok"].view(bool)
    if not_after_ms is not None:
        ok &= out["timestamp"] <= not_after_ms  # rows not ok hold anything: they stay not ok
    ok[long_id_rows(ids)] = False
    return ok


def scan_predictions(
    messages: list[Any],
    models: Mapping[str, ModelConfig],
    known_versions: Mapping[str, Any] | None,
    max_bytes: int,
    not_after_ms: int | None = None,
) -> Scanned:
    plan = _plan(signature(models))
    out, ids, vocabularies = _run(messages, plan, False, max_bytes)
    ok = _vouched(out, ids, not_after_ms)
    codes = out["codes"]
    # One group per (model, version) pair present: model index * versions + version code. A
    # version spelled two ways ("3" and "\u0033") has two codes: both map to the first one.
    versions = vocabularies[_VERSION]
    first_code: dict[str, int] = {}
    canonical = np.array([first_code.setdefault(v, code) for code, v in enumerate(versions)] + [0], np.int64)
    version = canonical[np.where(ok, codes[:, _VERSION], 0)]  # rows not ok may hold anything
    per_model = max(len(versions), 1)
    group = out["model"].astype(np.int64) * per_model + version
    groups: dict[Any, Columns] = {}
    id_column = np.array(ids, dtype=object)
    labels = [_labels(v) for v in vocabularies]
    for key in np.unique(group[ok]).tolist():
        m, v = divmod(key, per_model)
        model, version = plan.models[m], versions[v]
        rows = np.flatnonzero(ok & (group == key))
        if known_versions is not None and version not in known_versions.get(model, ()):
            ok[rows] = False  # the reference path rejects these as unknown_version
            continue
        predicted = labels[_PREDICTION][codes[rows, _PREDICTION]] if plan.classification[m] else None
        columns: Columns = {
            "position": rows,
            "prediction_id": id_column[rows],
            "timestamp": out["timestamp"][rows],
            "numeric": out["numeric"][rows, : len(plan.numeric[m])],
            "prediction": out["target"][rows] if predicted is None else predicted,
            "score": out["score"][rows],
            "segment": labels[_SEGMENT][codes[rows, _SEGMENT]],
        }
        for j, name in enumerate(plan.categorical[m]):
            columns[f"features.{name}"] = labels[_FEATURES + j][codes[rows, _FEATURES + j]]
        groups[(model, version)] = columns
    return Scanned(groups, np.flatnonzero(~ok))


def scan_outcomes(
    messages: list[Any], models: Mapping[str, ModelConfig], max_bytes: int, not_after_ms: int | None = None
) -> Scanned:
    plan = _plan(signature(models))
    out, ids, vocabularies = _run(messages, plan, True, max_bytes)
    ok = _vouched(out, ids, not_after_ms)
    id_column = np.array(ids, dtype=object)
    labels = _labels(vocabularies[0])
    groups: dict[Any, Columns] = {}
    for m in np.unique(out["model"][ok]).tolist():
        rows = np.flatnonzero(ok & (out["model"] == m))
        groups[plan.models[m]] = {
            "position": rows,
            "prediction_id": id_column[rows],
            "timestamp": out["timestamp"][rows],
            "outcome": labels[out["codes"][rows, 0]] if plan.classification[m] else out["target"][rows],
        }
    return Scanned(groups, np.flatnonzero(~ok))
