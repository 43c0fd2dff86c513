"""Shared binning helpers: Evidently-compatible bins for exact samples, and rebinning.

Evidently bins a numeric column with more than 20 distinct reference values into Sturges
bins spanning the *combined* reference and current data, and every other column into
its distinct values. `sample_percents` reproduces that so the sample-path statistics
agree with Evidently to rounding.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

# Evidently treats a numeric column with at most this many distinct reference values as
# discrete (one bin per value) when binning for PSI and Jensen-Shannon.
DISCRETE_MAX_VALUES = 20


def as_float(values: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    return arr[np.isfinite(arr)]


def not_missing(values: ArrayLike) -> NDArray[np.generic]:
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        return arr[~np.isnan(arr)]
    if arr.dtype.kind == "O":
        keep = np.array([v is not None and v == v for v in arr.tolist()], dtype=bool)
        return arr[keep]
    return arr


def sturges_edges(reference: NDArray[np.float64], current: NDArray[np.float64]) -> NDArray[np.float64]:
    """Sturges bin edges over the combined data (numpy's rule, as Evidently uses)."""
    return np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")


def sturges_edges_from_range(lo: float, hi: float, n: int) -> NDArray[np.float64]:
    """The edges numpy's Sturges rule gives for `n` values spanning [lo, hi]."""
    n_bins = int(np.ceil(np.log2(n) + 1)) if n > 0 else 1
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, n_bins + 1)


