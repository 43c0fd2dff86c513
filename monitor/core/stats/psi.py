"""Population Stability Index.

PSI = sum_i (r_i - c_i) * ln(r_i / c_i) over bins, with empty bins given a small share
(Evidently's rule, see `binning.fill_zero_shares`). PSI(x, x) = 0; it is symmetric in
its two arguments once shares are filled.

Binned path error: on categories the counts are exact, so PSI is exact, except that all
categories unseen in the baseline share one bucket (Evidently would fill each with a tiny
share, adding one ~(c·ln(c/eps)) term per unseen category instead of one for the bucket).
On numeric features the baseline's quantile bins replace Evidently's Sturges bins over the
combined data; `monitor.binned` rebins into Sturges bins to compare like with like, and
the differential tests bound the difference.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from monitor.core.stats.binning import fill_zero_shares, sample_percents, shares


def psi_from_shares(reference: ArrayLike, current: ArrayLike) -> float:
    ref = fill_zero_shares(np.asarray(reference, dtype=np.float64))
    cur = fill_zero_shares(np.asarray(current, dtype=np.float64))
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def psi(reference_counts: ArrayLike, current_counts: ArrayLike) -> float:
    """PSI of two histograms over the same bins."""
    return psi_from_shares(shares(reference_counts), shares(current_counts))


def psi_samples(reference: ArrayLike, current: ArrayLike, numeric: bool) -> float:
    """PSI of two samples, binned as Evidently bins them."""
    ref, cur = sample_percents(reference, current, numeric)
    return psi_from_shares(ref, cur)
