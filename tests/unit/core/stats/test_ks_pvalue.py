"""The binned KS p-value: exact below 1,000 effective rows, Stephens-corrected limit above, within
the documented 0.001 of the exact distribution where decisions are made."""

import numpy as np
import pytest
from scipy.stats import distributions

from monitor.core.stats.ks import STEPHENS_N, ks_pvalue


@pytest.mark.parametrize(
    ("n_reference", "n_current"), [(2_000, 2_000), (20_000, 2_000), (100_000, 1_000_000)]
)
def test_within_a_thousandth_of_the_exact_distribution_near_decisions(
    n_reference: int, n_current: int
) -> None:
    n = round(n_reference * n_current / (n_reference + n_current))
    assert n >= STEPHENS_N
    statistics = np.linspace(0.1, 3.0, 600) / np.sqrt(n)  # p from ~1 down to ~1e-7
    exact = distributions.kstwo.sf(statistics, n)
    ours = np.array([ks_pvalue(d, n_reference, n_current) for d in statistics])
    near = (exact > 0.001) & (exact < 0.2)
    assert near.sum() > 20
    assert np.abs(ours - exact)[near].max() < 1e-3
    assert np.all(np.diff(ours) <= 0) and ours[0] <= 1.0 and ours[-1] >= 0.0


def test_small_samples_use_the_exact_distribution() -> None:
    for d in (0.05, 0.1, 0.3):
        assert ks_pvalue(d, 500, 500) == pytest.approx(float(distributions.kstwo.sf(d, 250)), abs=1e-12)
    assert ks_pvalue(0.2, 0, 10) == 1.0
