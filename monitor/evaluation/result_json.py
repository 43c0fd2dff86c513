"""Results as JSON-ready documents: one shape for the Elasticsearch exporter, the HTTP API and
alert evidence, so a field means the same thing wherever a user meets it.

Timestamps are ISO 8601 UTC strings; non-finite floats become null (JSON has no NaN).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from monitor.core.comparison import ComparisonResult, PredictionDrift, UnpairedComparison
from monitor.core.concept_episodes import Episode
from monitor.core.multivariate import MultivariateDriftResult
from monitor.evaluation.multivariate import MultivariateReport
from monitor.evaluation.results import (
    DriftReport,
    EstimatedPerformance,
    FeatureDrift,
    FeatureQuality,
    PerformanceReport,
    SegmentDriftReport,
    VersionComparison,
    WindowResult,
)
from monitor.pipeline.windows import ms_to_datetime


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _number(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _numbers(values: Mapping[str, float | None]) -> dict[str, float | None]:
    return {name: _number(v) for name, v in values.items()}


def feature_document(drift: FeatureDrift) -> dict[str, Any]:
    """`value` is the deciding statistic (a p-value for KS and chi-square, else a distance);
    `distance` the column's effect size, higher meaning more drift whatever the method."""
    distance = drift.distance
    return {
        "column": drift.column,
        "kind": drift.kind,
        "method": drift.method,
        "value": _number(drift.value),
        "threshold": _number(drift.threshold),
        "drift_detected": drift.drift_detected,
        "p_value": _number(drift.p_value),
        "distance": None if distance is None else _number(distance[1]),
        "distance_method": None if distance is None else distance[0],
        "n_reference": drift.n_reference,
        "n_current": drift.n_current,
        "exact": drift.exact,
        "statistics": _numbers(drift.statistics),
    }


def quality_document(quality: FeatureQuality) -> dict[str, Any]:
    return {
        "column": quality.column,
        "n_rows": quality.n_rows,
        "missing_ratio": _number(quality.missing_ratio),
        "out_of_range_ratio": _number(quality.out_of_range_ratio),
        "unseen_ratio": _number(quality.unseen_ratio),
    }


def drift_document(report: DriftReport) -> dict[str, Any]:
    return {
        "baseline_id": report.baseline_id,
        "n_rows": report.n_rows,
        "n_drifted": report.n_drifted,
        "drift_share": _number(report.drift_share),
        "drift_share_threshold": _number(report.drift_share_threshold),
        "dataset_drift": report.dataset_drift,
        "drifted_features": list(report.drifted_features),
        "features": [feature_document(f) for f in report.features],
        "quality": [quality_document(q) for q in report.quality],
        "prediction": None if report.prediction is None else feature_document(report.prediction),
        "target": None if report.target is None else feature_document(report.target),
    }


def performance_document(report: PerformanceReport) -> dict[str, Any]:
    return {
        "n_pairs": report.n_pairs,
        "metrics": _numbers(report.metrics),
        "reference": _numbers(report.reference),
        "degraded": report.degraded,
    }


def estimated_document(estimated: EstimatedPerformance) -> dict[str, Any]:
    """Field names as the dataclasses have them (monitor.evaluation.result_record walks both)."""
    return {
        "method": estimated.method,
        "n_rows": estimated.n_rows,
        "metrics": {
            name: {
                "metric": m.metric,
                "value": _number(m.value),
                "lower": _number(m.lower),
                "upper": _number(m.upper),
                "std": _number(m.std),
                "n": m.n,
            }
            for name, m in estimated.metrics.items()
        },
        "degraded": estimated.degraded,
        "versus_realised": {
            name: {
                "metric": c.metric,
                "estimate": _number(c.estimate),
                "realised": _number(c.realised),
                "error": _number(c.error),
                "within_band": c.within_band,
                "n_estimated": c.n_estimated,
                "n_realised": c.n_realised,
            }
            for name, c in estimated.versus_realised.items()
        },
    }


def segments_document(report: SegmentDriftReport) -> dict[str, Any]:
    """Field names as the dataclasses have them (monitor.evaluation.result_record walks both)."""
    return {
        "method": report.method,
        "alpha": report.alpha,
        "n_tests": report.n_tests,
        "segments": list(report.segments),
        "drifted": [
            {
                "segment": t.segment,
                "feature": t.feature,
                "statistic": _number(t.statistic),
                "p_value": _number(t.p_value),
                "adjusted_p_value": _number(t.adjusted_p_value),
                "n_reference": t.n_reference,
                "n_window": t.n_window,
            }
            for t in report.drifted
        ],
        "quality_tests": report.quality_tests,
        "quality": [
            {
                "segment": t.segment,
                "feature": t.feature,
                "measure": t.measure,
                "ratio": t.ratio,
                "reference_ratio": t.reference_ratio,
                "n_window": t.n_window,
                "n_reference": t.n_reference,
                "p_value": _number(t.p_value),
                "adjusted_p_value": _number(t.adjusted_p_value),
            }
            for t in report.quality
        ],
        "performance_tests": report.performance_tests,
        "performance": [
            {
                "segment": t.segment,
                "n_pairs": t.n_pairs,
                "metric": t.metric,
                "value": _number(t.value),
                "reference": _number(t.reference),
                "p_value": _number(t.p_value),
                "adjusted_p_value": _number(t.adjusted_p_value),
                "degraded": t.degraded,
            }
            for t in report.performance
        ],
    }


