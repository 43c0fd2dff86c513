"""Performance accumulators: differential tests against scikit-learn, exact merges, state round trips."""

import json
import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from monitor.core.performance import (
    OTHER_LABEL,
    ClassificationPerformance,
    LabelDelayHistogram,
    RegressionPerformance,
    compute_performance,
    merge,
    performance_metrics,
)
from monitor.errors import DataError

TOL = 1e-9


def labels(values: Any) -> np.ndarray:
    """Integer classes as the object arrays of decimal strings the accumulators receive."""
    return np.asarray(values).astype(str).astype(object)


def binary_sample(seed: int, n: int = 20_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    score = 1.0 / (1.0 + np.exp(-(rng.normal(size=n) + 1.5 * y - 1.0)))  # continuous, in (0, 1)
    pred = (score > 0.45).astype(int)
    return y, pred, score


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_metrics_agree_with_sklearn(seed):
    y, pred, score = binary_sample(seed)
    got = compute_performance("classification", labels(y), labels(pred), score)
    assert got["n"] == y.size
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=TOL)
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred), abs=TOL)
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred), abs=TOL)
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred), abs=TOL)
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, y_proba=score), abs=TOL)
    auc, bound = got["roc_auc"], got["roc_auc_error_bound"]
    assert auc is not None and bound is not None
    exact_auc = skm.roc_auc_score(y, score)
    assert abs(auc - exact_auc) <= bound
    assert bound <= 1e-3  # the documented size for continuous scores
    assert abs(auc - exact_auc) <= 1e-3


def test_auc_bound_holds_with_heavy_ties():
    rng = np.random.default_rng(3)
    y = (rng.random(5000) < 0.5).astype(int)
    score = np.round(np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1), 2)  # 101 distinct values
    got = compute_performance("classification", labels(y), labels(y), score)
    auc, bound = got["roc_auc"], got["roc_auc_error_bound"]
    assert auc is not None and bound is not None
    assert abs(auc - skm.roc_auc_score(y, score)) <= bound + 1e-12


def test_positive_label_parameter():
    y, pred, score = binary_sample(4, 3000)
    names = np.array(["no", "yes"], dtype=object)
    got = compute_performance("classification", names[y], names[pred], score, positive_label="yes")
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred), abs=TOL)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, score), abs=1e-3)
    flipped = compute_performance("classification", names[y], names[pred], 1 - score, positive_label="no")
    assert flipped["recall"] == pytest.approx(skm.recall_score(1 - y, 1 - pred), abs=TOL)
    assert flipped["log_loss"] == pytest.approx(got["log_loss"], abs=TOL)


def test_macro_metrics_agree_with_sklearn():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 5, 10_000)
    pred = np.where(rng.random(y.size) < 0.6, y, rng.integers(0, 6, y.size))  # class 5 never true
    got = compute_performance("classification", labels(y), labels(pred))
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=TOL)
    for name, fn in [("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)]:
        assert got[name] == pytest.approx(fn(y, pred, average="macro", zero_division=0), abs=TOL)
    assert got["roc_auc"] is None


def test_scores_with_nan_are_left_out_of_log_loss_and_auc():
    y, pred, score = binary_sample(6, 4000)
    score = score.copy()
    score[::3] = np.nan
    got = compute_performance("classification", labels(y), labels(pred), score)
    kept = ~np.isnan(score)
    assert got["n"] == y.size and got["n_scored"] == kept.sum()
    assert got["log_loss"] == pytest.approx(skm.log_loss(y[kept], y_proba=score[kept]), abs=TOL)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y[kept], score[kept]), abs=1e-3)


