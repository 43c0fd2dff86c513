"""Multivariate drift of a window against its baseline: the PCA reconstruction error from the
window's mergeable sums, and, when the baseline has one, the domain classifier on the window's
row sample against the reference sample (monitor.core.multivariate)."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.baselines.baseline import Baseline
from monitor.core.multivariate import MultivariateDriftResult
from monitor.pipeline.windows import WindowState


@dataclass(frozen=True)
class MultivariateReport:
    pca: MultivariateDriftResult | None  # None: no PCA in the baseline, or no rows measured
    domain_classifier: MultivariateDriftResult | None  # None: not enabled, or samples too small

    @property
    def drift_detected(self) -> bool:
        return any(r is not None and r.drift_detected for r in (self.pca, self.domain_classifier))


def evaluate_multivariate(window: WindowState, baseline: Baseline) -> MultivariateReport | None:
    """None when the baseline has no multivariate detector (or neither gives a result yet)."""
    pca = baseline.pca
    reconstruction = window.reconstruction
    pca_result = None if pca is None or reconstruction is None else pca.evaluate(reconstruction)
    domain = baseline.domain_classifier
    domain_result = None
    if domain is not None:
        reference = baseline.profile.reservoir
        sample = window.sketch.reservoir
        names = domain.encoder.names
        if len(sample) and all(name in sample.columns for name in names):
            domain_result = domain.evaluate(
                {name: sample.column(name) for name in names},
                {name: reference.column(name) for name in names},
            )
    if pca_result is None and domain_result is None:
        return None
    return MultivariateReport(pca_result, domain_result)
