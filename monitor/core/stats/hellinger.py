"""Hellinger distance, sqrt(1 - sum_i sqrt(p_i q_i)), in [0, 1].

Exact samples follow Evidently: categories by value; numbers by a density histogram on
Sturges bins over the *distinct* values of both samples. The binned form takes counts on
shared bins (the baseline's quantile bins), which is the standard definition on a
histogram; it does not reproduce Evidently's density-on-distinct-values rule, so the two
differ on numeric data by design (documented, not compared).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from monitor.core.stats.binning import as_float, not_missing, shares, value_counts_aligned


def _from_affinity(affinity: float) -> float:
    return float(np.sqrt(1.0 - np.clip(affinity, 0.0, 1.0)))


def hellinger(reference_counts: ArrayLike, current_counts: ArrayLike) -> float:
    p = shares(reference_counts)
    q = shares(current_counts)
    return _from_affinity(float(np.sum(np.sqrt(p * q))))


def hellinger_samples(reference: ArrayLike, current: ArrayLike, numeric: bool) -> float:
    if not numeric:
        ref_counts, cur_counts = value_counts_aligned(not_missing(reference), not_missing(current))
        return hellinger(ref_counts, cur_counts)
    ref_f = as_float(reference)
    cur_f = as_float(current)
    keys = np.unique(np.concatenate([ref_f, cur_f]))
    edges = np.histogram_bin_edges(keys, bins="sturges")
    h1 = np.histogram(ref_f, bins=edges, density=True)[0]
    h2 = np.histogram(cur_f, bins=edges, density=True)[0]
    width = (edges.max() - edges.min()) / (len(edges) - 1)
    return _from_affinity(float(np.sum(np.sqrt(h1 * h2)) * width))
