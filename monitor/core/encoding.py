"""Rows of mixed features as one standardised float matrix, with the reference's statistics.

The multivariate drift detectors and the regression loss model need every row as a vector of
numbers, encoded the same way at baseline-build time and on the stream. `TabularEncoder` is fitted
once on the reference and stored as plain numbers:

* a numeric feature becomes one column, standardised by the reference mean and standard deviation;
  a missing value becomes the reference mean (0 after standardising), so it adds no error of its own
  (missing rates are data quality, reported elsewhere);
* a categorical feature becomes one indicator column per category among the `max_categories` most
  frequent in the reference (each with a share of at least `min_share`), plus one for "any other
  value" (rarer and unseen ones); a missing value sets none. Every indicator is standardised by its
  reference share too, so a category's weight does not depend on how common it is, and an indicator
  that never fires in the reference gets unit scale instead of an infinite one.

Values are compared as canonical labels (`monitor.core.labels`), so 1, 1.0 and "1" are one category.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor.core.labels import canonical_label, canonical_labels
from monitor.errors import DataError

Kind = Literal["numeric", "categorical"]
OTHER = "__other__"
_MIN_SCALE = 1e-9


@dataclass(frozen=True)
class EncodedColumn:
    """One input feature and the encoded columns it becomes."""

    name: str
    kind: Kind
    categories: tuple[str, ...]  # categorical only: the kept categories, then OTHER
    means: tuple[float, ...]
    scales: tuple[float, ...]

    @property
    def width(self) -> int:
        return len(self.means)


def column(columns: Mapping[str, Any], name: str, n_rows: int | None = None) -> NDArray[Any]:
    """The 1-D array `columns[name]`, with an error naming the feature when it is absent or misshapen."""
    if name not in columns:
        raise DataError(f"feature {name!r}: missing from the rows")
    values = np.asarray(columns[name])
    if values.ndim != 1 or (n_rows is not None and len(values) != n_rows):
        raise DataError(
            f"feature {name!r}: expected {n_rows} values in one dimension, got shape {values.shape}"
        )
    return values


def _numeric(values: NDArray[Any], name: str) -> NDArray[np.float64]:
    try:
        out = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"feature {name!r}: declared numeric but holds non-numeric values") from exc
    if np.isinf(out).any():
        raise DataError(f"feature {name!r}: infinite values")
    return out


class TabularEncoder:
    def __init__(self, columns: tuple[EncodedColumn, ...]) -> None:
        if not columns:
            raise DataError("the encoder needs at least one feature")
        self.columns = columns
        self.width = sum(c.width for c in columns)
        # Per categorical feature, its standardised block for each indicator that can fire, then
        # for a missing value (none fires): the rows `transform` picks, computed as it would.
        self._tables = tuple(None if c.kind == "numeric" else _indicator_rows(c) for c in columns)
        # Per categorical feature, the position `_codes` found for each raw value seen (1, 1.0 and
        # True are one key, as they are one label): most batches then need one dict lookup per
        # distinct value instead of canonicalising and searching. Bounded: past _MEMO distinct
        # values (a high-cardinality feature) the rest are looked up each time.
        self._memos: tuple[dict[Any, int], ...] = tuple({} for _ in columns)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @classmethod
    def fit(
        cls,
        reference: Mapping[str, Any],
        kinds: Mapping[str, Kind],
        *,
        max_categories: int = 20,
        min_share: float = 0.005,
    ) -> TabularEncoder:
        if not kinds:
            raise DataError("the encoder needs at least one feature")
        n_rows = len(column(reference, next(iter(kinds))))
        if n_rows == 0:
            raise DataError("cannot fit an encoder on an empty reference")
        fitted = []
        for name, kind in kinds.items():
            values = column(reference, name, n_rows)
            if kind == "numeric":
                x = _numeric(values, name)
                present = x[~np.isnan(x)]
                if present.size == 0:
                    raise DataError(f"feature {name!r}: no values in the reference")
                std = float(present.std())
                fitted.append(EncodedColumn(name, kind, (), (float(present.mean()),), (_scale(std),)))
            elif kind == "categorical":
                labels = pd.Series(canonical_labels(values)).dropna()
                shares = labels.value_counts(normalize=True, sort=False)
                # Most frequent first, ties by label, so the same reference gives the same columns.
                ranked = sorted(shares.items(), key=lambda kv: (-kv[1], str(kv[0])))
                kept = [str(k) for k, share in ranked[:max_categories] if share >= min_share]
                p = np.array(
                    [shares.get(k, 0.0) for k in kept] + [1.0 - sum(shares.get(k, 0.0) for k in kept)]
                )
                p = np.clip(p * len(labels) / n_rows, 0.0, 1.0)  # missing rows set no indicator
                fitted.append(
                    EncodedColumn(
                        name,
                        kind,
                        (*kept, OTHER),
                        tuple(p.tolist()),
                        tuple(_scale(float(s)) for s in np.sqrt(p * (1 - p))),
                    )
                )
            else:
                raise DataError(f"feature {name!r}: unknown kind {kind!r} (numeric or categorical)")
        return cls(tuple(fitted))

    def transform(self, rows: Mapping[str, Any]) -> NDArray[np.float64]:
        """The (n_rows, width) matrix of `rows` (a mapping of feature name to column, e.g. a DataFrame)."""
        n_rows = len(column(rows, self.columns[0].name))
        out = np.empty((n_rows, self.width))
        at = 0
        for col, table, memo in zip(self.columns, self._tables, self._memos, strict=True):
            values = column(rows, col.name, n_rows)
            block = out[:, at : at + col.width]
            if table is None:
                x = _numeric(values, col.name)
                block[:, 0] = np.where(np.isnan(x), 0.0, (x - col.means[0]) / col.scales[0])
            else:
                block[:] = table[_codes(col, memo, values)]
            at += col.width
        return out

    def to_state(self) -> dict[str, Any]:
        return {
            "columns": [
                {
                    "name": c.name,
                    "kind": c.kind,
                    "categories": list(c.categories),
                    "means": list(c.means),
                    "scales": list(c.scales),
                }
                for c in self.columns
            ]
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> TabularEncoder:
        try:
            columns = tuple(
                EncodedColumn(
                    str(c["name"]),
                    c["kind"],
                    tuple(str(x) for x in c["categories"]),
                    tuple(float(x) for x in c["means"]),
                    tuple(float(x) for x in c["scales"]),
                )
                for c in state["columns"]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"encoder state is malformed: {exc}") from exc
        for c in columns:
            expected = 1 if c.kind == "numeric" else len(c.categories)
            if (
                c.kind not in ("numeric", "categorical")
                or len(c.means) != expected
                or len(c.scales) != expected
            ):
                raise DataError(f"encoder state for feature {c.name!r} is inconsistent")
        return cls(columns)


_MEMO = 10_000


def _codes(col: EncodedColumn, memo: dict[Any, int], values: NDArray[Any]) -> NDArray[np.intp]:
    """Per row, its indicator's position among `col`'s columns; `col.width` where missing. Each
    distinct value is looked up once, not each row: in `memo`, else by its canonical label."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    found = np.empty(len(uniques) + 1, np.intp)
    found[-1] = col.width  # factorize's -1 (missing) picks the last
    for i, value in enumerate(uniques.tolist()):
        position = memo.get(value)
        if position is None:
            position = _position(col, value)
            if len(memo) < _MEMO:
                memo[value] = position
        found[i] = position
    return found[codes]


def _position(col: EncodedColumn, value: Any) -> int:
    label = canonical_label(value)
    if label is None:
        return col.width
    try:
        return col.categories.index(label, 0, col.width - 1)
    except ValueError:
        return col.width - 1  # OTHER


def _indicator_rows(col: EncodedColumn) -> NDArray[np.float64]:
    rows = np.zeros((col.width + 1, col.width))
    rows[np.arange(col.width), np.arange(col.width)] = 1.0
    rows -= np.asarray(col.means)
    rows /= np.asarray(col.scales)
    return rows


def _scale(std: float) -> float:
    return std if std > _MIN_SCALE else 1.0
