"""Compare a window's sketch with a baseline: per-column drift, data quality, dataset drift.

Method choice ("auto") mirrors Evidently 0.7's defaults so that decisions agree with it:
a reference of at most `small_sample` rows (1000) is tested with p-values (KS for numeric
columns with more than 5 distinct values, chi-square otherwise); a larger one with effect
sizes (normed Wasserstein for such numeric columns, Jensen-Shannon otherwise), so that a
million-row window does not flag a shift of a hundredth of a standard deviation.

When both the baseline's and the window's row samples are complete (every row kept), the
statistics are computed on the exact samples; otherwise on the binned summaries (see
each statistic's module for its error).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.baselines.baseline import Baseline
from monitor.config import DriftThresholds, ModelConfig
from monitor.core import stats
from monitor.core.sketch import NumericSketch, Sketch, ValueCounts
from monitor.core.stats.binning import distinct_upper_bound, not_missing, rebin, sturges_edges_from_range
from monitor.core.window_sketch import WindowSketch
from monitor.evaluation.results import DriftReport, FeatureDrift, FeatureQuality

FEW_VALUES = 5  # Evidently treats numeric columns with at most 5 distinct values as categorical
P_VALUE_METHODS = {"ks", "chi_square"}


@dataclass(frozen=True)
class Column:
    """Everything needed to compare one column."""

    name: str
    numeric: bool
    reference: Sketch
    current: Sketch
    reference_sample: NDArray[Any] | None  # set only when the sample is complete
    current_sample: NDArray[Any] | None

    @property
    def exact(self) -> bool:
        return self.reference_sample is not None and self.current_sample is not None


def _n_present(sketch: Sketch) -> int:
    return sketch.n_present


def _n_distinct(column: Column) -> int:
    """Distinct non-missing values across both samples (a lower bound on binned data)."""
    if column.reference_sample is not None and column.current_sample is not None:
        both = np.concatenate([not_missing(column.reference_sample), not_missing(column.current_sample)])
        return len(np.unique(both.astype(float if column.numeric else str)))
    ref, cur = column.reference, column.current
    counts = ref.values if isinstance(ref, NumericSketch) else ref
    if counts is None:
        return FEW_VALUES + 1  # a numeric column with many distinct reference values
    current_counts = cur.values if isinstance(cur, NumericSketch) else cur
    assert isinstance(counts, ValueCounts) and isinstance(current_counts, ValueCounts)
    seen = (counts.counts > 0) | (current_counts.counts > 0)
    return int(seen.sum()) + len(set(counts.unseen) | set(current_counts.unseen))


def auto_method(column: Column, thresholds: DriftThresholds) -> str:
    many_values = column.numeric and _n_distinct(column) > FEW_VALUES
    if _n_present(column.reference) <= thresholds.small_sample:
        return "ks" if many_values else "chi_square"
    return "wasserstein" if many_values else "jensen_shannon"


def default_threshold(method: str, thresholds: DriftThresholds) -> float:
    return {
        "wasserstein": thresholds.wasserstein,
        "jensen_shannon": thresholds.jensen_shannon,
        "psi": thresholds.psi,
        "hellinger": thresholds.hellinger,
        "ks": thresholds.ks_pvalue,
        "chi_square": thresholds.chi_square_pvalue,
    }[method]


def _discrete(ref: NumericSketch, cur: NumericSketch) -> tuple[NDArray[np.float64], ...] | None:
    """Exact value counts of a discrete numeric column over every value either side saw,
    sorted by value; None when the column is continuous or unseen values overflowed."""
    if ref.values is None or cur.values is None or ref.values.unseen_overflow or cur.values.unseen_overflow:
        return None
    keys = [*ref.values.known, *ref.values.unseen, *cur.values.unseen]
    ref_counts = [*ref.values.counts, *ref.values.unseen.values(), *[0] * len(cur.values.unseen)]
    cur_counts = [*cur.values.counts, *[0] * len(ref.values.unseen), *cur.values.unseen.values()]
    order = np.argsort(np.asarray(keys, dtype=np.float64))
    return (
        np.asarray(keys, dtype=np.float64)[order],
        np.asarray(ref_counts, dtype=np.float64)[order],
        np.asarray(cur_counts, dtype=np.float64)[order],
    )


def _sturges_histograms(
    ref: NumericSketch, cur: NumericSketch, n_values: int
) -> tuple[NDArray[np.float64], ...]:
    """Both histograms rebinned onto the Sturges bins Evidently would use for `n_values` values
    over the pair's range (all values for PSI and Jensen-Shannon, the distinct ones for Hellinger)."""
    lo = min(ref.moments.min, cur.moments.min)
    hi = max(ref.moments.max, cur.moments.max)
    edges = sturges_edges_from_range(lo, hi, n_values)
    return (
        rebin(ref.edges, ref.counts, ref.sums, ref.moments.min, ref.moments.max, edges),
        rebin(cur.edges, cur.counts, cur.sums, cur.moments.min, cur.moments.max, edges),
    )


def exact_statistics(column: Column) -> tuple[dict[str, float], stats.TestResult]:
    """Every distance on the raw samples, and the column's test (KS or chi-square)."""
    ref, cur, numeric = column.reference_sample, column.current_sample, column.numeric
    assert ref is not None and cur is not None
    values = {
        "psi": stats.psi_samples(ref, cur, numeric),
        "jensen_shannon": stats.jensen_shannon_samples(ref, cur, numeric),
        "hellinger": stats.hellinger_samples(ref, cur, numeric),
    }
    test = stats.chi_square_samples(ref, cur)
    if numeric:
        values["wasserstein"] = stats.wasserstein_norm_samples(ref, cur)
        if _n_distinct(column) > FEW_VALUES:
            test = stats.ks_samples(ref, cur)
    return values, test