def test_undefined_metrics_are_none():
    empty = performance_metrics(ClassificationPerformance())
    assert all(empty[k] is None for k in ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"))
    no_positive_predictions = compute_performance("classification", labels([0, 1, 0]), labels([0, 0, 0]))
    assert no_positive_predictions["precision"] is None and no_positive_predictions["recall"] == 0.0
    one_class = compute_performance("classification", labels([0, 0]), labels([0, 1]), [0.2, 0.7])
    assert one_class["roc_auc"] is None and one_class["recall"] is None and one_class["log_loss"] is not None
    assert performance_metrics(RegressionPerformance())["mae"] is None
    constant_y = compute_performance("regression", [2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
    assert constant_y["r2"] is None and constant_y["mae"] == pytest.approx(2 / 3)
    near_zero = compute_performance("regression", [0.0, 1e-320, 2.0], [1.0, 1.0, 1.0])
    assert near_zero["mape"] == 0.5 and near_zero["n_mape_skipped"] == 2  # 1/1e-320 overflows: skipped


def test_label_cap_sends_new_labels_to_other():
    acc = ClassificationPerformance(max_labels=3)
    acc.update(labels([1, 2, 3, 4, 5]), labels([1, 2, 3, 4, 5]))
    assert acc.labels == ("1", "2", "3", OTHER_LABEL)
    assert acc.confusion[3, 3] == 2 and acc.n == 5


def test_integer_and_string_labels_are_the_same_label():
    mixed = np.array([1, "1", 0.0, False], dtype=object)  # as labels.canonical_label spells them
    acc = ClassificationPerformance().update(mixed, labels([1, 1, 0, 0]))
    assert acc.metrics()["accuracy"] == 1.0 and set(acc.labels) == {"1", "0"}


def test_regression_metrics_agree_with_sklearn():
    rng = np.random.default_rng(7)
    y = rng.normal(50.0, 10.0, 20_000)
    y[::50] = 0.0  # MAPE must skip these rows and count them
    pred = y + rng.standard_t(4, y.size)
    got = compute_performance("regression", y, pred)
    nz = y != 0
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), rel=TOL)
    assert got["rmse"] == pytest.approx(skm.root_mean_squared_error(y, pred), rel=TOL)
    assert got["r2"] == pytest.approx(skm.r2_score(y, pred), rel=TOL)
    assert got["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y[nz], pred[nz]), rel=TOL)
    assert got["n_mape_skipped"] == (~nz).sum()
    assert got["abs_error_std"] == pytest.approx(np.std(np.abs(y - pred)), rel=TOL)


def test_r2_has_no_cancellation_when_the_mean_dwarfs_the_spread():
    rng = np.random.default_rng(8)
    y = 1e9 + rng.normal(0.0, 1.0, 10_000)
    pred = y + rng.normal(0.0, 0.5, y.size)
    # Reference computed around the mean, as scikit-learn does.
    assert compute_performance("regression", y, pred)["r2"] == pytest.approx(skm.r2_score(y, pred), rel=TOL)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.floats(allow_nan=False, allow_infinity=False), st.floats(allow_nan=False, allow_infinity=False)
        ),
        min_size=1,
        max_size=8,
    ),
    cut=st.integers(0, 8),
)
def test_regression_sums_stay_exact_for_any_finite_values(rows, cut):
    # Past the decoder's range (monitor.core.limits) too: errors that overflow float64 (1e308 - -1e308)
    # and squares past 1e154 are summed exactly instead of raising.
    y = np.array([r[0] for r in rows])
    pred = np.array([r[1] for r in rows])
    whole = RegressionPerformance().update(y, pred)
    assert (
        merge(
            RegressionPerformance().update(y[:cut], pred[:cut]),
            RegressionPerformance().update(y[cut:], pred[cut:]),
        )
        == whole
    )
    got = whole.metrics()
    total = sum(abs(Fraction(a) - Fraction(b)) for a, b in rows)
    try:
        expected = float(total) / len(rows)
    except OverflowError:  # the sum rounds past the float limit (so does the accumulator's)
        expected = math.inf
    assert got["mae"] == pytest.approx(expected, rel=1e-12)
    assert got["rmse"] is not None and got["rmse"] >= 0 and got["abs_error_std"] is not None
    assert got["n"] == len(rows)


def test_bad_inputs_raise_data_errors_naming_the_field():
    with pytest.raises(DataError, match="y_pred"):
        RegressionPerformance().update([1.0, 2.0], [1.0, np.nan])
    with pytest.raises(DataError, match="score"):
        ClassificationPerformance().update(labels([1]), labels([1]), [1.5])
    with pytest.raises(DataError, match="rows"):
        ClassificationPerformance().update(labels([1, 0]), labels([1]))
    with pytest.raises(DataError, match="missing label"):
        ClassificationPerformance().update(np.array(["1", None], dtype=object), labels([1, 0]))
    with pytest.raises(DataError, match="task"):
        compute_performance("ranking", [1.0], [1.0])  # type: ignore[arg-type]


# --- exact, order-independent merges -----------------------------------------------------------------

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_subnormal=False)
split_points = st.lists(st.integers(min_value=0, max_value=60), min_size=2, max_size=2)


@settings(max_examples=60, deadline=None)
@given(
    true=st.lists(st.integers(0, 3), min_size=0, max_size=60),
    seed=st.integers(0, 2**32 - 1),
    cuts=split_points,
)
def test_classification_merge_is_exact_associative_and_order_independent(true, seed, cuts):
    rng = np.random.default_rng(seed)
    y = np.array(true, dtype=int)
    pred = rng.integers(0, 4, y.size)
    score = np.where(rng.random(y.size) < 0.2, np.nan, rng.random(y.size))
    lo, hi = sorted(min(c, y.size) for c in cuts)
    parts = [
        ClassificationPerformance(n_bins=50).update(labels(y[a:b]), labels(pred[a:b]), score[a:b])
        for a, b in ((0, lo), (lo, hi), (hi, y.size))
    ]
    whole = ClassificationPerformance(n_bins=50).update(labels(y), labels(pred), score)
    a, b, c = parts
    assert merge(merge(a, b), c) == whole
    assert merge(a, merge(b, c)) == whole
    assert merge(c, merge(b, a)) == whole
    assert merge(merge(c, a), b).metrics() == whole.metrics()  # bit-identical floats


