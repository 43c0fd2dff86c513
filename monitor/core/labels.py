"""Canonical forms of values that arrive in many shapes.

Class labels and categories are compared as strings: 1, 1.0, True and "1" are the same
label "1" (a CSV column of 0/1 reads as ints; JSON may carry booleans). Missing is None.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray


def canonical_label(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    return str(value)


def canonical_labels(values: pd.Series | NDArray[Any]) -> NDArray[Any]:
    """Object array of canonical string labels, None where missing (vectorised for common dtypes)."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if pd.api.types.is_bool_dtype(series):
        return np.where(series.to_numpy(), "1", "0").astype(object)
    if pd.api.types.is_integer_dtype(series):
        return series.astype(str).to_numpy(dtype=object)
    # Canonicalise each distinct value once, not each row.
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    names = np.array([canonical_label(v) for v in uniques.tolist()] + [None], dtype=object)
    return names[codes]