def sample_percents(
    reference: ArrayLike, current: ArrayLike, numeric: bool
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-bin shares of reference and current, binned the way Evidently bins them."""
    ref = not_missing(reference)
    cur = not_missing(current)
    if numeric and len(np.unique(ref)) > DISCRETE_MAX_VALUES:
        ref_f = ref.astype(np.float64)
        cur_f = cur.astype(np.float64)
        edges = sturges_edges(ref_f, cur_f)
        return (
            np.histogram(ref_f, edges)[0] / len(ref_f),
            np.histogram(cur_f, edges)[0] / len(cur_f),
        )
    ref_counts, cur_counts = value_counts_aligned(ref, cur)
    return ref_counts / len(ref), cur_counts / len(cur)


def value_counts_aligned(
    reference: NDArray[np.generic], current: NDArray[np.generic]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Counts of every distinct value of either sample, on one shared key order."""
    kind = str if _is_text(reference, current) else float
    keys, inverse = np.unique(np.concatenate([reference, current]).astype(kind), return_inverse=True)
    n_ref = len(reference)
    ref_counts = np.bincount(inverse[:n_ref], minlength=len(keys)).astype(np.float64)
    cur_counts = np.bincount(inverse[n_ref:], minlength=len(keys)).astype(np.float64)
    return ref_counts, cur_counts


def _is_text(*arrays: NDArray[np.generic]) -> bool:
    return any(a.dtype.kind in "OUS" for a in arrays)


def fill_zero_shares(shares: NDArray[np.float64]) -> NDArray[np.float64]:
    """Replace empty bins by a small share so that log ratios stay finite (Evidently's rule).

    Evidently uses 1e-4, or a millionth of the smallest non-empty share when that share
    is itself at most 1e-4.
    """
    out = np.array(shares, dtype=np.float64, copy=True)
    nonzero = out[out != 0]
    if len(nonzero) == 0:
        return out
    smallest = float(nonzero.min())
    out[out == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return out


def shares(counts: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(counts, dtype=np.float64)
    total = arr.sum()
    if total <= 0:
        raise ValueError("cannot compute shares of an empty histogram")
    return arr / total


def on_left_edge(edges: ArrayLike, counts: ArrayLike, sums: ArrayLike, lo: float) -> NDArray[np.bool_]:
    """Per slot of a `NumericSketch` histogram (see `rebin`): whether it holds values and every one
    of them equals the slot's left edge (its mean is that edge; its values lie in [left, right))."""
    inner = np.asarray(edges, dtype=np.float64)
    left = np.concatenate([[min(lo, inner[0])], inner])
    right = np.concatenate([inner, [inner[-1]]])
    c = np.asarray(counts, dtype=np.float64)
    mean = np.divide(np.asarray(sums, dtype=np.float64), c, out=left.copy(), where=c > 0)
    # a sum of equal values carries rounding error relative to the value
    # scaled before subtracting: a width near the float limit must not overflow to inf
    tolerance = np.maximum(1e-9 * right - 1e-9 * left, 0.0) + 1e-9 * np.abs(left)
    return (c > 0) & (mean - left <= tolerance)


def distinct_upper_bound(edges: ArrayLike, slots: tuple[tuple[ArrayLike, ArrayLike], ...]) -> int:
    """At most how many distinct values several histograms on the same edges hold, given each as
    (counts, sums): a bin where every histogram's values sit on its left edge holds one; any
    other bin or tail, as many as its values."""
    n_slots = len(np.asarray(edges)) + 1
    single = np.ones(n_slots, dtype=bool)
    total = np.zeros(n_slots)
    for counts, sums in slots:
        c = np.asarray(counts, dtype=np.float64)
        single &= (c == 0) | on_left_edge(edges, c, sums, float(np.asarray(edges)[0]))
        total += c
    single[[0, -1]] = False  # the tails start at each histogram's own minimum
    return int(np.where(single, total > 0, total).sum())


def rebin(
    edges: ArrayLike, counts: ArrayLike, sums: ArrayLike, lo: float, hi: float, new_edges: ArrayLike
) -> NDArray[np.float64]:
    """Move a histogram onto other edges.

    `counts` and `sums` have len(edges) + 1 slots: below edges[0] (spanning [lo, edges[0]]),
    the bins, and above edges[-1] (spanning [edges[-1], hi]), as in
    `monitor.core.sketch.NumericSketch`. Inside each slot the density is taken as linear, tilted
    so that its mean is the slot's mean (sum / count): a better guess than an even spread where
    the density slopes, as in the tails. A slot whose mean is its left edge holds that one value
    only (values lie in [left, right)), and is moved as that point: the bins of repeated values
    (integers, rounded numbers, a share of zeros), whose quantile edges lie on the values.
    """
    inner = np.asarray(edges, dtype=np.float64)
    left = np.concatenate([[min(lo, inner[0])], inner])
    right = np.concatenate([inner, [max(hi, inner[-1])]])
    c = np.asarray(counts, dtype=np.float64)
    total = np.asarray(sums, dtype=np.float64)
    width = right - left
    safe_width = np.where(width > 0, width, 1.0)
    mid = (left + right) / 2
    mean = np.divide(total, c, out=mid.copy(), where=c > 0)
    # density c/w * (1 + k (x - mid)) has mean mid + k w^2 / 12; non-negative while |k| w <= 2
    tilt = np.clip(12 * (mean - mid) / safe_width**2, -2 / safe_width, 2 / safe_width)
    point = on_left_edge(inner, c, total, lo)
    x = np.asarray(new_edges, dtype=np.float64)
    slot = np.clip(np.searchsorted(right, x, side="left"), 0, len(c) - 1)
    before = np.concatenate([[0.0], np.cumsum(c)])[slot]
    a, m, w, k = left[slot], mid[slot], safe_width[slot], tilt[slot]
    t = np.clip(x, a, a + w)
    linear = c[slot] / w * ((t - a) + k / 2 * ((t - m) ** 2 - (a - m) ** 2))
    partial = np.where(point[slot], np.where(x > a, c[slot], 0.0), linear)
    partial = np.where(width[slot] > 0, partial, np.where(x >= right[slot], c[slot], 0.0))
    cumulative = before + partial
    cumulative[x >= right[-1]] = c.sum()
    cumulative[x < left[0]] = 0.0
    return np.diff(np.maximum.accumulate(cumulative))
