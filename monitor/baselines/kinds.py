"""Which columns of a training file are features, and of which kind: the rule `driftline init` applies
(and prints), so the user edits a config instead of typing one line per feature.

The rule is the one Evidently 0.7 uses to infer column types (`evidently.core.datasets.infer_column_type`),
so `method: auto` then picks the same tests Evidently would on the same file:

- numbers with a fractional dtype (float) are numeric;
- integers are categorical with at most 10 distinct values, numeric above that;
- strings, booleans and pandas categories are categorical, unless more than half of the values
  are distinct (ids, free text), which are skipped;
- dates and times are skipped, and so are constant and empty columns (nothing to compare), integer
  columns named like an id with a distinct value per row, and columns holding mixed types.

Pure: a DataFrame in, decisions out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import pandas as pd

INTEGER_CATEGORIES_MAX = 10  # Evidently's INTEGER_CARDINALITY_LIMIT
DISTINCT_SHARE_MAX = 0.5  # above this share of distinct strings, a column is an id or free text
RULE = (
    "float -> numeric; integer -> categorical if at most "
    f"{INTEGER_CATEGORIES_MAX} distinct values, else numeric; string, boolean, category -> categorical "
    f"unless over {DISTINCT_SHARE_MAX:.0%} of the values are distinct (ids, free text: skipped); "
    "dates, constant and empty columns skipped (as Evidently 0.7 infers column types)"
)
_ID_NAME = re.compile(r"(^|[_\W])(id|uuid|key|index)$|^unnamed: ?\d+$|[a-z]Id$", re.IGNORECASE)

Kind = Literal["numeric", "categorical"]
Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class ColumnKind:
    """One column's decision: its kind, or None when it is skipped, and why."""

    name: str
    kind: Kind | None
    reason: str


def infer_kinds(frame: pd.DataFrame, exclude: set[str] | frozenset[str] = frozenset()) -> list[ColumnKind]:
    """A decision for every column of `frame` not in `exclude`, in column order."""
    return [infer_kind(str(name), frame[name]) for name in frame.columns if str(name) not in exclude]


def infer_kind(name: str, column: pd.Series) -> ColumnKind:
    values = column.dropna()
    if values.empty:
        return ColumnKind(name, None, "empty")
    distinct = int(values.nunique())
    if pd.api.types.is_datetime64_any_dtype(column) or isinstance(column.dtype, pd.PeriodDtype):
        return ColumnKind(name, None, "dates/times")
    if distinct == 1:
        only = values.iloc[0]
        return ColumnKind(name, None, f"constant ({only.item() if hasattr(only, 'item') else only!r})")
    if pd.api.types.is_bool_dtype(column):
        return ColumnKind(name, "categorical", "boolean")
    if isinstance(column.dtype, pd.CategoricalDtype):
        return ColumnKind(name, "categorical", f"category, {distinct} values")
    if pd.api.types.is_integer_dtype(column):
        if distinct == len(column) and _ID_NAME.search(name):
            return ColumnKind(name, None, "an id (integer, distinct per row)")
        if distinct <= INTEGER_CATEGORIES_MAX:
            return ColumnKind(name, "categorical", f"integer, {distinct} distinct values")
        return ColumnKind(name, "numeric", f"integer, {distinct} distinct values")
    if pd.api.types.is_float_dtype(column):
        return ColumnKind(name, "numeric", "float")
    if pd.api.types.is_numeric_dtype(column):  # complex numbers and the like
        return ColumnKind(name, None, f"unsupported dtype {column.dtype}")
    return _text_kind(name, values, distinct)


def _text_kind(name: str, values: pd.Series, distinct: int) -> ColumnKind:
    kinds = set(map(type, values.iloc[:: max(1, len(values) // 1000)]))
    if not kinds <= {str}:
        shown = ", ".join(sorted(k.__name__ for k in kinds))
        return ColumnKind(name, None, f"mixed types ({shown})")
    if _looks_like_times(values):
        return ColumnKind(name, None, "dates/times (as text)")
    if distinct > DISTINCT_SHARE_MAX * len(values):
        return ColumnKind(name, None, f"{distinct / len(values):.0%} distinct: an id or free text")
    return ColumnKind(name, "categorical", f"string, {distinct} distinct values")


def _looks_like_times(values: pd.Series) -> bool:
    """Most of a sample parses as ISO 8601 dates or times (and the strings have digits where dates do)."""
    sample = values.iloc[:: max(1, len(values) // 200)].astype(str)
    if not sample.str.contains(r"\d{4}-\d\d-\d\d|\d\d:\d\d", regex=True).all():
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="ISO8601", utc=True)
    return bool(parsed.notna().mean() >= 0.9)


def infer_task(column: pd.Series) -> tuple[Task, str]:
    """Classification or regression from the target (or prediction) column, and why."""
    values = column.dropna()
    distinct = int(values.nunique())
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        return "classification", f"{column.name!r} holds labels ({distinct} classes)"
    integral = bool((values == values.round()).all()) if pd.api.types.is_float_dtype(column) else True
    if integral and distinct <= INTEGER_CATEGORIES_MAX:
        return "classification", f"{column.name!r} holds {distinct} whole-number classes"
    return "regression", f"{column.name!r} is a number with {distinct} distinct values"
