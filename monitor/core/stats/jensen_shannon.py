"""Jensen-Shannon distance (the square root of the divergence, natural log), in [0, sqrt(ln 2)].

No zero filling: the distance is finite when a bin is empty on one side.

Binned path error: exact on categories, including the single "unseen" bucket: a bin with
reference share 0 contributes c/2·ln 2 whatever c is, so merging several unseen categories
into one bucket does not change the sum. On numeric features, see `psi` for the bins.
Measured error of the rebinned distance (`tests/benchmarks/bench_summary_accuracy.py`, the
shapes and sizes `psi` lists): 0.024 at most (Pareto, 1k rows), 0.0073 at 10k and more; exact
on columns with at most 20 distinct values. The decision band of the differential test: 0.03.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial import distance

from monitor.core.stats.binning import sample_percents, shares


def jensen_shannon_from_shares(reference: ArrayLike, current: ArrayLike) -> float:
    value = distance.jensenshannon(np.asarray(reference, float), np.asarray(current, float))
    return float(value) if np.isfinite(value) else 0.0


def jensen_shannon(reference_counts: ArrayLike, current_counts: ArrayLike) -> float:
    """Jensen-Shannon distance of two histograms over the same bins."""
    return jensen_shannon_from_shares(shares(reference_counts), shares(current_counts))


def jensen_shannon_samples(reference: ArrayLike, current: ArrayLike, numeric: bool) -> float:
    ref, cur = sample_percents(reference, current, numeric)
    return jensen_shannon_from_shares(ref, cur)