def test_r2_of_errors_beyond_float_range_relative_to_the_spread_of_y_is_minus_infinity():
    # SSE / SST here is about 1e619: the exact integer ratio does not fit a float (found by the
    # property test below, which used to raise OverflowError from metrics()).
    metrics = RegressionPerformance().update(np.array([0.0, 1e-160]), np.array([1e149, 0.0])).metrics()
    assert metrics["r2"] == -math.inf and metrics["mae"] == pytest.approx(5e148)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.tuples(finite, finite), max_size=50), cuts=split_points)
def test_regression_merge_is_exact_associative_and_order_independent(values, cuts):
    y = np.array([v[0] for v in values], dtype=float)
    pred = np.array([v[1] for v in values], dtype=float)
    lo, hi = sorted(min(c, y.size) for c in cuts)
    bounds = ((0, lo), (lo, hi), (hi, y.size))
    a, b, c = (RegressionPerformance().update(y[i:j], pred[i:j]) for i, j in bounds)
    whole = RegressionPerformance().update(y, pred)
    assert merge(merge(a, b), c) == whole == merge(a, merge(b, c)) == merge(merge(c, b), a)
    assert merge(merge(c, b), a).metrics() == whole.metrics()
    if y.size:
        assert whole.metrics()["mae"] == pytest.approx(math.fsum(np.abs(y - pred)) / y.size, rel=1e-15)


@settings(max_examples=40, deadline=None)
@given(delays=st.lists(st.floats(-10.0, 1e7), max_size=40), cut=st.integers(0, 40))
def test_label_delay_histogram_merges_exactly(delays, cut):
    d = np.array(delays, dtype=float)
    a, b = LabelDelayHistogram().update(d[:cut]), LabelDelayHistogram().update(d[cut:])
    whole = LabelDelayHistogram().update(d)
    assert merge(a, b) == merge(b, a) == whole


def test_merge_rejects_different_configurations():
    with pytest.raises(DataError):
        merge(ClassificationPerformance(n_bins=10), ClassificationPerformance(n_bins=20))
    with pytest.raises(DataError):
        merge(LabelDelayHistogram([1.0]), LabelDelayHistogram([2.0]))


def test_merge_does_not_modify_its_inputs():
    a = ClassificationPerformance().update(labels([1, 0]), labels([1, 1]), [0.9, 0.6])
    b = ClassificationPerformance().update(labels([2]), labels([0]))
    before = a.to_state(), b.to_state()
    merge(a, b)
    assert (a.to_state(), b.to_state()) == before


# --- label delay ---------------------------------------------------------------------------------------


def test_label_delay_buckets_are_cumulative_le_buckets():
    hist = LabelDelayHistogram().update(np.array([-5.0, 0.0, 60.0, 61.0, 3600.0, 1e7]))
    buckets = dict(hist.cumulative_buckets())
    assert buckets[60.0] == 3  # -5 (clamped to 0), 0 and 60 (le)
    assert buckets[300.0] == 4 and buckets[3600.0] == 5 and buckets[604800.0] == 5
    assert buckets[math.inf] == hist.count == 6
    assert hist.sum == pytest.approx(0 + 60 + 61 + 3600 + 1e7)


# --- state --------------------------------------------------------------------------------------------


def test_states_round_trip_through_json():
    y, pred, score = binary_sample(9, 500)
    accs: list[Any] = [
        ClassificationPerformance().update(labels(y), labels(pred), score),
        RegressionPerformance().update(score * 10, pred.astype(float)),
        LabelDelayHistogram().update(score * 1e5),
    ]
    for acc in accs:
        state = json.loads(json.dumps(acc.to_state()))
        restored = type(acc).from_state(state)
        assert restored == acc
        assert restored.to_state() == acc.to_state()
    with pytest.raises(DataError, match="kind"):
        RegressionPerformance.from_state(accs[0].to_state())


def test_update_is_vectorised_enough_for_a_million_rows():
    rng = np.random.default_rng(10)
    y = labels(rng.integers(0, 2, 1_000_000))
    acc = ClassificationPerformance().update(y, y, rng.random(1_000_000))
    assert acc.n == 1_000_000 and acc.metrics()["accuracy"] == 1.0


def test_an_error_whose_square_is_below_the_float_range_has_no_spread() -> None:
    # 2.3e-151 squared is below the smallest float: the squared-error sum rounds to fewer units
    # than the absolute error's square, which made the spread's sqrt raise (found by hypothesis).
    tiny = 2.2739728107468377e-151
    metrics = RegressionPerformance().update(np.array([tiny]), np.array([0.0])).metrics()
    assert metrics["abs_error_std"] == 0.0 and metrics["mae"] == tiny
