"""Exact sums of doubles as integers of 2**-1127 units (so merges are order-independent bit for
bit), and the input checks every accumulator shares."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from monitor.errors import DataError

UNIT_BITS = 1127  # frexp mantissa (53 bits) times 2**exponent (>= -1073): 2**-1127 divides every double


_HALF_BITS = 26


def exact_sum(values: np.ndarray) -> int:
    """Exact sum of finite float64 values as an integer number of 2**-1127 units."""
    if values.size == 0:
        return 0
    if not np.all(np.isfinite(values)):
        raise DataError("cannot sum non-finite values exactly")
    mantissa, exponent = np.frexp(values)
    ints = (mantissa * 2.0**53).astype(np.int64)  # exact: |ints| < 2**53
    e_min = int(exponent.min())
    offset = exponent - e_min
    # Sum the high and low halves per exponent in int64: exact below 2**36 values per call.
    high = np.zeros(int(offset.max()) + 1, np.int64)
    low = np.zeros_like(high)
    np.add.at(high, offset, ints >> _HALF_BITS)
    np.add.at(low, offset, ints & ((1 << _HALF_BITS) - 1))
    total = 0
    for j in np.flatnonzero(high | low).tolist():
        total += ((int(high[j]) << _HALF_BITS) + int(low[j])) << (j + e_min + 1074)
    return total


# Below this the Veltkamp split and its products stay finite; squares of larger values (past the
# range the decoder admits, monitor.core.limits) are summed with Python integers, row by row.
_SPLIT_LIMIT = 2.0**500


def exact_sum_of_squares(values: np.ndarray) -> int:
    """Exact sum of x**2 (Veltkamp split: x = hi + lo, each product below is exact in float64)."""
    wide = np.abs(values) >= _SPLIT_LIMIT
    total = 0
    if wide.any():
        total = sum(square_units(x) for x in values[wide].tolist())
        values = values[~wide]
    scaled = 134217729.0 * values  # 2**27 + 1
    high = scaled - (scaled - values)
    low = values - high
    parts = np.concatenate([high * high, 2.0 * high * low, low * low])
    return total + exact_sum(parts)


def exact_units(value: float) -> int:
    """A finite double as an exact integer number of 2**-1127 units."""
    if not math.isfinite(value):
        raise DataError("cannot sum non-finite values exactly")
    mantissa, exponent = math.frexp(value)
    return int(mantissa * 2.0**53) << (exponent + 1074)


def square_units(value: float) -> int:
    """value**2 in 2**-1127 units, exactly, for |value| >= 1 (any finite size)."""
    if not math.isfinite(value) or abs(value) < 1.0:
        raise DataError(f"square_units takes finite values of at least 1 in size, got {value!r}")
    mantissa, exponent = math.frexp(value)
    whole = int(mantissa * 2.0**53)
    return whole * whole << (2 * exponent - 106 + UNIT_BITS)


def units_to_float(units: int) -> float:
    try:
        return units / (1 << UNIT_BITS)  # int / int is correctly rounded in CPython
    except OverflowError:
        return math.inf if units > 0 else -math.inf  # copysign would convert the int, and overflow


def float_array(values: Any, field: str, *, allow_nan: bool = False) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise DataError(f"field {field!r}: expected a 1-D array, got shape {array.shape}")
    bad = np.isinf(array) if allow_nan else ~np.isfinite(array)
    if bad.any():
        raise DataError(f"field {field!r}: {int(bad.sum())} non-finite value(s)")
    return array


def label_array(values: Any, field: str) -> np.ndarray:
    array = np.asarray(values, dtype=object)
    if array.ndim != 1:
        raise DataError(f"field {field!r}: expected a 1-D array of labels, got shape {array.shape}")
    return array


def ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


def check_state_kind(state: dict[str, Any], kind: str) -> None:
    if state.get("kind") != kind:
        raise DataError(f"state has kind {state.get('kind')!r}, expected {kind!r}")
