"""Realised performance per segment: a degradation in one segment of ten is flagged there only;
stationary segments keep the family's false alarms per window at or under alpha."""

import numpy as np
import pytest
from scipy.stats import binom

from monitor.core.performance.classification import ClassificationPerformance
from monitor.core.performance.regression import RegressionPerformance
from monitor.core.segment_performance import (
    SegmentReference,
    accuracy_p_value,
    mae_p_value,
    per_segment,
    segment_performance,
    summary,
)
from monitor.errors import DataError

SEGMENTS = [f"s{i}" for i in range(10)]
ERROR_RATES = np.linspace(0.05, 0.30, len(SEGMENTS))  # each segment its own accuracy


def classified(rng, n, flip=None, flip_share=0.0):
    """Per segment a ClassificationPerformance of n pairs; `flip` gets flip_share of its labels flipped."""
    out = {}
    for label, rate in zip(SEGMENTS, ERROR_RATES, strict=True):
        truth = rng.integers(0, 2, n)
        pred = np.where(rng.random(n) < rate, 1 - truth, truth)
        if label == flip:  # the outcome flipped after the prediction was made
            truth = np.where(rng.random(n) < flip_share, 1 - truth, truth)
        out[label] = ClassificationPerformance().update(truth.astype(str), pred.astype(str))
    return out


def regressed(rng, n, worse=None, factor=1.0):
    out = {}
    for i, label in enumerate(SEGMENTS):
        truth = rng.normal(size=n)
        scale = (1.0 + 0.2 * i) * (factor if label == worse else 1.0)
        out[label] = RegressionPerformance().update(truth, truth + rng.normal(scale=scale, size=n))
    return out


@pytest.fixture(scope="module")
def class_reference():
    return {label: summary(p) for label, p in classified(np.random.default_rng(1), 20_000).items()}


@pytest.fixture(scope="module")
def regression_reference():
    return {label: summary(p) for label, p in regressed(np.random.default_rng(1), 20_000).items()}


def test_flipped_labels_in_one_classifier_segment_are_flagged_there_only(class_reference):
    window = classified(np.random.default_rng(2), 400, flip="s4", flip_share=0.3)
    result = segment_performance("classification", class_reference, window, max_accuracy_drop=0.05)
    assert [t.segment for t in result.degraded] == ["s4"]
    s4 = next(t for t in result.tests if t.segment == "s4")
    assert s4.metric == "accuracy" and s4.n_pairs == 400
    assert s4.value < s4.reference - 0.05 and s4.adjusted_p_value <= 0.05
    assert result.n_tests == 10


def test_a_drop_within_the_allowance_is_not_flagged(class_reference):
    # 3 accuracy points lower everywhere, against an allowance of 5: no alarm even with many pairs
    rng = np.random.default_rng(3)
    window = {}
    for label, rate in zip(SEGMENTS, ERROR_RATES, strict=True):
        truth = rng.integers(0, 2, 5_000)
        pred = np.where(rng.random(5_000) < rate + 0.03, 1 - truth, truth)
        window[label] = ClassificationPerformance().update(truth.astype(str), pred.astype(str))
    assert (
        segment_performance("classification", class_reference, window, max_accuracy_drop=0.05).degraded == ()
    )
    assert (
        len(segment_performance("classification", class_reference, window, max_accuracy_drop=0.01).degraded)
        >= 8
    )


def test_a_worse_regressor_segment_is_flagged_there_only(regression_reference):
    window = regressed(np.random.default_rng(2), 400, worse="s7", factor=1.6)
    result = segment_performance(
        "regression", regression_reference, window, max_mae_increase=0.2, method="holm"
    )
    assert [t.segment for t in result.degraded] == ["s7"]
    s7 = next(t for t in result.tests if t.segment == "s7")
    assert s7.metric == "mae" and s7.value > 1.2 * s7.reference


