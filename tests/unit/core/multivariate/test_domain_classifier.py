"""Domain classifier: permutation threshold, its false-alarm rate, detection, state."""

import json

import numpy as np
import pytest

from monitor.core.multivariate import DomainClassifier
from monitor.core.multivariate.domain_classifier import auc_from_ranks
from monitor.errors import DataError
from tests.unit.core.simulated import KINDS, features


@pytest.fixture(scope="module")
def reference():
    return features(np.random.default_rng(0), 3000, rho=0.8)


def test_auc_from_ranks_is_roc_auc():
    from scipy.stats import rankdata
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    labels = rng.random(500) < 0.3
    scores = np.round(rng.normal(size=500) + labels, 1)  # with ties
    assert float(auc_from_ranks(rankdata(scores), labels)) == pytest.approx(roc_auc_score(labels, scores))


def test_stationary_samples_stay_below_the_threshold(reference):
    """alpha = 0.2 so that 15 stationary draws would show an inflated false-alarm rate."""
    detector = DomainClassifier.fit(reference, KINDS, alpha=0.2, min_auc=0.5, max_iter=20)
    rng = np.random.default_rng(2)
    results = [detector.evaluate(features(rng, 1000, rho=0.8), reference) for _ in range(15)]
    alarms = sum(r.drift_detected for r in results)
    assert alarms <= 6  # binomial(15, 0.2): P(> 6) < 2 %
    assert all(0.4 < r.value < 0.6 for r in results)
    assert all(0 < r.p_value <= 1 for r in results)


def test_a_flipped_correlation_is_found_and_the_result_is_reproducible(reference):
    detector = DomainClassifier.fit(reference, KINDS, max_iter=30)
    window = features(np.random.default_rng(3), 1000, rho=-0.8)
    got = detector.evaluate(window, reference)
    assert got.drift_detected and got.value > 0.7 and got.p_value < 0.01
    assert got.n_window == 1000 and got.n_reference == 3000
    assert (
        DomainClassifier.from_state(json.loads(json.dumps(detector.to_state()))).evaluate(window, reference)
        == got
    )


def test_too_few_rows_and_bad_options(reference):
    detector = DomainClassifier.fit(reference, KINDS)
    assert detector.evaluate(features(np.random.default_rng(4), 20), reference) is None
    with pytest.raises(DataError, match="folds"):
        DomainClassifier.fit(reference, KINDS, folds=1)
