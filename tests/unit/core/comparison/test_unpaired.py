"""Unpaired (canary) comparison: the sums, the confidence sequence's level over repeated looks with
no difference, its power against `required_outcomes`, and the verdict's order."""

import math

import numpy as np
import pytest

from monitor.core.comparison import (
    MeanSums,
    VerdictRule,
    compare_unpaired,
    required_outcomes,
    unpaired_sequence,
)
from monitor.errors import DataError

RULE = VerdictRule(alpha_rollback=0.05, alpha_promote=0.05, promote_margin=0.01, min_pairs=200)
LOOK = 400  # joined outcomes (both versions) between two looks


def sums_of(values):
    return MeanSums(values.size, float(values.sum()), float(values @ values))


def test_sums_from_window_metrics_match_the_rows():
    rng = np.random.default_rng(1)
    right = (rng.random(300) < 0.8).astype(float)
    from_metrics = MeanSums.of_metrics("classification", 300, right.mean())
    assert from_metrics.total == pytest.approx(right.sum()) and from_metrics.squares == pytest.approx(
        right.sum()
    )
    errors = np.abs(rng.normal(size=300))
    mae, rmse = errors.mean(), math.sqrt((errors**2).mean())
    exact = sums_of(errors)
    got = MeanSums.of_metrics("regression", 300, mae, rmse)
    assert (got.n, got.total, got.squares) == (300, pytest.approx(exact.total), pytest.approx(exact.squares))
    assert MeanSums.of_metrics("regression", 0, None) == MeanSums()
    with pytest.raises(DataError):
        MeanSums.of_metrics("regression", 3, 1.0, None)
    assert MeanSums.from_state(got.to_state()) == got
    assert MeanSums(1, 1.0, 1.0).add(MeanSums(2, 1.0, 1.0)) == MeanSums(3, 2.0, 2.0)


def stream(rng, accuracy_a, accuracy_b, share_b, looks):
    """(a, b) cumulative sums after each look, rows assigned to B with probability share_b."""
    a, b = MeanSums(), MeanSums()
    for _ in range(looks):
        to_b = rng.random(LOOK) < share_b
        right = rng.random(LOOK) < np.where(to_b, accuracy_b, accuracy_a)
        a.add(sums_of(right[~to_b].astype(float)))
        b.add(sums_of(right[to_b].astype(float)))
        yield a, b


@pytest.mark.parametrize("share_b", [0.5, 0.2])
def test_no_difference_is_rolled_back_at_most_alpha_over_many_looks(share_b):
    """300 stationary streams of 40,000 outcomes looked at every 400: wrongly rolled back in at most
    alpha of them (binomial slack); a fixed-sample 95 % test looked at as often errs far more."""
    rng = np.random.default_rng(2)
    streams, rollbacks, naive = 300, 0, 0
    for _ in range(streams):
        rolled = naive_hit = False
        for a, b in stream(rng, 0.85, 0.85, share_b, 100):
            rolled = rolled or compare_unpaired("classification", a, b, RULE).verdict == "rollback"
            d = b.total / b.n - a.total / a.n
            se = math.sqrt(a.variance("classification") / a.n + b.variance("classification") / b.n)
            naive_hit = naive_hit or d < -1.96 * se
        rollbacks += rolled
        naive += naive_hit
    rate = rollbacks / streams
    print(
        f"share {share_b}: false rollback {rate:.3f}, "
        f"fixed-sample test looked at 100 times {naive / streams:.2f}"
    )
    assert rate <= RULE.alpha_rollback + 2 * math.sqrt(0.05 * 0.95 / streams)
    assert naive / streams > 2 * RULE.alpha_rollback


def test_three_points_worse_is_rolled_back_within_the_predicted_outcomes():
    rng = np.random.default_rng(3)
    share = 0.5
    predicted = required_outcomes(
        0.03, math.sqrt(0.865 * 0.135), math.sqrt(0.835 * 0.165), share, RULE, power=0.8
    )
    assert predicted is not None
    found = []
    for _ in range(100):
        at = None
        for look, (a, b) in enumerate(stream(rng, 0.865, 0.835, share, 3 * predicted // LOOK + 1), 1):
            if compare_unpaired("classification", a, b, RULE).verdict == "rollback":
                at = look * LOOK
                break
        found.append(at)
    by_predicted = np.mean([f is not None and f <= predicted + LOOK for f in found])
    print(f"predicted {predicted} outcomes; rolled back by then in {by_predicted:.2f}")
    assert by_predicted >= 0.75  # power 0.8 less about three binomial std over 100 streams
    assert np.mean([f is not None and f <= 2 * predicted for f in found]) >= 0.97
    # a smaller canary share needs more outcomes; half the effect, over three times as many
    assert required_outcomes(0.03, 0.34, 0.37, 0.1, RULE) > predicted
    assert required_outcomes(0.015, 0.34, 0.37, share, RULE) > 3 * predicted


def test_verdict_order_and_its_reasons():
    rule = VerdictRule(min_pairs=100)
    few = compare_unpaired("classification", MeanSums(50, 40, 40), MeanSums(5000, 1000, 1000), rule)
    assert few.verdict == "hold" and "fewer than" in few.reason
    worse = compare_unpaired("classification", MeanSums(5000, 4300, 4300), MeanSums(5000, 4000, 4000), rule)
    assert worse.verdict == "rollback" and worse.difference_upper < 0
    assert worse.difference == pytest.approx(-0.06)
    same = compare_unpaired(
        "classification", MeanSums(50_000, 43_000, 43_000), MeanSums(50_000, 43_000, 43_000), rule
    )
    assert same.verdict == "promote"
    # regressors: B's MAE 1.0 against A's 1.2 is better (the difference is positive)
    better = compare_unpaired("regression", MeanSums(4000, 4800, 8000), MeanSums(4000, 4000, 6000), rule)
    assert better.metric == "mae" and better.difference == pytest.approx(0.2) and better.verdict == "promote"
    empty = compare_unpaired("regression", MeanSums(), MeanSums(10, 1, 1), rule)
    assert empty.verdict == "hold" and empty.difference is None
    d, lo, hi = unpaired_sequence("regression", MeanSums(10, 10, 10), MeanSums(10, 10, 10), 0.05)
    assert d == lo == hi == 0.0
    with pytest.raises(DataError):
        required_outcomes(0.03, 0.3, 0.3, 1.0, rule)