@pytest.mark.parametrize("method", ["benjamini_hochberg", "holm"])
def test_stationary_false_alarm_rate_is_at_most_alpha(class_reference, regression_reference, method):
    # 300 windows of 10 segments x 200 pairs each, for both kinds, with no degradation at all.
    # With the default allowances (5 accuracy points, 20 % MAE) no window alarms (0 of 300 for each
    # kind and method). With an allowance of ~0 every segment sits on its null; measured with these
    # seeds: 15 of 300 windows (5.0 %) alarm for classifiers, 12 of 300 (4.0 %) for regressors,
    # Benjamini-Hochberg and Holm alike, where alpha = 0.05 allows 15.
    rng = np.random.default_rng(4)
    alarms = dict.fromkeys(("accuracy", "mae", "accuracy at null", "mae at null"), 0)
    for _ in range(300):
        c = segment_performance("classification", class_reference, classified(rng, 200), method=method)
        r = segment_performance("regression", regression_reference, regressed(rng, 200), method=method)
        c0 = segment_performance(
            "classification", class_reference, classified(rng, 200), method=method, max_accuracy_drop=1e-9
        )
        r0 = segment_performance(
            "regression", regression_reference, regressed(rng, 200), method=method, max_mae_increase=1e-9
        )
        for key, result in zip(alarms, (c, r, c0, r0), strict=True):
            alarms[key] += bool(result.degraded)
    assert alarms["accuracy"] == 0 and alarms["mae"] == 0
    assert 0 < alarms["accuracy at null"] <= 15 and 0 < alarms["mae at null"] <= 15


def test_the_binomial_test_at_its_null_keeps_its_level():
    # Errors drawn at exactly the null rate (reference error rate + drop): P(p <= alpha) <= alpha.
    rng = np.random.default_rng(5)
    draws = rng.binomial(150, 0.25, 20_000)
    p = np.array([accuracy_p_value(int(k), 150, 0.2, 0.05) for k in draws])
    assert np.mean(p <= 0.05) <= 0.05
    assert np.mean(p <= 0.05) > 0.02  # not vacuously conservative
    assert accuracy_p_value(40, 100, 0.2, 0.05) == pytest.approx(binom.sf(39, 100, 0.25))


def test_edge_cases():
    assert accuracy_p_value(0, 50, 0.0, 0.05) == 1.0
    assert accuracy_p_value(50, 50, 0.97, 0.05) == 1.0  # null rate past 1: nothing can exceed it
    assert mae_p_value(2.0, 0.0, 30, 1.0, 0.2) == 0.0  # all errors equal and above the bound
    assert mae_p_value(1.1, 0.0, 30, 1.0, 0.2) == 1.0
    with pytest.raises(DataError):
        accuracy_p_value(5, 4, 0.1, 0.05)
    with pytest.raises(DataError):
        segment_performance(
            "classification", {"a": SegmentReference(50, 0.9)}, {"a": RegressionPerformance()}
        )


def test_segments_under_min_rows_or_without_reference_are_untested(class_reference):
    window = classified(np.random.default_rng(6), 20, flip="s0", flip_share=1.0)
    window["new"] = ClassificationPerformance().update(["1"] * 100, ["0"] * 100)
    result = segment_performance("classification", class_reference, window, min_rows=30)
    assert result.n_tests == 0 and result.degraded == ()
    assert [t.segment for t in result.tests] == [*SEGMENTS, "new"]
    new = result.tests[-1]
    assert new.reference is None and new.p_value is None and new.value == 0.0
    gone = segment_performance("regression", {"a": SegmentReference(100, 1.0)}, {})
    assert [(t.segment, t.metric, t.n_pairs, t.value, t.p_value) for t in gone.tests] == [
        ("a", "mae", 0, None, None)
    ]


def test_per_segment_splits_the_pairs_and_summarises_them():
    codes = np.array([0, 1, 1, 2, 0, 1])
    parts = per_segment(
        codes, ["a", "b", "__other__"], RegressionPerformance, [0, 0, 0, 0, 0, 0], [1, -2, 4, 5, 3, 0]
    )
    assert {label: p.n for label, p in parts.items()} == {"a": 2, "b": 3, "__other__": 1}
    assert summary(parts["a"]) == SegmentReference(2, 2.0) and summary(parts["b"]) == SegmentReference(3, 2.0)
    assert summary(RegressionPerformance()) is None
    classes = per_segment(
        codes, ["a", "b", "__other__"], ClassificationPerformance, list("110011"), list("100111")
    )
    assert summary(classes["b"]) == SegmentReference(3, pytest.approx(2 / 3))
    assert SegmentReference.from_state(summary(classes["a"]).to_state()) == SegmentReference(2, 1.0)
