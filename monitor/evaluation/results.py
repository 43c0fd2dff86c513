"""What an evaluation produces: immutable results that exporters, alerts and the API read."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from monitor.core.comparison import ComparisonResult, PredictionDrift, UnpairedComparison, Verdict
from monitor.core.estimation import EstimateVsRealised, MetricEstimate
from monitor.core.reservoir import RowReservoir
from monitor.core.segment_performance import SegmentPerformanceTest
from monitor.core.segment_quality import SegmentQualityTest
from monitor.core.segments import SegmentFeatureTest
from monitor.evaluation.multivariate import MultivariateReport


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one column (a feature, the prediction or the target) against the baseline.

    `method` names the statistic that decides; `value` is that statistic (a distance, or a
    p-value for the p-value tests used on small references). `statistics` holds every
    statistic computed for the column, `p_value` the column's hypothesis test (KS for
    numeric columns, chi-square for categorical ones), reported beside the sample sizes.
    """

    column: str
    kind: str
    method: str
    value: float
    threshold: float
    drift_detected: bool
    p_value: float | None
    n_reference: int
    n_current: int
    exact: bool
    statistics: Mapping[str, float] = field(default_factory=dict)

    @property
    def distance(self) -> tuple[str, float] | None:
        """(name, value) of the column's effect size, higher meaning more drift whatever decided:
        the method's own statistic when it is a distance, else the distance `auto` pairs with the
        test on large references (KS with normed Wasserstein, chi-square with Jensen-Shannon;
        Jensen-Shannon where there is no Wasserstein). None when either side had no values."""
        for name in (self.method, *DISTANCES_OF_TEST.get(self.method, ())):
            value = self.statistics.get(name)
            if value is not None and math.isfinite(value):
                return name, value
        return None


# The distances standing in for a p-value test, in order of preference.
DISTANCES_OF_TEST = {"ks": ("wasserstein", "jensen_shannon"), "chi_square": ("jensen_shannon",)}


@dataclass(frozen=True)
class FeatureQuality:
    column: str
    n_rows: int
    missing_ratio: float
    out_of_range_ratio: float | None  # numeric: share outside the reference's [min, max]
    unseen_ratio: float | None  # categorical: share of categories absent from the reference


@dataclass(frozen=True)
class DriftReport:
    model: str
    model_version: str
    baseline_id: str
    n_rows: int
    features: tuple[FeatureDrift, ...]
    quality: tuple[FeatureQuality, ...]
    n_drifted: int
    drift_share: float
    drift_share_threshold: float
    dataset_drift: bool
    prediction: FeatureDrift | None
    target: FeatureDrift | None
    window_start: datetime | None = None
    window_end: datetime | None = None

    @property
    def drifted_features(self) -> tuple[str, ...]:
        return tuple(f.column for f in self.features if f.drift_detected)

    def feature(self, name: str) -> FeatureDrift:
        for f in self.features:
            if f.column == name:
                return f
        raise KeyError(name)


@dataclass(frozen=True)
class PerformanceReport:
    """Performance of a window's predictions whose outcomes have arrived so far."""

    n_pairs: int
    metrics: Mapping[str, float | None]
    reference: Mapping[str, float | None]
    degraded: bool


@dataclass(frozen=True)
class EstimatedPerformance:
    """Performance of all the window's predictions estimated without their outcomes
    (monitor.core.estimation: `method` "cbpe" or "dle"), each metric with its band, and, once the
    window has enough joined pairs, each estimate against the realised metric."""

    method: str
    n_rows: int  # predictions behind the estimate
    metrics: Mapping[str, MetricEstimate]
    # The headline metric (accuracy; MAE for regressors) shown worse than the reference by more
    # than the configured drop (`performance.max_accuracy_drop`, `max_mae_increase`).
    degraded: bool
    versus_realised: Mapping[str, EstimateVsRealised] = field(default_factory=dict)


