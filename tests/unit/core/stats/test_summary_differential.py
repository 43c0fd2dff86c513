"""The summary path decides as the exact path does, on every family of `families.py`.

For each family, size pair and shift (0 = stationary, then 0.1, 0.25, 0.5 of the family's unit),
a reference and a window are compared by `monitor.evaluation.drift` twice: from the sketches a
baseline and a window keep (`summary_statistics`) and from the raw samples (`exact_statistics`).
At the default thresholds every distance (PSI, Jensen-Shannon, normed Wasserstein, Hellinger)
and the column's test (KS, or chi-square for at most 5 distinct values) must flag the same
windows on both paths, except where the exact value lies within the statistic's band of its
threshold. The bands are the largest |summary - exact| that `tests/benchmarks/
bench_summary_accuracy.py` measured on these families at 1k-100k rows (rounded up); they are
not small for PSI, whose empty-bin filling (1e-4) turns a few hundredths of a share in a
nearly empty Sturges bin into a large term, and for Hellinger, whose Sturges bin count
follows the number of distinct values, which summaries bound but do not know. KS is banded on
its statistic D, a lower bound short by at most one bin's share of either sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from monitor.config import DriftThresholds
from monitor.core.stats.ks import ks_pvalue
from monitor.evaluation.drift import exact_statistics, summary_statistics
from tests.unit.core.stats.families import FAMILIES, columns, draw

THRESHOLDS = DriftThresholds()
SIZES = [(1_000, 1_000), (20_000, 5_000), (5_000, 50_000)]
SHIFTS = (0.0, 0.1, 0.25, 0.5)
BANDS = {"psi": 0.06, "jensen_shannon": 0.03, "wasserstein": 0.015, "hellinger": 0.04, "ks": 0.007}
DISTANCES = ("psi", "jensen_shannon", "wasserstein", "hellinger")


@dataclass(frozen=True)
class Decision:
    statistic: str
    exact: bool
    summary: bool
    near_threshold: bool  # within the band: the two may differ


def decisions(family: str, sizes: tuple[int, int], shift: float) -> list[Decision]:
    rng = np.random.default_rng([sizes[0], sizes[1], FAMILIES.index(family), int(shift * 100)])
    ref, cur = draw(family, rng, sizes[0], 0.0), draw(family, rng, sizes[1], shift)
    summary, exact = columns(ref, cur)
    exact_values, exact_test = exact_statistics(exact)
    summary_values, summary_test = summary_statistics(summary)
    out = []
    for name in DISTANCES:
        limit = float(getattr(THRESHOLDS, name))
        value = exact_values[name]
        out.append(
            Decision(name, value >= limit, summary_values[name] >= limit, abs(value - limit) <= BANDS[name])
        )
    if len(np.unique(np.concatenate([ref, cur]))) <= 5:
        limit = THRESHOLDS.chi_square_pvalue
        # counts are exact on both paths, so the p-values are the same: no band
        out.append(Decision("chi_square", exact_test.p_value < limit, summary_test.p_value < limit, False))
    else:
        limit = THRESHOLDS.ks_pvalue
        d = exact_test.statistic
        straddles = ks_pvalue(d - BANDS["ks"], *sizes) > limit >= ks_pvalue(d + BANDS["ks"], *sizes)
        out.append(Decision("ks", exact_test.p_value <= limit, summary_test.p_value <= limit, straddles))
    return out


@pytest.fixture(scope="module")
def all_decisions() -> dict[tuple[str, tuple[int, int], float], list[Decision]]:
    return {
        (family, sizes, shift): decisions(family, sizes, shift)
        for family in FAMILIES
        for sizes in SIZES
        for shift in SHIFTS
    }


@pytest.mark.parametrize("family", FAMILIES)
def test_summary_decisions_equal_exact_outside_the_band(
    all_decisions: dict[tuple[str, tuple[int, int], float], list[Decision]], family: str
) -> None:
    differ = [
        (sizes, shift, d.statistic, d.exact)
        for (f, sizes, shift), found in all_decisions.items()
        if f == family
        for d in found
        if d.exact != d.summary and not d.near_threshold
    ]
    assert differ == []


def test_both_decisions_occur_for_every_statistic(
    all_decisions: dict[tuple[str, tuple[int, int], float], list[Decision]],
) -> None:
    """Guard on the data: agreement means something only if each statistic flags some windows
    and clears others, most of them well away from the threshold."""
    flat = [d for found in all_decisions.values() for d in found]
    for name in (*DISTANCES, "ks", "chi_square"):
        mine = [d for d in flat if d.statistic == name]
        assert {d.exact for d in mine if not d.near_threshold} == {True, False}, name
        assert sum(d.near_threshold for d in mine) <= len(mine) / 4, name
