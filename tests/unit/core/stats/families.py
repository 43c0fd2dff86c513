"""Distribution families for comparing the summary path with the exact one, shared by
`test_summary_differential.py` and `tests/benchmarks/bench_summary_accuracy.py`.

Each family draws a numeric column; `shift` moves it (0 = the reference's distribution).
A pair gives the same column twice: as the summaries a baseline and a window keep (the
reference's quantile bins, 100 by default) and as the raw samples, so `summary_statistics`
and `exact_statistics` of `monitor.evaluation.drift` can be compared on the same data.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from monitor.baselines.baseline import numeric_sketch
from monitor.evaluation.drift import Column

FAMILIES = (
    "normal",
    "lognormal",
    "mixture",  # two normals, 30 / 70
    "student_t2",
    "pareto",  # Pareto with shape 1.5 (infinite variance)
    "integers",  # Poisson(30): tens of distinct values, each repeated (quantile bins on values)
    "few_integers",  # Poisson(2): few distinct values, counted exactly
    "three_values",  # 0, 1, 2: a chi-square column
    "rounded",  # a normal rounded to 0.1: many ties
    "zero_inflated",  # 60 % zeros, the rest lognormal
    "near_constant",  # 95 % one value, the rest a narrow normal beside it
)


def draw(family: str, rng: np.random.Generator, n: int, shift: float) -> NDArray[np.float64]:
    s = shift
    if family == "normal":
        return rng.normal(s, 1.0, n)
    if family == "lognormal":
        return rng.lognormal(s, 1.0, n)
    if family == "mixture":
        return np.where(rng.random(n) < 0.3, rng.normal(-2.0, 0.5, n), rng.normal(1.0, 1.0, n)) + 1.6 * s
    if family == "student_t2":
        return rng.standard_t(2, n) + s
    if family == "pareto":
        return (rng.pareto(1.5, n) + 1.0) * (1.0 + s)
    if family == "integers":
        return rng.poisson(30.0 * (1.0 + s / 2), n).astype(np.float64)
    if family == "few_integers":
        return rng.poisson(2.0 * (1.0 + s), n).astype(np.float64)
    if family == "three_values":
        p = np.array([0.5 - 0.2 * s, 0.3, 0.2 + 0.2 * s])
        return rng.choice([0.0, 1.0, 2.0], n, p=p)
    if family == "rounded":
        return np.round(rng.normal(s, 1.0, n), 1)
    if family == "zero_inflated":
        return np.where(rng.random(n) < 0.6 - 0.2 * s, 0.0, rng.lognormal(0.5 * s, 1.0, n))
    if family == "near_constant":
        return np.where(rng.random(n) < 0.95 - 0.1 * s, 5.0, rng.normal(5.0 + 0.01 * s, 0.01, n))
    raise ValueError(family)


def columns(ref: NDArray[np.float64], cur: NDArray[np.float64], bins: int = 100) -> tuple[Column, Column]:
    """The pair as summaries (a baseline's sketch and a window's on its bins) and as raw samples."""
    reference = numeric_sketch(ref, bins)
    current = reference.empty_like().update(cur)
    return Column("x", True, reference, current, None, None), Column("x", True, reference, current, ref, cur)
