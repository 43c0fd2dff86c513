"""Prometheus gauges of the latest window's multivariate drift (monitor.evaluation.multivariate),
one quantity per name; `method` (pca_reconstruction, domain_classifier) only labels the decision."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from monitor.evaluation.results import WindowResult

STREAM = ["model", "model_version"]


def multivariate_metrics(latest: Iterable[WindowResult]) -> Iterator[Metric]:
    detected = GaugeMetricFamily(
        "driftline_multivariate_drift_detected",
        "1 if the latest window's multivariate drift detector fired, by method",
        labels=[*STREAM, "method"],
    )
    error = GaugeMetricFamily(
        "driftline_multivariate_drift_reconstruction_error",
        "Mean PCA reconstruction error of the latest window's rows",
        labels=STREAM,
    )
    lower = GaugeMetricFamily(
        "driftline_multivariate_drift_reconstruction_error_lower",
        "Lower end of the band the mean reconstruction error stays in without drift",
        labels=STREAM,
    )
    upper = GaugeMetricFamily(
        "driftline_multivariate_drift_reconstruction_error_upper",
        "Upper end of the band the mean reconstruction error stays in without drift",
        labels=STREAM,
    )
    auc = GaugeMetricFamily(
        "driftline_multivariate_drift_domain_auc_ratio",
        "Cross-validated ROC AUC of the domain classifier (window rows against reference rows)",
        labels=STREAM,
    )
    auc_threshold = GaugeMetricFamily(
        "driftline_multivariate_drift_domain_auc_threshold_ratio",
        "ROC AUC above which the domain classifier reports drift",
        labels=STREAM,
    )
    for result in latest:
        report = result.multivariate
        if report is None:
            continue
        key = [result.model, result.model_version]
        if report.pca is not None:
            detected.add_metric([*key, report.pca.method], float(report.pca.drift_detected))
            error.add_metric(key, report.pca.value)
            if report.pca.lower is not None:
                lower.add_metric(key, report.pca.lower)
            upper.add_metric(key, report.pca.upper)
        if report.domain_classifier is not None:
            domain = report.domain_classifier
            detected.add_metric([*key, domain.method], float(domain.drift_detected))
            auc.add_metric(key, domain.value)
            auc_threshold.add_metric(key, domain.upper)
    yield from (detected, error, lower, upper, auc, auc_threshold)
