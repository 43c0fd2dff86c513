"""The multivariate drift detectors of a baseline: fitted on the reference at build time, stored
in the baseline as plain state (content-hashed with it), and read back from it.

The stored block is ``{"pca": PCAReconstruction state or null, "domain_classifier": its state or
null}``; a baseline built before multivariate drift existed has no block at all and gives no
multivariate result.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from monitor.config import ModelConfig
from monitor.core.encoding import Kind
from monitor.core.multivariate import DomainClassifier, PCAReconstruction
from monitor.errors import DataError

log = logging.getLogger("driftline.baseline")


def fit_multivariate(reference: Mapping[str, Any], model: ModelConfig, seed: int) -> dict[str, Any] | None:
    """The stored block for `model` (None when neither detector is on). `reference` maps every
    feature to its column of the reference data. PCA left on by default is skipped, with a warning,
    when the reference is too small for its threshold; asked for explicitly, that is an error."""
    settings = model.multivariate
    kinds: dict[str, Kind] = {f.name: f.kind for f in model.features}
    n_numeric = sum(kind == "numeric" for kind in kinds.values())
    pca = None
    if settings.pca_enabled(n_numeric):
        try:
            pca = PCAReconstruction.fit(
                reference,
                kinds,
                variance_share=settings.variance_share,
                chunk_size=settings.chunk_size,
                k=settings.k,
                min_relative_change=settings.min_relative_change,
                seed=seed,
            ).to_state()
        except DataError as err:
            if settings.enabled:
                raise DataError(f"model {model.name!r}: multivariate drift: {err}") from None
            log.warning("model %r: no multivariate drift in this baseline: %s", model.name, err)
    domain = None
    classifier = settings.domain_classifier
    if classifier.enabled:
        domain = DomainClassifier.fit(
            reference,
            kinds,
            alpha=classifier.alpha,
            min_auc=classifier.min_auc,
            permutations=classifier.permutations,
            seed=seed,
        ).to_state()
    if pca is None and domain is None:
        return None
    return {"pca": pca, "domain_classifier": domain}


def pca_of(block: Mapping[str, Any] | None) -> PCAReconstruction | None:
    state = None if block is None else block.get("pca")
    return None if state is None else PCAReconstruction.from_state(state)


def domain_classifier_of(block: Mapping[str, Any] | None) -> DomainClassifier | None:
    state = None if block is None else block.get("domain_classifier")
    return None if state is None else DomainClassifier.from_state(state)
