"""The label-delay histogram (outcome time - prediction time) of a window, for Prometheus."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Self

import numpy as np

from monitor.core.performance.exact import check_state_kind, exact_sum, float_array, units_to_float
from monitor.errors import DataError

# Label delay buckets (seconds): 1 m, 5 m, 15 m, 1 h, 6 h, 1 d, 3 d, 7 d; +Inf is implicit.
DEFAULT_DELAY_BOUNDS_SECONDS = (60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0, 259200.0, 604800.0)


class LabelDelayHistogram:
    """Histogram of label delay (outcome time - prediction time, seconds) for a Prometheus histogram.

    `counts` are per bucket (not cumulative), the last bucket being +Inf. Negative delays (producer clock
    skew) are counted as 0 so that the exported `_sum` never decreases.
    """

    KIND = "label_delay_histogram"

    def __init__(self, bounds: Sequence[float] = DEFAULT_DELAY_BOUNDS_SECONDS) -> None:
        edges = np.asarray(bounds, dtype=np.float64)
        if (
            edges.ndim != 1
            or edges.size == 0
            or not np.all(np.isfinite(edges))
            or np.any(np.diff(edges) <= 0)
        ):
            raise DataError(f"label delay bucket bounds must be finite and increasing, got {list(bounds)}")
        self._bounds = edges
        self._counts = np.zeros(edges.size + 1, np.int64)
        self._sum_units = 0

    @property
    def bounds(self) -> tuple[float, ...]:
        return tuple(self._bounds.tolist())

    @property
    def count(self) -> int:
        return int(self._counts.sum())

    @property
    def sum(self) -> float:
        return units_to_float(self._sum_units)

    def update(self, delays_seconds: Any) -> Self:
        delays = np.maximum(float_array(delays_seconds, "label delay"), 0.0)
        # side="left": a delay equal to a bound belongs to that bucket (Prometheus buckets are "le").
        bucket = np.searchsorted(self._bounds, delays, side="left")
        self._counts += np.bincount(bucket, minlength=self._counts.size)
        self._sum_units += exact_sum(delays)
        return self

    def cumulative_buckets(self) -> list[tuple[float, int]]:
        """(upper bound, cumulative count) pairs ending with (inf, count), as Prometheus exposes them."""
        uppers = [*self._bounds.tolist(), math.inf]
        return list(zip(uppers, np.cumsum(self._counts).tolist(), strict=True))

    def merged(self, other: LabelDelayHistogram) -> LabelDelayHistogram:
        if not isinstance(other, LabelDelayHistogram) or not np.array_equal(self._bounds, other._bounds):
            raise DataError("cannot merge label delay histograms with different bucket bounds")
        out = LabelDelayHistogram(self.bounds)
        out._counts = self._counts + other._counts
        out._sum_units = self._sum_units + other._sum_units
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelDelayHistogram):
            return NotImplemented
        return (
            np.array_equal(self._bounds, other._bounds)
            and np.array_equal(self._counts, other._counts)
            and self._sum_units == other._sum_units
        )

    __hash__ = None  # type: ignore[assignment]  # mutable accumulator

    def to_state(self) -> dict[str, Any]:
        return {
            "kind": self.KIND,
            "bounds": self._bounds.tolist(),
            "counts": self._counts.tolist(),
            "sum_units": str(self._sum_units),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LabelDelayHistogram:
        check_state_kind(state, cls.KIND)
        out = cls(state["bounds"])
        counts = np.asarray(state["counts"], dtype=np.int64)
        if counts.shape != out._counts.shape:
            raise DataError("label delay state has a different number of buckets than bounds")
        out._counts, out._sum_units = counts, int(state["sum_units"])
        return out
