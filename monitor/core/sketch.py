"""Mergeable per-feature summaries, updated from columnar numpy batches.

* `Moments`: count, mean, sum of squared deviations, min, max (Chan's parallel merge).
* `NumericSketch`: counts *and value sums* on a baseline's bin edges, plus the tails
  below the first and above the last edge (out-of-range values), missing count,
  moments, and for discrete features (few distinct reference values) exact value counts.
* `ValueCounts`: counts of known keys (a baseline's categories), a bounded map of unseen
  keys, an overflow count past that bound, and a missing count.

Every update is vectorised (no per-event Python loop); `merge` adds counts, so it is
exact, associative and commutative for everything but float sums (exact up to rounding).
No update or merge raises on a finite value: inside the range the decoder admits
(monitor.core.limits) every sum is finite; past it, a sum float64 cannot hold becomes inf.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor.core import _histogram

Key = str | float

MAX_UNSEEN_TRACKED = 100


@dataclass
class Moments:
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = float("inf")
    max: float = float("-inf")

    def __post_init__(self) -> None:
        # A mean computed in floats (a batch's, a merge's) can round an ulp past the extremes
        # (values near 3e15): it is kept between them.
        if self.n and self.min <= self.max:
            self.mean = min(max(self.mean, self.min), self.max)

    def merge(self, other: Moments) -> Moments:
        if other.n == 0:
            return Moments(self.n, self.mean, self.m2, self.min, self.max)
        if self.n == 0:
            return Moments(other.n, other.mean, other.m2, other.min, other.max)
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        m2 = self.m2 + other.m2 + delta * delta * self.n * other.n / n  # `delta**2` raises on overflow
        if not (math.isfinite(mean) and math.isfinite(m2)):
            mean, m2 = self._merged_scaled(other, n)
        return Moments(n, mean, m2, min(self.min, other.min), max(self.max, other.max))

    def _merged_scaled(self, other: Moments, n: int) -> tuple[float, float]:
        """Mean and m2 of a merge whose plain formulas overflowed (means near the float limit):
        the mean as a weighted average of halves is finite for any finite means, and m2 is inf
        only when the true value is beyond float range."""
        share = other.n / n
        mean = (self.mean / 2 + (other.mean / 2 - self.mean / 2) * share) * 2
        if not math.isfinite(mean):  # |mean| within a rounding step of the float limit
            mean = math.copysign(sys.float_info.max, mean)
        half = other.mean / 2 - self.mean / 2
        return mean, self.m2 + other.m2 + 4.0 * half * half * (self.n * share)

    @property
    def std(self) -> float:
        """Population standard deviation (ddof=0), as Evidently norms Wasserstein."""
        return float(np.sqrt(self.m2 / self.n)) if self.n else 0.0

    def to_state(self) -> dict[str, Any]:
        if self.n == 0:
            return {"n": 0}
        return {"n": self.n, "mean": self.mean, "m2": self.m2, "min": self.min, "max": self.max}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Moments:
        return cls(**state) if state["n"] else cls()


def add_unseen(unseen: dict[Key, int], counts: pd.Series, max_unseen: int) -> int:
    """Add `counts` (key -> count) to the bounded map `unseen` in place; returns the count of the
    keys that found it full (the overflow)."""
    overflow = 0
    for key, count in counts.items():
        k = key if isinstance(key, str) else float(key)
        if k in unseen:
            unseen[k] += int(count)
        elif len(unseen) < max_unseen:
            unseen[k] = int(count)
        else:
            overflow += int(count)
    return overflow


@dataclass
class ValueCounts:
    """Counts over known keys, with unseen keys tracked up to a bound."""

    known: tuple[Key, ...]
    counts: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    unseen: dict[Key, int] = field(default_factory=dict)
    unseen_overflow: int = 0
    missing: int = 0
    max_unseen: int = MAX_UNSEEN_TRACKED

    def __post_init__(self) -> None:
        if len(self.counts) != len(self.known):
            self.counts = np.zeros(len(self.known), np.int64)
        # The last index entry is the missing marker (None / NaN): one hash lookup per value
        # finds known keys and missing values together.
        self._index = pd.Index([*self.known, None], dtype=object if self._text else np.float64)

    @property
    def _text(self) -> bool:
        return any(isinstance(k, str) for k in self.known)

    def empty_like(self) -> ValueCounts:
        return ValueCounts(self.known, max_unseen=self.max_unseen)

    def __fork__(self) -> ValueCounts:
        """A copy for a pipeline savepoint (monitor.pipeline.savepoint): it shares the keys and
        their index, which never change."""
        out = object.__new__(ValueCounts)
        out.__dict__.update(self.__dict__)
        out.counts, out.unseen = self.counts.copy(), dict(self.unseen)
        return out

    def key_codes(self, values: NDArray[Any]) -> NDArray[np.intp]:
        """Per value, the index of its key in `known`, len(known) if missing, -1 if unseen."""
        return self._index.get_indexer(values)

    def update(self, values: NDArray[Any]) -> ValueCounts:
        if len(values) == 0:
            return self
        codes = self.key_codes(values)
        found = np.bincount(codes[codes >= 0], minlength=len(self.known) + 1)
        self.counts += found[:-1]
        self.missing += int(found[-1])
        new = values[codes < 0]
        if len(new):
            other_missing = pd.isna(new)  # NaN where the marker is None, or the reverse
            self.missing += int(other_missing.sum())
            new = new[~other_missing]
        if len(new):
            self.add_unseen(pd.Series(new).value_counts(sort=True))
        return self

    def add_unseen(self, counts: pd.Series) -> None:
        self.unseen_overflow += add_unseen(self.unseen, counts, self.max_unseen)

    def merge(self, other: ValueCounts) -> ValueCounts:
        if self.known != other.known:
            raise ValueError("cannot merge value counts over different keys")
        out = ValueCounts(
            self.known,
            self.counts + other.counts,
            dict(self.unseen),
            self.unseen_overflow + other.unseen_overflow,
            self.missing + other.missing,
            self.max_unseen,
        )
        out.add_unseen(pd.Series(other.unseen, dtype=object))
        return out

    @property
    def n_present(self) -> int:
        return int(self.counts.sum()) + self.n_unseen

    @property
    def n_unseen(self) -> int:
        return sum(self.unseen.values()) + self.unseen_overflow

    def aligned(self, other: ValueCounts) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Counts of both over the same keys: the known ones, then each tracked unseen key of
        either, then one bucket for the unseen keys past the tracking bound (if any)."""
        extra = sorted(set(self.unseen) | set(other.unseen), key=str)
        overflow = [self.unseen_overflow] if self.unseen_overflow or other.unseen_overflow else []
        other_overflow = [other.unseen_overflow] if overflow else []
        mine = [*self.counts, *(self.unseen.get(k, 0) for k in extra), *overflow]
        theirs = [*other.counts, *(other.unseen.get(k, 0) for k in extra), *other_overflow]
        return np.asarray(mine, dtype=np.float64), np.asarray(theirs, dtype=np.float64)

    def to_state(self) -> dict[str, Any]:
        return {
            "known": list(self.known),
            "counts": self.counts.tolist(),
            "unseen": [[k, v] for k, v in self.unseen.items()],
            "unseen_overflow": self.unseen_overflow,
            "missing": self.missing,
            "max_unseen": self.max_unseen,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ValueCounts:
        return cls(
            known=tuple(state["known"]),
            counts=np.asarray(state["counts"], dtype=np.int64),
            unseen={k: int(v) for k, v in state["unseen"]},
            unseen_overflow=int(state["unseen_overflow"]),
            missing=int(state["missing"]),
            max_unseen=int(state["max_unseen"]),
        )


@dataclass
class NumericSketch:
    """Histogram with per-bin value sums on fixed edges; the first and last slots are the
    out-of-range tails below edges[0] and above edges[-1]."""

    edges: NDArray[np.float64]
    counts: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    sums: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    missing: int = 0
    moments: Moments = field(default_factory=Moments)
    values: ValueCounts | None = None

    def __post_init__(self) -> None:
        self.edges = np.asarray(self.edges, dtype=np.float64)
        slots = len(self.edges) + 1
        if len(self.counts) != slots:
            self.counts = np.zeros(slots, np.int64)
            self.sums = np.zeros(slots)

    def empty_like(self) -> NumericSketch:
        return NumericSketch(self.edges, values=self.values.empty_like() if self.values else None)

    def __fork__(self) -> NumericSketch:
        """A copy for a pipeline savepoint (monitor.pipeline.savepoint): it shares the edges, which
        never change, and the moments, which are replaced and never changed in place."""
        out = object.__new__(NumericSketch)
        out.__dict__.update(self.__dict__)
        out.counts, out.sums = self.counts.copy(), self.sums.copy()
        if self.values is not None:
            out.values = self.values.__fork__()
        return out

    def update(self, values: NDArray[np.float64]) -> NumericSketch:
        """Add a column: NaN counts as missing; the last bin is closed (see monitor/core/_histogram.c,
        which does the counting in one pass)."""
        values = np.asarray(values, dtype=np.float64)
        if len(values) == 0:
            return self
        missing, n, mean, m2, low, high = _histogram.update(values, self.edges, self.counts, self.sums)
        self.missing += missing
        self.moments = self.moments.merge(Moments(n, mean, m2, low, high))
        if self.values is not None and n:
            self.values.update(values[~np.isnan(values)] if missing else values)
        return self

    def merge(self, other: NumericSketch) -> NumericSketch:
        if not np.array_equal(self.edges, other.edges):
            raise ValueError("cannot merge numeric sketches over different bin edges")
        values = self.values.merge(other.values) if self.values and other.values else None
        return NumericSketch(
            self.edges,
            self.counts + other.counts,
            self.sums + other.sums,
            self.missing + other.missing,
            self.moments.merge(other.moments),
            values,
        )

    @property
    def n_present(self) -> int:
        return int(self.counts.sum())

    @property
    def n_out_of_range(self) -> int:
        return int(self.counts[0] + self.counts[-1])

    def to_state(self) -> dict[str, Any]:
        return {
            "edges": self.edges.tolist(),
            "counts": self.counts.tolist(),
            "sums": self.sums.tolist(),
            "missing": self.missing,
            "moments": self.moments.to_state(),
            "values": self.values.to_state() if self.values else None,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> NumericSketch:
        return cls(
            edges=np.asarray(state["edges"], dtype=np.float64),
            counts=np.asarray(state["counts"], dtype=np.int64),
            sums=np.asarray(state["sums"], dtype=np.float64),
            missing=int(state["missing"]),
            moments=Moments.from_state(state["moments"]),
            values=ValueCounts.from_state(state["values"]) if state["values"] else None,
        )


Sketch = NumericSketch | ValueCounts


def sketch_from_state(state: dict[str, Any]) -> Sketch:
    return NumericSketch.from_state(state) if "edges" in state else ValueCounts.from_state(state)


# Extra quantiles in both tails: heavy-tailed features have very wide outer bins on an even
# grid, and the binned Wasserstein distance is least accurate in wide bins.
TAIL_QUANTILES = np.array([1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 5e-3, 7e-3])


def quantile_edges(values: NDArray[np.float64], bins: int, presorted: bool = False) -> NDArray[np.float64]:
    """Distinct quantile edges of the reference, taken from its own values (numpy's
    "inverted_cdf" quantiles): each bin holds ~1/bins of it (finer in the tails), and a
    discrete column gets edges on its values."""
    grid = np.unique(np.concatenate([np.linspace(0.0, 1.0, bins + 1), TAIL_QUANTILES, 1.0 - TAIL_QUANTILES]))
    ordered = values if presorted else np.sort(values)
    index = np.clip(np.ceil(grid * len(ordered)).astype(np.int64) - 1, 0, len(ordered) - 1)
    return np.unique(ordered[index])
