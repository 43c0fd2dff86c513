"""Multivariate drift: changes in how features move together, which no per-feature test sees.

What is detected
  * `PCAReconstruction`: the reference's principal structure (components explaining a share of
    its variance) reconstructs new rows worse (or better) than it reconstructs reference rows. A
    correlation that flips between two features with unchanged marginals raises the error.
    Mergeable over every row of the window (count, sum, sum of squares of per-row errors).
  * `DomainClassifier`: a classifier trained to tell the window's row sample from the
    reference sample; a cross-validated ROC AUC above chance (permutation threshold) means the
    two differ in some way, including interactions. Works on the bounded row samples only.

Assumptions and limits
  * Rows are independent within a window; the PCA threshold scales the spread of reference chunk
    means by sqrt(chunk_size / n). Strongly autocorrelated streams will alarm more often than k
    suggests; raise `chunk_size` so chunks hold the autocorrelation.
  * PCA sees linear structure only (a change in a non-linear dependence may not move the error)
    and is blind to a shift along the kept components when it keeps the correlations; the
    univariate tests see those. The domain classifier sees both but only on the samples, so small
    changes need large samples.
  * Missing values are imputed with the reference mean and say nothing here (data quality covers them).

Interfaces for the wiring step
  * Baseline build: ``PCAReconstruction.fit(reference, kinds)`` and
    ``DomainClassifier.fit(reference_sample, kinds)``; store ``to_state()``.
  * Stream: ``pca.window()`` per window and partition, ``update(rows)`` per batch (rows: a
    mapping of feature name to column, as `PredictionBatch.features`), ``merge``,
    ``to_state`` / ``ReconstructionWindow.from_state(state, pca)`` in checkpoints.
  * Evaluation: ``pca.evaluate(window)`` and ``domain.evaluate(window_sample, reference_sample)``
    (the window's `RowReservoir` columns and the baseline's reference sample) ->
    `MultivariateDriftResult` (value, band, decision, sample sizes, p-value where there is one).
"""

from monitor.core.multivariate.domain_classifier import DomainClassifier
from monitor.core.multivariate.pca import MultivariateDriftResult, PCAReconstruction, ReconstructionWindow

__all__ = ["DomainClassifier", "MultivariateDriftResult", "PCAReconstruction", "ReconstructionWindow"]
