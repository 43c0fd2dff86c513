"""Multiple-testing control: many p-values at once without many more false alarms.

Testing 20 features in 50 segments at 0.05 each flags about 50 stationary pairs per window. Two
controls over one family of p-values (one window's features x segments):

* `holm`: Holm's step-down procedure. Controls the family-wise error rate (the chance of *any*
  false alarm in the family) at `alpha` under any dependence between the tests.
* `benjamini_hochberg`: controls the false discovery rate (the expected share of false alarms
  among the alarms) at `alpha` for independent or positively dependent tests. When nothing drifts
  every alarm is false, so it then also keeps the family-wise rate at `alpha`; when some pairs do
  drift it finds more of them than Holm.

Untested pairs (None or NaN: too few rows) are left out of the family and never flagged.

Repeated windows: each window is a new family on new rows, so these keep the false-alarm rate *per
window* at alpha, which is the rate a user sees on a dashboard. An alpha-spending rule would only
be needed where the *same* data is tested again as it grows; the version comparison does that and
uses an anytime-valid confidence sequence instead (monitor/core/comparison/sequential.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from monitor.errors import DataError

Method = Literal["benjamini_hochberg", "holm"]


@dataclass(frozen=True)
class MultipleTestResult:
    rejected: NDArray[np.bool_]  # per input p-value
    adjusted: NDArray[np.float64]  # adjusted p-values (NaN where untested); rejected == adjusted <= alpha
    method: Method
    alpha: float
    n_tests: int  # the size of the family (tested p-values)


def _prepare(p_values: Sequence[float | None] | NDArray[np.float64], alpha: float) -> NDArray[np.float64]:
    if not 0.0 < alpha < 1.0:
        raise DataError(f"alpha must lie in (0, 1), got {alpha}")
    p = np.array(
        [np.nan if v is None else v for v in np.asarray(p_values, dtype=object).tolist()], dtype=np.float64
    )
    if np.any((p < 0) | (p > 1)):
        raise DataError("p-values must lie in [0, 1]")
    return p


def _finish(
    p: NDArray[np.float64],
    tested: NDArray[np.bool_],
    adjusted: NDArray[np.float64],
    method: Method,
    alpha: float,
) -> MultipleTestResult:
    out = np.full(p.shape, np.nan)
    out[tested] = np.minimum(adjusted, 1.0)
    return MultipleTestResult(np.where(tested, out <= alpha, False), out, method, alpha, int(tested.sum()))


def benjamini_hochberg(
    p_values: Sequence[float | None] | NDArray[np.float64], alpha: float = 0.05
) -> MultipleTestResult:
    p = _prepare(p_values, alpha)
    tested = ~np.isnan(p)
    values = p[tested]
    m = values.size
    order = np.argsort(values, kind="stable")
    scaled = values[order] * m / np.arange(1, m + 1)
    # adjusted p of the i-th smallest = min over j >= i of p_(j) * m / j
    adjusted = np.empty(m)
    adjusted[order] = np.minimum.accumulate(scaled[::-1])[::-1]
    return _finish(p, tested, adjusted, "benjamini_hochberg", alpha)


def holm(p_values: Sequence[float | None] | NDArray[np.float64], alpha: float = 0.05) -> MultipleTestResult:
    p = _prepare(p_values, alpha)
    tested = ~np.isnan(p)
    values = p[tested]
    m = values.size
    order = np.argsort(values, kind="stable")
    scaled = values[order] * (m - np.arange(m))
    # adjusted p of the i-th smallest = max over j <= i of p_(j) * (m - j + 1)
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return _finish(p, tested, adjusted, "holm", alpha)


def control(
    p_values: Sequence[float | None] | NDArray[np.float64],
    alpha: float = 0.05,
    method: Method = "benjamini_hochberg",
) -> MultipleTestResult:
    if method == "benjamini_hochberg":
        return benjamini_hochberg(p_values, alpha)
    if method == "holm":
        return holm(p_values, alpha)
    raise DataError(f"unknown multiple-testing method {method!r}: benjamini_hochberg or holm")
