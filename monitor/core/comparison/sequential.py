"""Tests for paired differences between two model versions, safe to look at after every window.

`confidence_sequence`: an asymptotic confidence sequence for the mean of paired differences d
(Waudby-Smith, Arbour, Sinha, Kennedy and Ramdas, "Time-uniform central limit theory and
asymptotic confidence sequences", 2021; the normal-mixture boundary of Robbins and of Howard et
al.): with probability at least 1 - alpha the true mean lies in

    mean_n ± std_n · sqrt(2 (n ρ² + 1) / (n² ρ²) · log(sqrt(n ρ² + 1) / alpha))

at *every* n at once, so a verdict may be drawn whenever a window is evaluated, as often as wanted,
and the chance of ever wrongly calling a difference stays alpha (a fixed-sample test checked after
each window would reach any error rate given enough windows). It needs only n, sum d and sum d²,
so it is computed from mergeable sums. ρ tunes where the sequence is tightest; it is set for
`planned_pairs` (the formula of the paper's section 3). Asymptotic: valid as n grows, so verdicts
wait for `min_pairs` (see `verdict.VerdictRule`).

`required_pairs`: how many joined pairs the sequence needs to show a true difference `effect`
(std of d `std`) with probability `power`: the smallest n with effect > z_power·std/sqrt(n) + the
half-width at n. Checked by simulation in tests/unit/core/comparison.

`mcnemar`: McNemar's exact test on the discordant pairs of paired correctness, and its mid-p
version (less conservative): the fixed-sample evidence of one window, reported beside the verdict.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from scipy.stats import binom

from monitor.errors import DataError


def _rho_squared(alpha: float, planned_pairs: int) -> float:
    log_term = -2.0 * math.log(alpha)
    return (log_term + math.log(log_term + 1.0)) / planned_pairs


def half_width(n: float, std: float, alpha: float, planned_pairs: int = 10_000) -> float:
    if not 0.0 < alpha < 1.0 or planned_pairs < 1:
        raise DataError(f"need 0 < alpha < 1 and planned_pairs >= 1, got {alpha} and {planned_pairs}")
    if n < 1:
        return math.inf
    rho2 = _rho_squared(alpha, planned_pairs)
    growth = n * rho2 + 1.0
    return std * math.sqrt(2.0 * growth / (n * n * rho2) * math.log(math.sqrt(growth) / alpha))


def confidence_sequence(
    n: int, total: float, total_squares: float, alpha: float, planned_pairs: int = 10_000
) -> tuple[float, float, float]:
    """(mean, lower, upper) of the paired differences from their count, sum and sum of squares."""
    if n < 1:
        return math.nan, -math.inf, math.inf
    mean = total / n
    std = math.sqrt(max(total_squares / n - mean * mean, 0.0))
    width = half_width(n, std, alpha, planned_pairs)
    return mean, mean - width, mean + width


def required_pairs(
    effect: float,
    std: float,
    alpha: float,
    power: float = 0.8,
    planned_pairs: int = 10_000,
    limit: int = 10**9,
) -> int | None:
    """Joined pairs needed to show a difference of `effect` (> 0) with probability `power`; None if
    more than `limit`."""
    if effect <= 0 or std <= 0 or not 0.0 < power < 1.0:
        raise DataError(f"need effect > 0, std > 0 and 0 < power < 1, got {effect}, {std}, {power}")
    z = NormalDist().inv_cdf(power)

    def enough(n: int) -> bool:
        return effect > z * std / math.sqrt(n) + half_width(n, std, alpha, planned_pairs)

    high = 2
    while not enough(high):
        high *= 2
        if high > limit:
            return None
    low = high // 2  # enough(high), not enough(low) (or low == 1)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high


def mcnemar(only_a_right: int, only_b_right: int) -> tuple[float, float]:
    """(exact two-sided p-value, mid-p) for H0: both versions are right equally often."""
    discordant = only_a_right + only_b_right
    if discordant == 0:
        return 1.0, 1.0
    k = min(only_a_right, only_b_right)
    exact = min(1.0, 2.0 * float(binom.cdf(k, discordant, 0.5)))
    mid = min(1.0, exact - float(binom.pmf(k, discordant, 0.5)))
    return exact, mid
