"""CBPE: the expected confusion matrix and AUC from calibrated scores, its band, merges and state."""

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from monitor.core.estimation import CBPEEstimator, CBPEWindow
from monitor.errors import DataError
from tests.unit.core.simulated import classification_rows


@pytest.fixture(scope="module")
def estimator() -> CBPEEstimator:
    _, _, score, y = classification_rows(np.random.default_rng(1), 20_000)
    return CBPEEstimator.fit(score, y)


def realised(y, pred, score):
    t, p = (y == "1").astype(int), (pred == "1").astype(int)
    return {
        "accuracy": skm.accuracy_score(t, p),
        "precision": skm.precision_score(t, p),
        "recall": skm.recall_score(t, p),
        "f1": skm.f1_score(t, p),
        "roc_auc": skm.roc_auc_score(t, score),
    }


def test_estimate_matches_realised_on_a_large_stationary_window(estimator):
    _, pred, score, y = classification_rows(np.random.default_rng(2), 100_000)
    estimate = estimator.window().update(pred, score).estimate()
    truth = realised(y, pred, score)
    for metric, value in truth.items():
        got = estimate.metrics[metric]
        assert got.value == pytest.approx(value, abs=0.01), metric
        assert abs(got.value - value) <= 4 * got.std, metric  # 4 std: calibration error adds a little
    assert estimate.n == 100_000


def test_the_band_is_the_spread_of_the_realised_metric(estimator):
    """Over many windows of 500 rows drawn from the same stream, the realised metrics spread by the
    std the band is built from (the analytic variance is right, not just wide)."""
    rng = np.random.default_rng(3)
    stds, values = {}, {m: [] for m in ("accuracy", "precision", "recall", "f1", "roc_auc")}
    _, pred, score, _ = classification_rows(rng, 500)
    estimate = estimator.window().update(pred, score).estimate()
    for _ in range(600):
        # Same rows, fresh outcomes: the spread the band describes.
        y = np.where(rng.random(500) < estimator.calibration(score), "1", "0").astype(object)
        for metric, value in realised(y, pred, score).items():
            values[metric].append(value)
    for metric, observed in values.items():
        stds[metric] = float(np.std(observed))
        assert estimate.metrics[metric].std == pytest.approx(stds[metric], rel=0.15), metric


def test_perfectly_calibrated_scores_estimate_their_own_expectation():
    rng = np.random.default_rng(4)
    score = rng.random(50_000)
    y = np.where(rng.random(50_000) < score, "1", "0").astype(object)
    estimator = CBPEEstimator.fit(score, y)
    pred = np.where(score > 0.3, "1", "0").astype(object)
    got = estimator.window().update(pred, score).estimate().metrics
    # With p = score: accuracy = E[p | p > .3 share] + E[1 - p | p <= .3 share] = 0.7*0.65 + 0.3*0.85
    assert got["accuracy"].value == pytest.approx(0.7 * 0.65 + 0.3 * 0.85, abs=0.01)
    assert got["precision"].value == pytest.approx(0.65, abs=0.01)
    # P(p of a positive > p of a negative), densities 2p and 2(1 - p): 4 * (1/3 - 1/8) = 5/6
    assert got["roc_auc"].value == pytest.approx(5 / 6, abs=0.01)


@settings(max_examples=30, deadline=None)
@given(cuts=st.lists(st.integers(0, 2000), min_size=1, max_size=5), seed=st.integers(0, 10))
def test_merge_of_any_split_equals_one_window(estimator, cuts, seed):
    _, pred, score, _ = classification_rows(np.random.default_rng(seed), 2000)
    score = score.copy()
    score[::97] = np.nan  # unscored rows are counted apart
    whole = estimator.window().update(pred, score)
    bounds = [0, *sorted(cuts), 2000]
    parts = [estimator.window().update(pred[a:b], score[a:b]) for a, b in itertools.pairwise(bounds)]
    merged = parts[0]
    for part in reversed(parts[1:]):  # order must not matter
        merged = part.merge(merged)
    assert merged.n == whole.n and merged.n_unscored == whole.n_unscored == len(score[::97])
    np.testing.assert_allclose(merged.by_class, whole.by_class, rtol=1e-12)
    np.testing.assert_allclose(merged.bin_p, whole.bin_p, rtol=1e-12, atol=1e-12)
    for metric, value in whole.estimate().metrics.items():
        assert merged.estimate().metrics[metric].value == pytest.approx(value.value, rel=1e-12)


def test_states_round_trip_through_json(estimator):
    _, pred, score, _ = classification_rows(np.random.default_rng(5), 3000)
    window = estimator.window().update(pred, score)
    loaded = CBPEEstimator.from_state(json.loads(json.dumps(estimator.to_state())))
    again = CBPEWindow.from_state(json.loads(json.dumps(window.to_state())), loaded)
    assert again.estimate() == window.estimate()
    assert loaded.window().update(pred, score).estimate() == window.estimate()


def test_bad_input_is_refused_with_the_field_named(estimator):
    with pytest.raises(DataError, match="binary target"):
        CBPEEstimator.fit([0.1, 0.5, 0.9], ["a", "b", "c"])
    with pytest.raises(DataError, match="one class"):
        CBPEEstimator.fit([0.1, 0.5, 0.9], ["1", "1", "1"])
    with pytest.raises(DataError, match="score"):
        estimator.window().update(np.array(["1"], dtype=object), np.array([1.5]))
    with pytest.raises(DataError, match="rows"):
        estimator.window().update(np.array(["1", "0"], dtype=object), np.array([0.5]))
    with pytest.raises(DataError, match="kind"):
        CBPEEstimator.from_state({"kind": "dle"})
    bad = estimator.window().to_state() | {"bin_count": [0.0]}
    with pytest.raises(DataError, match="bins"):
        CBPEWindow.from_state(bad, estimator)


def test_an_empty_window_estimates_nothing(estimator):
    estimate = estimator.window().estimate()
    assert estimate.metrics == {} and estimate.n == 0
    only_negatives = (
        estimator.window().update(np.array(["0"] * 10, dtype=object), np.full(10, 0.2)).estimate()
    )
    assert "precision" not in only_negatives.metrics and "accuracy" in only_negatives.metrics
