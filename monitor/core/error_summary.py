"""A mergeable summary of prediction errors: what the concept-drift CUSUM needs of a stretch of pairs.

One summary per stretch of outcome event time (a bucket, monitor.core.error_buckets): the number of
joined pairs, the power sums of their errors (x, x**2, x**3, x**4: a warm-up estimate needs the
mean, the spread and, for an honest confidence bound on the spread, the fourth moment), the largest
outcome time, and a log-scale histogram of the errors with the sum of the errors in each bin.

The histogram is there for regression, whose detector clips errors at a point known only after
the reference is (a warm-up estimate, a new baseline): with per-bin sums the clipped sum
``sum(min(x, cap))`` is exact for a cap on a bin edge (the detector snaps its cap down to one), so
the partitions need not know the cap. Bins are 1/BINS_PER_OCTAVE of an octave wide; exact zeros
(every right prediction of a classifier, an exact hit of a regressor) have a bin of their own.
For a classifier the errors are 0 and 1, so the histogram has two bins and ``sums[0]`` counts the
errors.

Summaries only grow as pairs are added, so a reader that remembers what it consumed gets the new
pairs as a difference (`minus`) and can tell a summary restored from an older checkpoint (smaller
than what it consumed: nothing new) from one with new pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

BINS_PER_OCTAVE = 4
MAX_ERROR = 1e60  # larger errors count as this much: their fourth powers must stay finite
ZERO_BIN = -(1 << 20)  # below every bin of a positive double (those run from about -4300 to 4100)
NO_TIME = -(1 << 62)


def bins_of(values: NDArray[np.float64]) -> NDArray[np.int64]:
    """Histogram bin of each non-negative error: floor(BINS_PER_OCTAVE * log2(x)), ZERO_BIN for 0."""
    out = np.full(values.shape, ZERO_BIN, dtype=np.int64)
    positive = values > 0.0
    if positive.any():
        out[positive] = np.floor(np.log2(values[positive]) * BINS_PER_OCTAVE).astype(np.int64)
    return out


def bin_lower_edge(index: int) -> float:
    """Smallest value of bin `index` (0.0 for the zero bin)."""
    return 0.0 if index == ZERO_BIN else float(2.0 ** (index / BINS_PER_OCTAVE))


@dataclass
class ErrorSummary:
    """Pairs and their errors (0/1 for classification, absolute errors for regression)."""

    n: int = 0
    sums: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])  # sum of x, x², x³, x⁴
    bins: dict[int, list[float]] = field(default_factory=dict)  # bin -> [count, sum of x]
    last: int = NO_TIME  # largest outcome time (ms)

    @classmethod
    def of(cls, values: NDArray[np.float64], times: NDArray[np.int64]) -> ErrorSummary:
        out = cls()
        if len(values) == 0:
            return out
        x = np.minimum(np.asarray(values, dtype=np.float64), MAX_ERROR)
        out.n = int(x.size)
        square = x * x
        out.sums = [
            float(x.sum()),
            float(square.sum()),
            float((square * x).sum()),
            float((square * square).sum()),
        ]
        unique, inverse = np.unique(bins_of(x), return_inverse=True)
        counts = np.bincount(inverse, minlength=unique.size)
        totals = np.bincount(inverse, weights=x, minlength=unique.size)
        out.bins = {
            int(b): [float(c), float(s)]
            for b, c, s in zip(unique.tolist(), counts.tolist(), totals.tolist(), strict=True)
        }
        out.last = int(np.max(times))
        return out

    # ------------------------------------------------------------------ reading

    @property
    def empty(self) -> bool:
        return self.n == 0

    @property
    def total(self) -> float:
        """Sum of the errors: the number of wrong predictions of a classifier."""
        return self.sums[0]

    def clipped_sum(self, cap_bin: int) -> float:
        """sum(min(x, cap)) for cap = bin_lower_edge(cap_bin): bins below it count their sums,
        the others count cap per error."""
        cap = bin_lower_edge(cap_bin)
        return sum(s if b < cap_bin else cap * c for b, (c, s) in self.bins.items())

    # ------------------------------------------------------------------ combining

    def add(self, other: ErrorSummary) -> ErrorSummary:
        """Add `other`'s pairs to this summary (in place); returns self."""
        if other.n == 0:
            return self
        self.n += other.n
        self.sums = [a + b for a, b in zip(self.sums, other.sums, strict=True)]
        for b, (c, s) in other.bins.items():
            mine = self.bins.setdefault(b, [0.0, 0.0])
            mine[0] += c
            mine[1] += s
        self.last = max(self.last, other.last)
        return self

    def plus(self, other: ErrorSummary) -> ErrorSummary:
        """A new summary of both (neither changes)."""
        return self.copy().add(other)

    def copy(self) -> ErrorSummary:
        return ErrorSummary(self.n, list(self.sums), {b: list(v) for b, v in self.bins.items()}, self.last)

    def minus(self, consumed: ErrorSummary) -> ErrorSummary:
        """The pairs this summary holds beyond `consumed` (an earlier state of it): empty when it
        holds no more pairs than that (a state restored from an older checkpoint). Components are
        clamped at zero, so a state that is not a later version of `consumed` never subtracts."""
        if self.n <= consumed.n:
            return ErrorSummary()
        out = ErrorSummary(
            self.n - consumed.n, [max(0.0, a - b) for a, b in zip(self.sums, consumed.sums, strict=True)]
        )
        for b, (c, s) in self.bins.items():
            before = consumed.bins.get(b, (0.0, 0.0))
            if c > before[0]:
                out.bins[b] = [c - before[0], max(0.0, s - before[1])]
        out.last = self.last
        return out

    def at_least(self, other: ErrorSummary) -> ErrorSummary:
        """Component-wise maximum: what a reader has consumed after reading `other` too."""
        out = self.copy()
        out.n = max(self.n, other.n)
        out.sums = [max(a, b) for a, b in zip(self.sums, other.sums, strict=True)]
        for b, (c, s) in other.bins.items():
            mine = out.bins.setdefault(b, [0.0, 0.0])
            mine[0], mine[1] = max(mine[0], c), max(mine[1], s)
        out.last = max(self.last, other.last)
        return out

    # ------------------------------------------------------------------ state

    def to_state(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "sums": self.sums,
            "bins": [[b, c, s] for b, (c, s) in sorted(self.bins.items())],
            "last": self.last,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ErrorSummary:
        return cls(
            int(state["n"]),
            [float(v) for v in state["sums"]],
            {int(b): [float(c), float(s)] for b, c, s in state["bins"]},
            int(state["last"]),
        )
