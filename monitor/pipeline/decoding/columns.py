"""Column checks of the reference path (see monitor.pipeline.events): each turns the parsed values of one
field into one numpy column and records, per row, the first fault found (reason, detail). Type
checks run on `set(map(type, column))`; a per-row loop only runs for a column that fails."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from monitor.core.limits import MAX_ABS_VALUE, out_of_range

Columns = dict[str, np.ndarray]  # one group's arrays of one chunk, one row per message


_NONE = type(None)


STR: frozenset[type] = frozenset({str})
# Longest prediction id accepted. Ids are keys of the join's stores: PostgreSQL cannot index a key
# over ~2,700 bytes (a third of a page), so one longer id would fail every checkpoint after it;
# 512 characters are at most 2,048 bytes of UTF-8, and far more than a UUID or a hash needs.
MAX_ID_CHARS = 512


DICT: frozenset[type] = frozenset({dict})


NUMBER: frozenset[type] = frozenset({int, float})


VERSION: frozenset[type] = frozenset({str, int})


_LABEL_OR_NULL: frozenset[type] = frozenset({str, _NONE})


_INT_LABEL: frozenset[type] = frozenset({str, int, bool, _NONE})


_NUMBER_OR_NULL: frozenset[type] = frozenset({int, float, _NONE})


NUMERIC_FEATURE: frozenset[type] = frozenset({int, float, bool, _NONE})


class Faults:
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


def check_types(
    values: Sequence[Any], allowed: frozenset[type], field: str, expected: str, faults: Faults
) -> None:
    if set(map(type, values)) <= allowed:
        return
    for row, value in enumerate(values):
        if type(value) not in allowed:
            if value is None:
                faults.add(row, "missing_field", f"{field}: is null")
            else:
                faults.add(row, "wrong_type", f"{field}: expected {expected}, got {show(value)}")


def nul_rows(values: Sequence[Any]) -> list[int]:
    """Rows whose value is a string holding U+0000 (JSON's \\u0000). Such text is refused on every
    backend: PostgreSQL's text columns cannot hold it, and a state store that fails every
    checkpoint stops the service."""
    if "\x00" not in "".join(v for v in values if isinstance(v, str)):
        return []
    return [row for row, v in enumerate(values) if isinstance(v, str) and "\x00" in v]


def long_id_rows(ids: Sequence[Any]) -> list[int]:
    """Rows whose id is a string over MAX_ID_CHARS."""
    if max(map(len, (i for i in ids if isinstance(i, str))), default=0) <= MAX_ID_CHARS:
        return []
    return [row for row, i in enumerate(ids) if isinstance(i, str) and len(i) > MAX_ID_CHARS]


def refuse_nul(values: Sequence[Any], field: str, faults: Faults) -> None:
    for row in nul_rows(values):
        faults.add(row, "nul_character", f"{field}: holds a NUL character (U+0000)")


def check_ids_and_models(ids: Sequence[Any], names: Sequence[Any], faults: Faults) -> None:
    check_types(ids, STR, "prediction_id", "a string", faults)
    check_types(names, STR, "model", "a string", faults)
    refuse_nul(ids, "prediction_id", faults)
    for row in long_id_rows(ids):
        detail = f"prediction_id: {len(ids[row]):,} characters, over the {MAX_ID_CHARS} allowed"
        faults.add(row, "too_long", detail)
    if not all(ids):
        for row, value in enumerate(ids):
            if type(value) is str and not value:
                faults.add(row, "missing_field", "prediction_id: is an empty string")


def group_rows(names: Sequence[Any], versions: Sequence[Any] | None, faults: Faults) -> dict[tuple, Any]:
    """Rows by (model, version), skipping rows already at fault; None means all rows."""
    if not faults.found and len(set(names)) == 1 and (versions is None or len(set(versions)) == 1):
        return {(names[0], None if versions is None else versions[0]): None}
    groups: dict[tuple, list[int]] = {}
    for row, key in enumerate(zip(names, versions or [None] * len(names), strict=True)):
        if row not in faults.found:
            groups.setdefault(key, []).append(row)
    return groups


def take(values: Sequence[Any], rows: list[int] | None) -> Sequence[Any]:
    return values if rows is None else [values[row] for row in rows]


def label_column(values: Sequence[Any], field: str, found: Faults, nullable: bool) -> np.ndarray:
    allowed = _LABEL_OR_NULL if nullable else STR
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
                    row, "wrong_type", f"{field}: expected a string or integer label, got {show(value)}"
                )
                values[row] = None
    refuse_nul(values, field, found)
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


def target_column(values: Sequence[Any], classification: bool, field: str, found: Faults) -> np.ndarray:
    if classification:
        return label_column(values, field, found, nullable=False)
    numbers = _number_column(values, NUMBER, field, found)
    for at in np.flatnonzero(out_of_range(numbers)):
        found.add(int(at), "value_out_of_range", range_detail(field, numbers[at]))
    return numbers


def range_detail(field: str, value: float) -> str:
    return f"{field}: {float(value)!r} is outside the accepted range [-{MAX_ABS_VALUE:g}, {MAX_ABS_VALUE:g}]"


def _number_column(values: Sequence[Any], allowed: frozenset[type], field: str, found: Faults) -> np.ndarray:
    if not set(map(type, values)) <= allowed:
        values = list(values)
        for row, value in enumerate(values):
            if type(value) not in allowed:
                reason = "missing_field" if value is None else "wrong_type"
                found.add(row, reason, f"{field}: expected a number, got {show(value)}")
                values[row] = None
    numbers = np.array(values, dtype=np.float64)
    for at in np.flatnonzero(np.isinf(numbers)):
        found.add(int(at), "non_finite", f"{field}: number beyond float range")
    return numbers


def score_column(values: Sequence[Any], found: Faults) -> np.ndarray:
    scores = _number_column(values, _NUMBER_OR_NULL, "score", found)
    for at in np.flatnonzero((scores < 0.0) | (scores > 1.0)):  # NaN (absent) compares False
        found.add(int(at), "out_of_range", f"score: {scores[at]!r} is outside [0, 1]")
    return scores


def segment_column(values: Sequence[Any], found: Faults) -> np.ndarray:
    if not set(map(type, values)) <= _LABEL_OR_NULL:
        values = list(values)
        for row, value in enumerate(values):
            if type(value) not in _LABEL_OR_NULL:
                found.add(row, "wrong_type", f"segment: expected a string, got {show(value)}")
                values[row] = None
    refuse_nul(values, "segment", found)
    return np.array(values, dtype=object)


def show(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) in (dict, list):
        return "an object" if type(value) is dict else "an array"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
