"""Benjamini-Hochberg and Holm against statsmodels, their invariants, and their error rates."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from monitor.core.stats.multiple_testing import benjamini_hochberg, control, holm
from monitor.errors import DataError

p_lists = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(p=p_lists, alpha=st.sampled_from([0.01, 0.05, 0.2]))
def test_agrees_with_statsmodels(p, alpha):
    for ours, theirs in ((benjamini_hochberg, "fdr_bh"), (holm, "holm")):
        got = ours(p, alpha)
        rejected, adjusted, _, _ = multipletests(p, alpha=alpha, method=theirs)
        np.testing.assert_allclose(got.adjusted, adjusted, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(got.rejected, rejected)


@settings(max_examples=40, deadline=None)
@given(p=p_lists, seed=st.integers(0, 100))
def test_order_does_not_matter_and_untested_are_ignored(p, seed):
    perm = np.random.default_rng(seed).permutation(len(p))
    for method in ("benjamini_hochberg", "holm"):
        base = control(p, 0.05, method)
        shuffled = control(np.asarray(p)[perm], 0.05, method)
        np.testing.assert_array_equal(shuffled.adjusted, base.adjusted[perm])
        with_gaps = control([*p, None, float("nan")], 0.05, method)
        assert with_gaps.n_tests == len(p) and not with_gaps.rejected[-2:].any()
        np.testing.assert_array_equal(with_gaps.adjusted[: len(p)], base.adjusted)


def test_family_wise_rate_under_the_global_null():
    """1000 null families of 200 uniform p-values: any rejection in at most ~alpha of them."""
    rng = np.random.default_rng(0)
    for method in ("benjamini_hochberg", "holm"):
        rate = np.mean([control(rng.random(200), 0.05, method).rejected.any() for _ in range(1000)])
        assert rate <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 1000), method
    naive = np.mean([(rng.random(200) < 0.05).any() for _ in range(1000)])
    assert naive > 0.99  # what no control would give


def test_bad_input():
    with pytest.raises(DataError, match="alpha"):
        holm([0.1], alpha=0.0)
    with pytest.raises(DataError, match="p-values"):
        benjamini_hochberg([1.5])
    with pytest.raises(DataError, match="method"):
        control([0.1], 0.05, "bonferroni")  # type: ignore[arg-type]
