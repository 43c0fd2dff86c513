"""Paired comparison: the confidence sequence's coverage over repeated looks, McNemar against
statsmodels, the power function, the sums (merge, state) and the verdict's evidence."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from monitor.core.comparison import (
    ComparisonSpec,
    PairedWindow,
    VerdictRule,
    compare_versions,
    confidence_sequence,
    mcnemar,
    required_pairs,
)
from monitor.core.comparison.sequential import half_width
from monitor.errors import DataError


def test_the_sequence_holds_at_every_look():
    """300 streams of 20,000 pairs, looked at every 100: the true mean leaves the sequence in at most
    alpha of them; a fixed-sample 95 % interval looked at as often leaves it in far more."""
    rng = np.random.default_rng(0)
    alpha, misses, naive_misses = 0.05, 0, 0
    for _ in range(300):
        d = rng.choice([-1.0, 0.0, 1.0], 20_000, p=[0.06, 0.88, 0.06])  # true mean 0
        n = np.arange(100, 20_001, 100)
        total, squares = np.cumsum(d)[n - 1], np.cumsum(d * d)[n - 1]
        bounds = [confidence_sequence(int(k), t, s, alpha) for k, t, s in zip(n, total, squares, strict=True)]
        misses += any(lo > 0 or hi < 0 for _, lo, hi in bounds)
        std = np.sqrt(squares / n - (total / n) ** 2)
        naive_misses += bool(np.any(np.abs(total / n) > 1.96 * std / np.sqrt(n)))
    assert misses / 300 <= alpha
    assert naive_misses / 300 > 0.2


def test_required_pairs_is_what_the_boundary_needs():
    n = required_pairs(0.03, 0.3, 0.05, 0.8)
    assert n is not None
    z = 0.8416212335729143
    assert z * 0.3 / np.sqrt(n) + half_width(n, 0.3, 0.05) < 0.03
    assert not z * 0.3 / np.sqrt(n - 1) + half_width(n - 1, 0.3, 0.05) < 0.03
    assert required_pairs(0.015, 0.3, 0.05) > 3 * n  # half the effect: more than 3x the pairs
    assert required_pairs(1e-9, 1.0, 0.05, limit=10**6) is None
    with pytest.raises(DataError):
        required_pairs(0.0, 1.0, 0.05)


@pytest.mark.parametrize(("b", "c"), [(0, 0), (3, 10), (25, 12), (100, 130), (1, 0)])
def test_mcnemar_agrees_with_statsmodels(b, c):
    exact, mid = mcnemar(b, c)
    expected = sm_mcnemar([[50, b], [c, 50]], exact=True).pvalue if b + c else 1.0
    assert exact == pytest.approx(expected, rel=1e-12)
    assert mid <= exact


def labels(values):
    return np.asarray(values, dtype=object)


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(0, 400), seed=st.integers(0, 20))
def test_merge_of_a_split_equals_one_window_and_state_round_trips(cut, seed):
    rng = np.random.default_rng(seed)
    for spec, make in (
        (
            ComparisonSpec.fit("classification", labels(["a", "b", "c"])),
            lambda n: labels(rng.choice(["a", "b", "c"], n)),
        ),
        (ComparisonSpec.fit("regression", rng.normal(size=500)), lambda n: rng.normal(size=n)),
    ):
        a, b, y = make(400), make(400), make(400)
        whole = PairedWindow(spec).add_predictions(a, b).add_outcomes(a, b, y)
        head = PairedWindow(spec).add_predictions(a[:cut], b[:cut]).add_outcomes(a[:cut], b[:cut], y[:cut])
        tail = PairedWindow(spec).add_predictions(a[cut:], b[cut:]).add_outcomes(a[cut:], b[cut:], y[cut:])
        merged = tail.merge(head)
        again = PairedWindow.from_state(json.loads(json.dumps(merged.to_state())), spec)
        for got in (merged, again):
            assert (got.n_shared, got.n_agree, got.n_joined) == (
                whole.n_shared,
                whole.n_agree,
                whole.n_joined,
            )
            assert (got.only_a_right, got.only_b_right) == (whole.only_a_right, whole.only_b_right)
            np.testing.assert_allclose(got.sums, whole.sums, rtol=1e-12, atol=1e-12)
            assert compare_versions(got).verdict == compare_versions(whole).verdict


def test_classifier_evidence():
    spec = ComparisonSpec.fit("classification", labels(["0", "1"]))
    y = labels(["1"] * 1000)
    a = labels(["1"] * 900 + ["0"] * 100)  # A: 0.9
    b = labels(["1"] * 850 + ["0"] * 150)  # B: 0.85, wrong wherever A is, and on 50 more
    result = compare_versions(PairedWindow(spec).add_predictions(a, b).add_outcomes(a, b, y))
    assert result.metric == "accuracy" and result.metric_a == 0.9 and result.metric_b == 0.85
    assert result.difference == pytest.approx(-0.05) and result.difference_upper < 0
    assert result.agreement == 0.95 and result.agreement_lower < 0.95 < result.agreement_upper
    assert result.mcnemar_p_value < 1e-10 and result.verdict == "rollback"
    assert result.prediction_drift is not None and result.prediction_drift.statistic == "jensen_shannon"


def test_identical_versions_are_promoted_and_few_pairs_are_held():
    spec = ComparisonSpec.fit("regression", np.arange(100.0))
    rng = np.random.default_rng(3)
    y, a = rng.normal(50, 10, 5000), rng.normal(50, 10, 5000)
    same = compare_versions(PairedWindow(spec).add_predictions(a, a).add_outcomes(a, a, y))
    assert same.verdict == "promote" and same.agreement == 1.0 and same.difference == 0.0
    assert not same.prediction_drift.drift_detected and same.metric == "mae"
    few = compare_versions(
        PairedWindow(spec).add_outcomes(a[:50], a[:50], y[:50]), VerdictRule(min_pairs=200)
    )
    assert few.verdict == "hold" and "fewer than the 200" in few.reason
    shifted = compare_versions(PairedWindow(spec).add_predictions(a, a + 20))
    assert shifted.prediction_drift.drift_detected and shifted.agreement == 0.0


def test_bad_input():
    spec = ComparisonSpec.fit("classification", labels(["0", "1"]))
    with pytest.raises(DataError, match="version B"):
        PairedWindow(spec).add_predictions(labels(["1"]), labels(["1", "0"]))
    with pytest.raises(DataError, match="missing"):
        PairedWindow(spec).add_predictions(labels([None]), labels(["1"]))
    with pytest.raises(DataError, match="task"):
        ComparisonSpec.fit("ranking", [1.0])  # type: ignore[arg-type]
    with pytest.raises(DataError, match="alpha"):
        VerdictRule(alpha_rollback=0.0)
    regression = ComparisonSpec.fit("regression", [1.0, 2.0])
    with pytest.raises(DataError, match="spec"):
        PairedWindow(spec).merge(PairedWindow(regression))
    with pytest.raises(DataError, match="y_true"):
        PairedWindow(regression).add_outcomes([1.0], [1.0], [np.nan])