def unpaired_document(evidence: UnpairedComparison) -> dict[str, Any]:
    return {
        "metric": evidence.metric,
        "n_a": evidence.n_a,
        "n_b": evidence.n_b,
        "metric_a": _number(evidence.metric_a),
        "metric_b": _number(evidence.metric_b),
        "difference": _number(evidence.difference),
        "difference_lower": _number(evidence.difference_lower),
        "difference_upper": _number(evidence.difference_upper),
        "verdict": evidence.verdict,
        "reason": evidence.reason,
    }


def prediction_drift_document(drift: PredictionDrift | None) -> dict[str, Any] | None:
    if drift is None:
        return None
    return {
        "statistic": drift.statistic,
        "distance": _number(drift.distance),
        "p_value": _number(drift.p_value),
        "drift_detected": drift.drift_detected,
    }


def paired_document(evidence: ComparisonResult | None) -> dict[str, Any] | None:
    """Shadow mode's paired evidence (A: the baseline version, B: the candidate)."""
    if evidence is None:
        return None
    return {
        "n_shared": evidence.n_shared,
        "agreement": _number(evidence.agreement),
        "agreement_lower": _number(evidence.agreement_lower),
        "agreement_upper": _number(evidence.agreement_upper),
        "prediction_drift": prediction_drift_document(evidence.prediction_drift),
        "metric": evidence.metric,
        "n_joined": evidence.n_joined,
        "metric_a": _number(evidence.metric_a),
        "metric_b": _number(evidence.metric_b),
        "difference": _number(evidence.difference),
        "difference_lower": _number(evidence.difference_lower),
        "difference_upper": _number(evidence.difference_upper),
        "mcnemar_p_value": _number(evidence.mcnemar_p_value),
        "mcnemar_mid_p_value": _number(evidence.mcnemar_mid_p_value),
        "verdict": evidence.verdict,
        "reason": evidence.reason,
    }


def comparison_document(comparison: VersionComparison) -> dict[str, Any]:
    """A candidate version against the baseline version (A: the baseline version, B: the candidate;
    `difference` is B's advantage: accuracy_b - accuracy_a, or mae_a - mae_b). Field names as the
    dataclasses have them (monitor.evaluation.result_record walks both)."""
    return {
        "baseline_version": comparison.baseline_version,
        "candidate_version": comparison.candidate_version,
        "mode": comparison.mode,
        "since": _time(comparison.since),
        "verdict": comparison.verdict,
        "verdict_since": _time(comparison.verdict_since),
        "verdict_window_start": _time(comparison.verdict_window_start),
        "cumulative": unpaired_document(comparison.cumulative),
        "window": unpaired_document(comparison.window),
        "prediction_drift": prediction_drift_document(comparison.prediction_drift),
        "paired": paired_document(comparison.paired),
        "paired_window": paired_document(comparison.paired_window),
    }


def window_id(result: WindowResult) -> str:
    """A window's stable id within its stream: its start as epoch seconds (URL- and id-safe)."""
    return str(int(result.window_start.timestamp()))


def window_document(result: WindowResult) -> dict[str, Any]:
    """Everything known about one window at one evaluation."""
    delay = result.label_delay
    return {
        "model": result.model,
        "model_version": result.model_version,
        "window_id": window_id(result),
        "window_start": _time(result.window_start),
        "window_end": _time(result.window_end),
        "final": result.final,
        "evaluated_at": _time(result.evaluated_at),
        "drift": drift_document(result.drift),
        "performance": performance_document(result.performance),
        "estimated": None if result.estimated is None else estimated_document(result.estimated),
        "segments": None if result.segments is None else segments_document(result.segments),
        "comparison": None if result.comparison is None else comparison_document(result.comparison),
        "concept_drift": result.concept_drift,
        "concept_drift_at": _time(result.concept_drift_at),
        "expired_predictions": result.expired_predictions,
        "label_delay": None if delay is None else label_delay_document(delay),
        "multivariate": multivariate_document(result.multivariate),
    }


def multivariate_document(report: MultivariateReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {
        "drift_detected": report.drift_detected,
        "pca": multivariate_result_document(report.pca),
        "domain_classifier": multivariate_result_document(report.domain_classifier),
    }


def multivariate_result_document(result: MultivariateDriftResult | None) -> dict[str, Any] | None:
    """One detector's result: `value` is the mean reconstruction error or the ROC AUC, which must
    stay within [lower, upper] (lower null: one-sided)."""
    if result is None:
        return None
    return {
        "method": result.method,
        "value": _number(result.value),
        "lower": _number(result.lower),
        "upper": _number(result.upper),
        "drift_detected": result.drift_detected,
        "n_window": result.n_window,
        "n_reference": result.n_reference,
        "p_value": _number(result.p_value),
    }


def label_delay_document(delay: Any) -> dict[str, Any]:
    """Cumulative buckets as Prometheus has them; the last bound (+Inf) is null."""
    buckets = [{"le_seconds": _number(le), "count": n} for le, n in delay.cumulative_buckets()]
    return {"count": delay.count, "sum_seconds": _number(delay.sum), "buckets": buckets}


def episode_document(model: str, version: str, episode: Episode) -> dict[str, Any]:
    """A concept-drift episode: from its first alarm to its last (so far, while open), in the
    error stream's event time (outcome time)."""
    return {
        "model": model,
        "model_version": version,
        "episode": episode.number,
        "status": "open" if episode.open else "closed",
        "episode_start": _time(ms_to_datetime(episode.start)),
        "episode_end": _time(ms_to_datetime(episode.end)),
        "alarms": episode.alarms,
        "baseline_id": episode.baseline_id,
        "closed_by": episode.closed_by,
    }
