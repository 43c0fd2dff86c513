"""DLE: the tree ensemble against scikit-learn, loss estimates, merges, state, and bad input."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import HistGradientBoostingRegressor

from monitor.core.estimation import DLEEstimator, DLEWindow
from monitor.core.estimation.trees import TreeEnsemble
from monitor.errors import DataError
from tests.unit.core.simulated import KINDS, regression_rows


@pytest.fixture(scope="module")
def estimator() -> DLEEstimator:
    f, pred, y = regression_rows(np.random.default_rng(11), 20_000)
    return DLEEstimator.fit(f, KINDS, pred, y)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_the_array_trees_predict_what_scikit_learn_predicts(depth):
    rng = np.random.default_rng(depth)
    x = rng.normal(size=(3000, 5))
    y = np.abs(x[:, 0] * x[:, 1]) + rng.normal(size=3000)
    model = HistGradientBoostingRegressor(max_iter=20, max_depth=depth, min_samples_leaf=200).fit(x, y)
    trees = TreeEnsemble.from_sklearn(model, depth)
    fresh = rng.normal(size=(2000, 5)) * 2
    np.testing.assert_allclose(trees.predict(fresh), model.predict(fresh), rtol=1e-10, atol=1e-10)
    again = TreeEnsemble.from_state(json.loads(json.dumps(trees.to_state())))
    np.testing.assert_array_equal(again.predict(fresh), trees.predict(fresh))


def test_estimates_follow_where_the_rows_are(estimator):
    """The noise grows with |x0|: a window shifted to large x0 has a larger MAE, and the estimate sees it."""
    rng = np.random.default_rng(12)
    for shift in (0.0, 1.0):  # further out, flat extrapolation of the trees underestimates (docstring)
        f, pred, y = regression_rows(rng, 50_000, shift)
        got = estimator.window().update(f, pred).estimate().metrics
        mae, rmse = np.mean(np.abs(y - pred)), np.sqrt(np.mean((y - pred) ** 2))
        assert got["mae"].value == pytest.approx(mae, rel=0.03), shift
        assert got["rmse"].value == pytest.approx(rmse, rel=0.03), shift
    assert (
        got["mae"].value
        > 1.1 * estimator.window().update(*regression_rows(rng, 5000)[:2]).estimate().metrics["mae"].value
    )


def test_the_band_is_the_spread_of_the_realised_mae(estimator):
    rng = np.random.default_rng(13)
    f, pred, _ = regression_rows(rng, 400)
    estimate = estimator.window().update(f, pred).estimate().metrics
    maes, rmses = [], []
    scale = 0.5 + 0.6 * np.abs(f["x0"]) + 0.8 * (f["plan"] == "team")
    for _ in range(500):
        residual = scale * rng.normal(size=400)  # same rows, fresh outcomes
        maes.append(np.mean(np.abs(residual)))
        rmses.append(np.sqrt(np.mean(residual**2)))
    assert estimate["mae"].std == pytest.approx(np.std(maes), rel=0.25)
    assert estimate["rmse"].std == pytest.approx(np.std(rmses), rel=0.35)


@settings(max_examples=20, deadline=None)
@given(cut=st.integers(0, 1000), seed=st.integers(0, 5))
def test_merge_of_a_split_equals_one_window(estimator, cut, seed):
    f, pred, _ = regression_rows(np.random.default_rng(seed), 1000)
    whole = estimator.window().update(f, pred)
    head = estimator.window().update({k: v[:cut] for k, v in f.items()}, pred[:cut])
    tail = estimator.window().update({k: v[cut:] for k, v in f.items()}, pred[cut:])
    merged = tail.merge(head)
    assert merged.n == whole.n
    np.testing.assert_allclose(merged.sums, whole.sums, rtol=1e-12)


def test_states_round_trip_through_json(estimator):
    f, pred, _ = regression_rows(np.random.default_rng(14), 2000)
    window = estimator.window().update(f, pred)
    loaded = DLEEstimator.from_state(json.loads(json.dumps(estimator.to_state())))
    assert (
        DLEWindow.from_state(json.loads(json.dumps(window.to_state())), loaded).estimate()
        == window.estimate()
    )
    assert loaded.window().update(f, pred).estimate() == window.estimate()


def test_bad_input_is_refused_with_the_field_named(estimator):
    f, pred, y = regression_rows(np.random.default_rng(15), 500)
    with pytest.raises(DataError, match="100 reference rows"):
        DLEEstimator.fit({k: v[:50] for k, v in f.items()}, KINDS, pred[:50], y[:50])
    with pytest.raises(DataError, match="'prediction'"):
        estimator.window().update(f, np.full(500, np.nan))
    with pytest.raises(DataError, match="'x0'"):
        estimator.window().update({k: v for k, v in f.items() if k != "x0"}, pred)
    with pytest.raises(DataError, match="rows"):
        estimator.window().update(f, pred[:10])
    state = estimator.to_state()
    state["abs_model"] = state["abs_model"] | {"depth": 7}
    with pytest.raises(DataError, match="complete trees"):
        DLEEstimator.from_state(state)
    assert estimator.window().estimate().metrics == {}
