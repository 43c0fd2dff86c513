"""The configured features of one model group as columns: numeric features as one float64
matrix (numbers and booleans), categorical features as label arrays. A numeric value past
monitor.core.limits.MAX_ABS_VALUE is `value_out_of_range`."""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from monitor.config import ModelConfig
from monitor.core.limits import out_of_range
from monitor.pipeline.decoding.columns import (
    NUMERIC_FEATURE,
    Columns,
    Faults,
    label_column,
    range_detail,
    show,
)


class FeaturePlan:
    """The configured features of one model: numeric, then categorical, each in config order."""

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


def feature_columns(records: Sequence[dict[str, Any]], plan: FeaturePlan, found: Faults) -> Columns:
    """The numeric features as one (rows x features) float64 matrix, plus one array per label feature."""
    matrix = _float_matrix(_feature_rows(records, plan.numeric, plan.get_numeric), plan.numeric, found)
    labels = list(zip(*_feature_rows(records, plan.categorical, plan.get_categorical), strict=True))
    if np.isinf(matrix).any():  # only from numbers beyond float range such as 1e999
        for row, j in zip(*np.nonzero(np.isinf(matrix)), strict=True):
            found.add(int(row), "non_finite", f"features.{plan.numeric[j]}: number beyond float range")
    wide = out_of_range(matrix)
    if wide.any():
        for row, j in zip(*np.nonzero(wide), strict=True):
            found.add(
                int(row), "value_out_of_range", range_detail(f"features.{plan.numeric[j]}", matrix[row, j])
            )
    columns = {"numeric": matrix}
    for name, column in zip(plan.categorical, labels, strict=True):
        columns[f"features.{name}"] = label_column(column, f"features.{name}", found, nullable=True)
    return columns


def _feature_rows(
    records: Sequence[dict[str, Any]], names: list[str], get: Callable
) -> list[tuple[Any, ...]]:
    try:
        return list(map(get, records))
    except KeyError:  # a feature absent somewhere: pay for per-key lookups only then
        return [tuple([d.get(name) for name in names]) for d in records]


def _float_matrix(rows: list[tuple[Any, ...]], names: list[str], found: Faults) -> np.ndarray:
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


def _numeric_values(values: list[Any], name: str, found: Faults) -> np.ndarray:
    if not set(map(type, values)) <= NUMERIC_FEATURE:
        for row, value in enumerate(values):
            if type(value) not in NUMERIC_FEATURE:
                found.add(row, "wrong_type", f"features.{name}: expected a number, got {show(value)}")
                values[row] = None
    return np.array(values, dtype=np.float64)
