"""Performance estimated without labels, per window, beside the realised metrics.

What is estimated
  * Classifiers with a positive-class score: accuracy, precision, recall, F1 and ROC AUC by
    confidence-based performance estimation (`cbpe`): the score is calibrated on reference rows
    with targets (isotonic), and each live row contributes its calibrated probability of being
    positive to an expected confusion matrix and an expected score histogram.
  * Regressors: MAE and RMSE by direct loss estimation (`dle`): two small boosted-tree models,
    fitted on reference rows with targets, predict each live row's expected absolute and squared
    error from its features and prediction.
  Each metric comes with a band (`MetricEstimate.lower` / `upper`) where the realised metric of
  the same rows is expected to fall; `realised.compare` and `realised.summarise` measure the
  estimate against the realised metric once outcomes arrive.

Assumptions, and when not to trust the estimate
  * Only the inputs shift (covariate shift): P(y | score) for CBPE, P(loss | x, prediction) for
    DLE, stay what they were on the reference. Concept drift (the same inputs now lead to other
    outcomes) is invisible to both: the estimate stays put while the realised metric falls, which
    is what the realised metrics and the concept-drift detectors are there for.
  * CBPE additionally needs the score to carry what the model knows: if rows move to a region
    where the score is calibrated on average but not locally (a misspecified model), the
    estimate is off by more than its band. tests/benchmarks/bench_estimation.py measures it: a
    model that misses an interaction gets accuracy errors up to 0.05 and the 95 % band holds in
    45 % of windows (NannyML's CBPE, which gives the same estimates, 65 % with its wider band).
  * Rows must resemble the reference somewhere: inputs far outside it get the calibration or the
    loss model's edge values, extrapolated flat.
  * Reference rows must be held out from the model's training: training-set scores are
    over-confident and training residuals too small, so estimates would be optimistic.
  * Multiclass classifiers: not estimated. Our messages carry one score (the positive class's);
    `CBPEEstimator.fit` refuses a target with more than two classes and says so. Such models keep
    their realised metrics.
  * The band is the sampling spread of the realised metric given the estimator's model; it does
    not include the estimator's own fitting error, which grows as the reference shrinks (a few
    thousand labelled reference rows is a sensible minimum).

Interfaces for the wiring step
  * Baseline build: ``CBPEEstimator.fit(scores, y_true, positive_label)`` or
    ``DLEEstimator.fit(features, kinds, y_pred, y_true, encoder=...)`` on the held-out
    reference-performance frame; store ``to_state()`` (plain JSON) in the baseline, load with
    ``from_state``.
  * Stream: ``estimator.window()`` per window and partition; ``update(y_pred, score)`` (CBPE) or
    ``update(features, y_pred)`` (DLE) per batch of predictions; ``merge``; ``to_state`` /
    ``from_state(state, estimator)`` in checkpoints.
  * Evaluation: ``window.estimate()`` -> `ClassificationEstimate` / `RegressionEstimate` (frozen).
    Once the realised metric has ``min_pairs`` pairs, ``realised.compare(estimate, realised, n)``.
"""

from monitor.core.estimation.cbpe import CBPEEstimator, CBPEWindow, ClassificationEstimate
from monitor.core.estimation.dle import DLEEstimator, DLEWindow, RegressionEstimate
from monitor.core.estimation.realised import EstimateVsRealised, EstimationAccuracy, compare, summarise
from monitor.core.estimation.result import MetricEstimate

__all__ = [
    "CBPEEstimator",
    "CBPEWindow",
    "ClassificationEstimate",
    "DLEEstimator",
    "DLEWindow",
    "EstimateVsRealised",
    "EstimationAccuracy",
    "MetricEstimate",
    "RegressionEstimate",
    "compare",
    "summarise",
]
