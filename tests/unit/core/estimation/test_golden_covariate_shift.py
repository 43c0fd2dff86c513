"""Golden test (a): a covariate shift changes performance while no label has arrived; the estimate
made then tracks the realised metric measured later, within its band.

A seeded stream of 30 windows whose inputs move step by step away from the reference (x0 and the
correlated x1 shift), for a classifier with scores (accuracy, F1, ROC AUC) and a regressor whose
noise grows with |x0| (MAE, RMSE). Coverage is printed (pytest -s) and checked against the 95 % band.
"""

import numpy as np
import pytest

from monitor.core.estimation import CBPEEstimator, DLEEstimator, compare, summarise
from monitor.core.performance import ClassificationPerformance, RegressionPerformance
from tests.unit.core.simulated import KINDS, classification_rows, regression_rows

WINDOWS = 60
ROWS = 2000


def shifts(top: float) -> np.ndarray:
    return np.linspace(0.0, top, WINDOWS)


def test_classifier_estimate_tracks_later_accuracy():
    rng = np.random.default_rng(2024)
    _, _, ref_score, ref_y = classification_rows(rng, 20_000)
    estimator = CBPEEstimator.fit(ref_score, ref_y)
    found = {m: [] for m in ("accuracy", "f1", "roc_auc")}
    for shift in shifts(-2.0):
        _, pred, score, y = classification_rows(rng, ROWS, shift)
        estimate = estimator.window().update(pred, score).estimate()  # at prediction time: no labels
        realised = ClassificationPerformance("1").update(y, pred, score).metrics()  # outcomes, later
        for metric in found:
            found[metric].append(compare(estimate.metrics[metric], realised[metric], int(realised["n"])))
    accuracy = [c.realised for c in found["accuracy"]]
    assert max(accuracy) - min(accuracy) > 0.1  # the shift really changed performance
    for metric, comparisons in found.items():
        summary = summarise(comparisons)
        print(f"classifier {metric}: coverage {summary.coverage:.2f}, MAE {summary.mean_absolute_error:.4f}")
        assert summary.coverage >= 0.85, metric
        assert summary.mean_absolute_error < 0.015, metric
    estimates = [c.estimate for c in found["accuracy"]]
    assert np.corrcoef(estimates, accuracy)[0, 1] > 0.95


def test_regressor_estimate_tracks_later_mae():
    rng = np.random.default_rng(2025)
    f, pred, y = regression_rows(rng, 20_000)
    estimator = DLEEstimator.fit(f, KINDS, pred, y)
    found = {m: [] for m in ("mae", "rmse")}
    for shift in shifts(1.0):
        f, pred, y = regression_rows(rng, ROWS, shift)
        estimate = estimator.window().update(f, pred).estimate()
        realised = RegressionPerformance().update(y, pred).metrics()
        for metric in found:
            found[metric].append(compare(estimate.metrics[metric], realised[metric], int(realised["n"])))
    mae = [c.realised for c in found["mae"]]
    assert max(mae) / min(mae) > 1.2
    for metric, comparisons in found.items():
        summary = summarise(comparisons)
        print(
            f"regressor {metric}: coverage {summary.coverage:.2f}, relative MAE "
            f"{summary.mean_absolute_error / np.mean(mae):.4f}"
        )
        assert summary.coverage >= 0.8, metric
        assert summary.mean_absolute_error / np.mean([c.realised for c in comparisons]) < 0.03, metric
    assert np.corrcoef([c.estimate for c in found["mae"]], mae)[0, 1] > 0.9


def test_compare_waits_for_enough_pairs():
    from monitor.core.estimation import MetricEstimate

    estimate = MetricEstimate("accuracy", 0.8, 0.75, 0.85, 0.025, 1000)
    assert compare(estimate, 0.7, 50) is None
    assert compare(estimate, None, 500) is None
    got = compare(estimate, 0.7, 500)
    assert got is not None and got.error == pytest.approx(0.1) and not got.within_band
