"""Regression performance of a window as a mergeable accumulator (see monitor.core.performance)."""

from __future__ import annotations

import math
from typing import Any, Self

import numpy as np

from monitor.core.performance.exact import (
    UNIT_BITS,
    check_state_kind,
    exact_sum,
    exact_sum_of_squares,
    exact_units,
    float_array,
    ratio,
    units_to_float,
)
from monitor.errors import DataError


class RegressionPerformance:
    """Exact sums of errors and targets for MAE, RMSE, MAPE (rows with y == 0 skipped and counted) and R2."""

    KIND = "regression_performance"
    _SUMS = ("abs_error", "squared_error", "pct_error", "y", "y_squared")

    def __init__(self) -> None:
        self._n = 0
        self._n_pct = 0  # rows with y != 0, the only ones MAPE can use
        self._units = dict.fromkeys(self._SUMS, 0)

    @property
    def n(self) -> int:
        return self._n

    def update(self, y_true: Any, y_pred: Any) -> Self:
        true = float_array(y_true, "y_true")
        pred = float_array(y_pred, "y_pred")
        if true.shape != pred.shape:
            raise DataError(f"y_true has {true.size} rows but y_pred has {pred.size}")
        with np.errstate(over="ignore"):
            error = true - pred
        wide = ~np.isfinite(error)  # both near the float limit, opposite signs: past monitor.core.limits
        if wide.any():
            self._add_wide(true[wide], pred[wide])
            true, pred, error = true[~wide], pred[~wide], error[~wide]
        abs_error = np.abs(error)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            pct_error = abs_error / np.abs(true)
        # y == 0 (or so close to 0 that the ratio overflows) has no percentage error: skip and count.
        nonzero = np.isfinite(pct_error)
        self._units["abs_error"] += exact_sum(abs_error)
        self._units["squared_error"] += exact_sum_of_squares(error)
        self._units["pct_error"] += exact_sum(pct_error[nonzero])
        self._units["y"] += exact_sum(true)
        self._units["y_squared"] += exact_sum_of_squares(true)
        self._n += int(true.size)
        self._n_pct += int(nonzero.sum())
        return self

    def _add_wide(self, true: np.ndarray, pred: np.ndarray) -> None:
        """Rows whose error float64 cannot hold, summed exactly with Python integers (no float
        error exists to sum; such values are past the range the decoder admits)."""
        for t, p in zip(true.tolist(), pred.tolist(), strict=True):
            error = exact_units(t) - exact_units(p)
            self._units["abs_error"] += abs(error)
            # exact: the error overflowed, so both values are at least 2**970 in size and the
            # error is a multiple of 2**2045 units
            self._units["squared_error"] += error * error >> UNIT_BITS
            # int / int is rounded once, like the float ratio of the other rows
            self._units["pct_error"] += exact_units(abs(error) / abs(exact_units(t)))
        self._units["y"] += exact_sum(true)
        self._units["y_squared"] += exact_sum_of_squares(true)
        self._n += len(true)
        self._n_pct += len(true)  # y is far from 0 in these rows

    def _centred_ratio(self, sum_key: str, squares_key: str) -> tuple[int, int]:
        """(n * sum(x**2) - sum(x)**2) * 2**1127 as an exact integer, and its scale n**2 * 2**(2*1127).

        Their ratio is the population variance of x, with no cancellation error.
        """
        total, squares = self._units[sum_key], self._units[squares_key]
        return (self._n * squares << UNIT_BITS) - total * total, self._n * self._n << (2 * UNIT_BITS)

    def metrics(self) -> dict[str, float | None]:
        n, units = self._n, self._units
        if n == 0:
            return dict.fromkeys(("mae", "rmse", "mape", "r2", "abs_error_std"), None) | {
                "n": 0,
                "n_mape_skipped": 0,
            }
        mae = units_to_float(units["abs_error"]) / n
        rmse = math.sqrt(units_to_float(units["squared_error"]) / n)
        total_variance, _ = self._centred_ratio("y", "y_squared")
        # R2 = 1 - SSE / SST with SST * n * 2**1127 / unit**2 == total_variance (all integers).
        r2 = None
        if n >= 2 and total_variance > 0:
            try:
                r2 = 1.0 - (units["squared_error"] * n << UNIT_BITS) / total_variance
            except OverflowError:  # errors over 1e154 times the spread of y: worse than any float
                r2 = -math.inf
        # Spread of |error|: sum(|e|**2) is the squared-error sum, so no extra accumulator is needed.
        # Each |error| and error² is rounded to the unit apart, so equal errors can leave this a few
        # units below zero: the spread is then 0.
        abs_numerator = max((n * units["squared_error"] << UNIT_BITS) - units["abs_error"] ** 2, 0)
        try:
            abs_error_std = math.sqrt(abs_numerator / (n * n << (2 * UNIT_BITS)))
        except OverflowError:  # errors past the range the decoder admits
            abs_error_std = math.inf
        return {
            "n": n,
            "mae": mae,
            "rmse": rmse,
            "mape": ratio(units_to_float(units["pct_error"]), self._n_pct),
            "n_mape_skipped": n - self._n_pct,
            "r2": r2,
            "abs_error_std": abs_error_std,
        }

    def merged(self, other: RegressionPerformance) -> RegressionPerformance:
        if not isinstance(other, RegressionPerformance):
            raise DataError("can only merge a RegressionPerformance with another")
        out = RegressionPerformance()
        out._n, out._n_pct = self._n + other._n, self._n_pct + other._n_pct
        out._units = {key: self._units[key] + other._units[key] for key in self._SUMS}
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RegressionPerformance):
            return NotImplemented
        return (self._n, self._n_pct, self._units) == (other._n, other._n_pct, other._units)

    __hash__ = None  # type: ignore[assignment]  # mutable accumulator

    def to_state(self) -> dict[str, Any]:
        sums = {f"{key}_sum_units": str(value) for key, value in self._units.items()}
        return {"kind": self.KIND, "n": self._n, "n_nonzero_y": self._n_pct} | sums

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RegressionPerformance:
        check_state_kind(state, cls.KIND)
        out = cls()
        out._n, out._n_pct = int(state["n"]), int(state["n_nonzero_y"])
        out._units = {key: int(state[f"{key}_sum_units"]) for key in cls._SUMS}
        return out
