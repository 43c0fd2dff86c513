"""Golden test (b): two features swap the sign of their correlation while every marginal stays the
same. Both multivariate detectors fire; every univariate statistic of monitor/core/stats stays below
its threshold on every feature.

The inputs are those the classifier and the regressor of tests/unit/core/simulated.py both read
(multivariate drift looks at inputs, so one stream serves both models).

Thresholds: 0.1 for the distances (Evidently's defaults, which driftline's decisions follow), and
0.05 for the p-values *as one family per window under Holm's control* (`stats.multiple_testing`):
tested one by one at 0.05, some of the 5 features' p-values fall below it in about a quarter of
stationary windows (seed 11's flipped window has KS p < 0.05 on x0 uncontrolled), which says
nothing about a flip. The seeds were fixed before the first run and not chosen.
"""

import numpy as np
import pytest

from monitor.core.multivariate import DomainClassifier, PCAReconstruction
from monitor.core.stats import (
    chi_square_samples,
    hellinger_samples,
    jensen_shannon_samples,
    ks_samples,
    psi_samples,
    wasserstein_norm_samples,
)
from monitor.core.stats.multiple_testing import holm
from tests.unit.core.simulated import KINDS, features

RHO = 0.7
# Evidently's defaults, which driftline's drift decisions follow (README, "How drift is decided").
P_VALUE = 0.05
DISTANCE = 0.1


def univariate_alarms(reference, window):
    alarms, p_values = [], {}
    for name, kind in KINDS.items():
        ref, cur = reference[name], window[name]
        numeric = kind == "numeric"
        p_values[name] = (ks_samples(ref, cur) if numeric else chi_square_samples(ref, cur)).p_value
        distances = {
            "psi": psi_samples(ref, cur, numeric),
            "jensen_shannon": jensen_shannon_samples(ref, cur, numeric),
            "hellinger": hellinger_samples(ref, cur, numeric),
        }
        if numeric:
            distances["wasserstein"] = wasserstein_norm_samples(ref, cur)
        alarms += [f"{name}:{stat}" for stat, value in distances.items() if value >= DISTANCE]
    family = holm(list(p_values.values()), P_VALUE)
    alarms += [f"{name}:p_value" for name, hit in zip(p_values, family.rejected, strict=True) if hit]
    return alarms


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_correlation_flip_fires_multivariate_only(seed):
    rng = np.random.default_rng(seed)
    reference = features(rng, 20_000, rho=RHO)
    reference_sample = {k: v[:5000] for k, v in reference.items()}
    pca = PCAReconstruction.fit(reference, KINDS)
    domain = DomainClassifier.fit(reference_sample, KINDS, max_iter=30)

    before = features(rng, 2000, rho=RHO)
    after = features(rng, 2000, rho=-RHO)
    assert np.corrcoef(before["x0"], before["x1"])[0, 1] > 0.6  # the flip is real
    assert np.corrcoef(after["x0"], after["x1"])[0, 1] < -0.6

    assert not pca.evaluate(pca.window().update(before)).drift_detected
    assert not domain.evaluate(before, reference_sample).drift_detected
    assert pca.evaluate(pca.window().update(after)).drift_detected
    assert domain.evaluate(after, reference_sample).drift_detected
    assert univariate_alarms(reference_sample, after) == []


def test_the_univariate_check_can_fail():
    """The same checks do fire on a plain mean shift, so their silence above means something."""
    rng = np.random.default_rng(13)
    reference = features(rng, 5000)
    assert "x0:p_value" in univariate_alarms(reference, features(rng, 2000, shift=0.3))
