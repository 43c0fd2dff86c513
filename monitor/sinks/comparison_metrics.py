"""Prometheus gauges of version comparison (monitor.evaluation.comparison), from each candidate
version's latest evaluated window: the verdict one-hot (a series per verdict, 1 on the current one),
the candidate's advantage over the baseline version since the comparison started with its
confidence-sequence bounds (accuracy_b - accuracy_a, or mae_a - mae_b: negative means worse), the
joined outcomes behind it per version, and the drift of the candidate's predictions against the
baseline version's in that window. In shadow mode the difference is the paired one (the verdict's),
and the candidate's agreement with the baseline version in that window is exported with its 95 %
Wilson interval."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from monitor.core.comparison import ComparisonResult, UnpairedComparison
from monitor.evaluation.results import WindowResult

PAIR = ["model", "baseline_version", "candidate_version"]
VERDICTS = ("promote", "hold", "rollback")


def comparison_metrics(latest: Iterable[WindowResult]) -> Iterator[Metric]:
    verdict = GaugeMetricFamily(
        "driftline_version_verdict",
        "1 on the comparison's current verdict (promote, hold, rollback), 0 on the others",
        labels=[*PAIR, "verdict"],
    )
    difference = GaugeMetricFamily(
        "driftline_version_metric_difference",
        "Candidate's advantage over the baseline version since the comparison started "
        "(accuracy_b - accuracy_a, or mae_a - mae_b; negative: worse)",
        labels=[*PAIR, "metric"],
    )
    lower = GaugeMetricFamily(
        "driftline_version_metric_difference_lower",
        "Lower bound of the anytime-valid confidence sequence on that difference (at alpha_rollback)",
        labels=[*PAIR, "metric"],
    )
    upper = GaugeMetricFamily(
        "driftline_version_metric_difference_upper",
        "Upper bound of that confidence sequence: below minus rollback_margin means rollback",
        labels=[*PAIR, "metric"],
    )
    outcomes = GaugeMetricFamily(
        "driftline_version_joined_outcomes",
        "Joined outcomes behind the comparison since it started, per version",
        labels=[*PAIR, "version"],
    )
    drift = GaugeMetricFamily(
        "driftline_version_prediction_drift_distance",
        "Drift of the candidate's predictions against the baseline version's in the latest window",
        labels=[*PAIR, "statistic"],
    )
    agreement = GaugeMetricFamily(
        "driftline_version_agreement_ratio",
        "Shadow mode: share of the latest window's shared prediction ids on which both versions agree",
        labels=PAIR,
    )
    agreement_lower = GaugeMetricFamily(
        "driftline_version_agreement_ratio_lower", "Lower bound of its 95 % Wilson interval", labels=PAIR
    )
    agreement_upper = GaugeMetricFamily(
        "driftline_version_agreement_ratio_upper", "Upper bound of its 95 % Wilson interval", labels=PAIR
    )
    for result in latest:
        comparison = result.comparison
        if comparison is None:
            continue
        key = [result.model, comparison.baseline_version, comparison.candidate_version]
        for name in VERDICTS:
            verdict.add_metric([*key, name], float(comparison.verdict == name))
        evidence: UnpairedComparison | ComparisonResult = (
            comparison.cumulative if comparison.paired is None else comparison.paired
        )
        if evidence.difference is not None:
            difference.add_metric([*key, evidence.metric], evidence.difference)
        if evidence.difference_lower is not None:
            lower.add_metric([*key, evidence.metric], evidence.difference_lower)
        if evidence.difference_upper is not None:
            upper.add_metric([*key, evidence.metric], evidence.difference_upper)
        outcomes.add_metric([*key, comparison.baseline_version], comparison.cumulative.n_a)
        outcomes.add_metric([*key, comparison.candidate_version], comparison.cumulative.n_b)
        own = comparison.paired_window
        if own is not None and own.agreement is not None:
            agreement.add_metric(key, own.agreement)
            agreement_lower.add_metric(key, own.agreement_lower or 0.0)
            agreement_upper.add_metric(key, own.agreement_upper or 0.0)
        if comparison.prediction_drift is not None:
            shift = comparison.prediction_drift
            drift.add_metric([*key, shift.statistic], shift.distance)
    yield from (
        verdict,
        difference,
        lower,
        upper,
        outcomes,
        drift,
        agreement,
        agreement_lower,
        agreement_upper,
    )