def summary_statistics(column: Column) -> tuple[dict[str, float], stats.TestResult]:
    """The same from the sketches alone (see each statistic's module for its error)."""
    ref, cur = column.reference, column.current
    if isinstance(ref, ValueCounts) and isinstance(cur, ValueCounts):
        ref_counts, cur_counts = ref.aligned(cur)
        test = stats.chi_square(ref_counts, cur_counts)
        values = {"hellinger": stats.hellinger(ref_counts, cur_counts)}
    else:
        assert isinstance(ref, NumericSketch) and isinstance(cur, NumericSketch)
        discrete = _discrete(ref, cur)
        if discrete is not None:  # exact, on the values themselves
            keys, ref_counts, cur_counts = discrete
            wasserstein = stats.wasserstein_norm_values(keys, ref_counts, cur_counts, ref.moments.std)
            few = np.count_nonzero(ref_counts + cur_counts) <= FEW_VALUES
            test = stats.chi_square(ref_counts, cur_counts) if few else stats.ks(ref_counts, cur_counts)
            hellinger = stats.hellinger_values(keys, ref_counts, cur_counts)
        else:  # near-exact Wasserstein and KS from the quantile bins; PSI/JS/Hellinger on Sturges bins
            wasserstein = stats.wasserstein_norm(
                ref.edges, ref.counts, ref.sums, cur.counts, cur.sums, ref.moments.std
            )
            test = stats.ks(ref.counts, cur.counts)
            distinct = distinct_upper_bound(ref.edges, ((ref.counts, ref.sums), (cur.counts, cur.sums)))
            hellinger = stats.hellinger(*_sturges_histograms(ref, cur, distinct))
            ref_counts, cur_counts = _sturges_histograms(ref, cur, ref.n_present + cur.n_present)
        values = {"wasserstein": wasserstein, "hellinger": hellinger}
    values["psi"] = stats.psi(ref_counts, cur_counts)
    values["jensen_shannon"] = stats.jensen_shannon(ref_counts, cur_counts)
    return values, test


def compare_column(
    column: Column, method: str, threshold: float | None, thresholds: DriftThresholds
) -> FeatureDrift:
    n_ref, n_cur = _n_present(column.reference), _n_present(column.current)
    if method == "auto":
        method = auto_method(column, thresholds)
    limit = threshold if threshold is not None else default_threshold(method, thresholds)
    kind = "numeric" if column.numeric else "categorical"
    if n_ref == 0 or n_cur == 0:
        return FeatureDrift(
            column.name, kind, method, float("nan"), limit, False, None, n_ref, n_cur, column.exact
        )
    statistics, test = exact_statistics(column) if column.exact else summary_statistics(column)
    p_value = test.p_value
    if method == "ks":
        value = p_value if column.numeric else float("nan")
        drifted = value <= limit
    elif method == "chi_square":
        value = p_value
        drifted = value < limit
    else:
        value = statistics[method]
        drifted = value >= limit
    return FeatureDrift(
        column.name,
        kind,
        method,
        float(value),
        limit,
        bool(drifted),
        p_value,
        n_ref,
        n_cur,
        column.exact,
        statistics,
    )


def _quality(name: str, sketch: Sketch) -> FeatureQuality:
    present = sketch.n_present
    total = present + sketch.missing
    missing_ratio = sketch.missing / total if total else 0.0
    if isinstance(sketch, NumericSketch):
        return FeatureQuality(
            name, total, missing_ratio, sketch.n_out_of_range / present if present else 0.0, None
        )
    return FeatureQuality(name, total, missing_ratio, None, sketch.n_unseen / present if present else 0.0)


def _sample(window: WindowSketch, name: str) -> NDArray[Any] | None:
    return window.reservoir.column(name) if window.reservoir.complete and window.n_rows else None


def evaluate(
    window: WindowSketch,
    baseline: Baseline,
    model: ModelConfig,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
) -> DriftReport:
    """Drift, data quality and prediction/target drift of `window` against `baseline`."""
    ref = baseline.profile
    thresholds = model.drift
    features = []
    for feature in model.features:
        column = Column(
            feature.name,
            feature.kind == "numeric",
            ref.features[feature.name],
            window.features[feature.name],
            _sample(ref, feature.name),
            _sample(window, feature.name),
        )
        features.append(compare_column(column, feature.method, feature.threshold, thresholds))
    evaluated = [f for f in features if f.n_current > 0]
    n_drifted = sum(f.drift_detected for f in evaluated)
    share = n_drifted / len(evaluated) if evaluated else 0.0
    numeric_outputs = model.task == "regression"
    prediction = compare_column(
        Column(
            "prediction",
            numeric_outputs,
            ref.prediction,
            window.prediction,
            _sample(ref, "__prediction__"),
            _sample(window, "__prediction__"),
        ),
        "auto",
        None,
        thresholds,
    )
    target = None
    if ref.target is not None and window.target is not None and window.n_targets:
        target = compare_column(
            Column("target", numeric_outputs, ref.target, window.target, None, None), "auto", None, thresholds
        )
    return DriftReport(
        model=model.name,
        model_version=baseline.model_version,
        baseline_id=baseline.id,
        n_rows=window.n_rows,
        features=tuple(features),
        quality=tuple(_quality(name, s) for name, s in window.features.items()),
        n_drifted=n_drifted,
        drift_share=share,
        drift_share_threshold=thresholds.drift_share,
        dataset_drift=bool(evaluated) and share >= thresholds.drift_share,
        prediction=prediction if window.n_rows else None,
        target=target,
        window_start=window_start,
        window_end=window_end,
    )
