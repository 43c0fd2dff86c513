"""Many sketches of one feature on the same bins, one per group (a segment), held as arrays with a
row per group, so that a batch updates all groups at once and a copy is a few array copies.

`NumericGroups`: per group what a `NumericSketch` (no exact value counts) holds: slot counts and
value sums (groups x slots), missing, and the moments as arrays. `update(groups, values)` finds each
row's slot as the native update does (searchsorted "right", the last edge closed) and adds the
batch by a handful of `bincount`s over the combined index `group * slots + slot`: `bincount` adds in
row order as the native update does, so counts, missing and moments (merged by the same formula as
`Moments.merge`) are bit for bit those of one update per group; the per-slot sums are added as one
batch sum, so they equal them up to rounding (as a merge does).

`CountGroups`: per group what a `ValueCounts` holds (the unseen keys as a plain bounded map per
group); one `get_indexer` and one `bincount` per batch, the rare unseen keys handed to their group's
map in order of arrival.

`sketch(g)` materialises group g as the sketch it stands for (for tests and the state), and
`from_sketches` stacks sketches back; groups are int64 codes in [0, n_groups).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor.core.sketch import Key, Moments, NumericSketch, ValueCounts, add_unseen

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


class NumericGroups:
    def __init__(self, edges: Floats, counts: Ints, sums: Floats, missing: Ints, moments: Floats) -> None:
        self.edges, self.counts, self.sums, self.missing = edges, counts, sums, missing
        self.moments = moments  # groups x (n, mean, m2, min, max)

    @classmethod
    def empty(cls, edges: Floats, n_groups: int) -> NumericGroups:
        slots = len(edges) + 1
        moments = np.tile([0.0, 0.0, 0.0, np.inf, -np.inf], (n_groups, 1))
        return cls(
            edges,
            np.zeros((n_groups, slots), np.int64),
            np.zeros((n_groups, slots)),
            np.zeros(n_groups, np.int64),
            moments,
        )

    @classmethod
    def from_sketches(cls, sketches: Sequence[NumericSketch]) -> NumericGroups:
        moments = [(m.n, m.mean, m.m2, m.min, m.max) for m in (s.moments for s in sketches)]
        return cls(
            sketches[0].edges,
            np.stack([s.counts for s in sketches]),
            np.stack([s.sums for s in sketches]),
            np.array([s.missing for s in sketches], dtype=np.int64),
            np.array(moments, dtype=np.float64).reshape(len(sketches), 5),
        )

    def sketch(self, g: int) -> NumericSketch:
        n, mean, m2, low, high = self.moments[g].tolist()
        moments = Moments(int(n), mean, m2, low, high) if n else Moments()
        return NumericSketch(
            self.edges, self.counts[g].copy(), self.sums[g].copy(), int(self.missing[g]), moments
        )

    def copy(self) -> NumericGroups:
        return NumericGroups(
            self.edges, self.counts.copy(), self.sums.copy(), self.missing.copy(), self.moments.copy()
        )

    def merge(self, other: NumericGroups) -> NumericGroups:
        if not np.array_equal(self.edges, other.edges):
            raise ValueError("cannot merge numeric sketches over different bin edges")
        return NumericGroups(
            self.edges,
            self.counts + other.counts,
            self.sums + other.sums,
            self.missing + other.missing,
            _merged_moments(self.moments, other.moments),
        )

    def update(self, groups: Ints, values: Any) -> None:
        x = np.asarray(values, dtype=np.float64)
        n_groups, slots = self.counts.shape
        nan = np.isnan(x)
        if nan.any():
            self.missing += np.bincount(groups[nan], minlength=n_groups)
            x, groups = x[~nan], groups[~nan]
        slot = np.searchsorted(self.edges, x, side="right")
        slot[x == self.edges[-1]] = len(self.edges) - 1
        flat = groups * slots + slot
        self.counts += np.bincount(flat, minlength=n_groups * slots).reshape(n_groups, slots)
        self.sums += np.bincount(flat, weights=x, minlength=n_groups * slots).reshape(n_groups, slots)
        batch = np.empty((n_groups, 5))
        batch[:, 0] = present = np.bincount(groups, minlength=n_groups)
        batch[:, 1] = mean = _means(groups, x, present)
        with np.errstate(over="ignore", invalid="ignore"):  # past the float range m2 is inf, as natively
            deviation = x - mean[groups]
            batch[:, 2] = np.bincount(groups, weights=deviation * deviation, minlength=n_groups)
        batch[:, 3], batch[:, 4] = np.inf, -np.inf
        np.minimum.at(batch[:, 3], groups, x)
        np.maximum.at(batch[:, 4], groups, x)
        self.moments = _merged_moments(self.moments, batch)


def _means(groups: Ints, x: Floats, present: Ints) -> Floats:
    """Each group's mean as the native update computes it: the total over the count, or, where the
    total overflowed (values near the float limit), the sum of the values each divided by the count."""
    total = np.bincount(groups, weights=x, minlength=len(present))
    count = np.maximum(present, 1).astype(np.float64)
    mean: Floats = total / count
    overflowed = ~np.isfinite(total) & (present > 0)
    if overflowed.any():
        scaled = np.bincount(groups, weights=x / count[groups], minlength=len(present))
        mean = np.where(overflowed, scaled, mean)
    return mean


def _merged_moments(a: Floats, b: Floats) -> Floats:
    """`Moments.merge` row by row (the same operations in the same order, so the same floats); rows
    whose plain formulas overflow are merged by `Moments.merge` itself. Rows: (n, mean, m2, min, max)."""
    out = a.copy()
    both = (a[:, 0] > 0) & (b[:, 0] > 0)
    only_b = (a[:, 0] == 0) & (b[:, 0] > 0)  # `Moments.merge` looks at the other's count first
    out[only_b] = b[only_b]
    x, y = a[both], b[both]
    n1, n2 = x[:, 0], y[:, 0]
    n = n1 + n2
    with np.errstate(over="ignore", invalid="ignore"):
        delta = y[:, 1] - x[:, 1]
        merged = np.column_stack(
            [
                n,
                x[:, 1] + delta * n2 / n,
                x[:, 2] + y[:, 2] + delta * delta * n1 * n2 / n,
                np.minimum(x[:, 3], y[:, 3]),
                np.maximum(x[:, 4], y[:, 4]),
            ]
        )
    for i in np.flatnonzero(~np.isfinite(merged[:, 1:3]).all(axis=1)).tolist():
        m = Moments(int(n1[i]), *x[i, 1:].tolist()).merge(Moments(int(n2[i]), *y[i, 1:].tolist()))
        merged[i] = (m.n, m.mean, m.m2, m.min, m.max)
    out[both] = merged
    return out


class CountGroups:
    def __init__(
        self, template: ValueCounts, counts: Ints, missing: Ints, unseen: list[dict[Key, int]], overflow: Ints
    ) -> None:
        self.template, self.counts, self.missing = template, counts, missing
        self.unseen, self.overflow = (
            unseen,
            overflow,
        )  # per group, the bounded map of unseen keys and what passed it

    @classmethod
    def empty(cls, template: ValueCounts, n_groups: int) -> CountGroups:
        counts = np.zeros((n_groups, len(template.known)), np.int64)
        zeros = np.zeros(n_groups, np.int64)
        return cls(template.empty_like(), counts, zeros, [{} for _ in range(n_groups)], zeros.copy())

    @classmethod
    def from_sketches(cls, sketches: Sequence[ValueCounts]) -> CountGroups:
        return cls(
            sketches[0].empty_like(),
            np.stack([s.counts for s in sketches]).reshape(len(sketches), len(sketches[0].known)),
            np.array([s.missing for s in sketches], dtype=np.int64),
            [dict(s.unseen) for s in sketches],
            np.array([s.unseen_overflow for s in sketches], dtype=np.int64),
        )

    def sketch(self, g: int) -> ValueCounts:
        return ValueCounts(
            self.template.known,
            self.counts[g].copy(),
            dict(self.unseen[g]),
            int(self.overflow[g]),
            int(self.missing[g]),
            self.template.max_unseen,
        )

    def copy(self) -> CountGroups:
        unseen = [dict(u) for u in self.unseen]
        return CountGroups(
            self.template, self.counts.copy(), self.missing.copy(), unseen, self.overflow.copy()
        )

    def merge(self, other: CountGroups) -> CountGroups:
        """As `ValueCounts.merge` group by group."""
        if self.template.known != other.template.known:
            raise ValueError("cannot merge value counts over different keys")
        unseen = [dict(u) for u in self.unseen]
        overflow = self.overflow + other.overflow
        for g, theirs in enumerate(other.unseen):
            overflow[g] += add_unseen(unseen[g], pd.Series(theirs, dtype=object), self.template.max_unseen)
        return CountGroups(
            self.template, self.counts + other.counts, self.missing + other.missing, unseen, overflow
        )

    def update(self, groups: Ints, values: NDArray[Any]) -> None:
        n_groups, width = self.counts.shape[0], self.counts.shape[1] + 1  # the known keys, then missing
        keys = self.template.key_codes(values)
        found = keys >= 0
        table = np.bincount(groups[found] * width + keys[found], minlength=n_groups * width).reshape(
            n_groups, width
        )
        self.counts += table[:, :-1]
        self.missing += table[:, -1]
        new, new_groups = values[~found], groups[~found]
        if len(new):
            other_missing = np.asarray(
                pd.isna(new), dtype=bool
            )  # NaN where the marker is None, or the reverse
            self.missing += np.bincount(new_groups[other_missing], minlength=n_groups)
            new, new_groups = new[~other_missing], new_groups[~other_missing]
        for g in np.unique(new_groups).tolist():
            counts = pd.Series(new[new_groups == g]).value_counts(sort=True)
            self.overflow[g] += add_unseen(self.unseen[g], counts, self.template.max_unseen)