@dataclass(frozen=True)
class SegmentDriftReport:
    """Drift per segment and feature (monitor.core.segments), decided under one multiple-testing
    control (`method` at `alpha`) over the `n_tests` pairs with enough rows to test: the pairs that
    drifted, each with its p-value, adjusted p-value and row counts."""

    method: str
    alpha: float
    n_tests: int
    segments: tuple[str, ...]  # every segment of the baseline, its "other" bucket last
    drifted: tuple[SegmentFeatureTest, ...]
    # Data quality per segment (monitor.core.segment_quality), one family of `quality_tests` tests
    # under the same control: the (segment, feature, measure) shares that rose over the reference.
    quality_tests: int = 0
    quality: tuple[SegmentQualityTest, ...] = ()
    # Realised performance per segment (monitor.core.segment_performance), one family of
    # `performance_tests` tests under the same control: every segment's, degraded or not. Empty
    # when the baseline has no reference per segment, the window no pairs per segment, and in
    # records written before it.
    performance_tests: int = 0
    performance: tuple[SegmentPerformanceTest, ...] = ()

    @property
    def degraded_performance(self) -> tuple[SegmentPerformanceTest, ...]:
        return tuple(t for t in self.performance if t.degraded)

    def drifted_features(self, segment: str) -> int:
        return sum(1 for t in self.drifted if t.segment == segment)

    def quality_issues(self, segment: str) -> int:
        return sum(1 for t in self.quality if t.segment == segment)


@dataclass(frozen=True)
class VersionComparison:
    """A candidate version against the model's baseline version (monitor.evaluation.comparison):
    the verdict from every outcome joined since the comparison started (`since`), with that
    evidence, and this window's own evidence: its joined outcomes of both versions, and the drift of
    the candidate's predictions against the baseline version's in the window."""

    baseline_version: str
    candidate_version: str
    mode: str  # "canary": the versions serve different rows; "shadow": the same rows, paired by id
    since: datetime  # when the comparison started (its first evaluated window)
    verdict: Verdict
    verdict_since: datetime  # when the verdict last changed (the evaluation's clock)
    # The newest window counted when it changed (event time); None while it never changed.
    verdict_window_start: datetime | None
    cumulative: UnpairedComparison
    window: UnpairedComparison
    prediction_drift: PredictionDrift | None
    # Shadow mode: the paired evidence of every window since the comparison started (the verdict's;
    # None before any pair), and of this window alone (agreement, McNemar, paired difference).
    paired: ComparisonResult | None = None
    paired_window: ComparisonResult | None = None


@dataclass(frozen=True)
class WindowResult:
    """Everything known about one window at one evaluation. A window is evaluated when it
    closes and again whenever late outcomes change its performance; `final` marks the last
    evaluation (the join TTL has passed)."""

    model: str
    model_version: str
    window_start: datetime
    window_end: datetime
    final: bool
    drift: DriftReport
    performance: PerformanceReport
    concept_drift: bool
    concept_drift_at: datetime | None  # when the detector alarmed: the joined stream's event time
    expired_predictions: int
    label_delay: Any
    evaluated_at: datetime
    # The window's bounded row sample (at most the model's `window_sample` rows, default 2000; a
    # private copy), kept for Evidently reports (monitor/api/reports.py). Not part of the JSON.
    sample: RowReservoir | None = field(default=None, repr=False, compare=False)
    # None when the baseline has no estimator (or the window was restored without its sums).
    estimated: EstimatedPerformance | None = None
    # Multivariate drift (monitor.evaluation.multivariate); None when the baseline has no detector.
    multivariate: MultivariateReport | None = None
    # None when the model has no segments configured (or the window keeps no segment profiles).
    segments: SegmentDriftReport | None = None
    # On a candidate version's windows when the model has a comparison configured; else None.
    comparison: VersionComparison | None = None


class ResultSink(Protocol):
    """Where evaluated windows go after each evaluation pass (exporters, alerts).

    `write` is called on the evaluator's thread with the results of one pass, oldest first;
    it must not block for long (a sink that talks to a server buffers and delivers on its own
    thread). `close` flushes what it can and releases resources at shutdown."""

    def write(self, results: Sequence[WindowResult]) -> None: ...

    def close(self) -> None: ...
