"""Prometheus export: a custom collector that yields metric families from the latest results.

Naming (DESIGN.md): `driftline_` prefix, base units, `_total` for counters, `_ratio` for
0..1 quantities, one quantity per metric name. Labels come from a bounded set: model,
model_version, feature, reason, window ("latest" or "reference"), method (the distance a
`*_drift_distance` holds) — never prediction ids or raw category values.

Every drift metric has one direction: a distance grows with drift, a p-value falls with it. A
column's decision may rest on either (p-values on small references), so the two are exported
apart as `driftline_{feature,prediction,target}_drift_{distance,p_value}`, never mixed on one name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from monitor.core.performance import LabelDelayHistogram
from monitor.evaluation.result_store import ResultStore
from monitor.evaluation.results import EstimatedPerformance, FeatureDrift, WindowResult
from monitor.pipeline.counters import Counters
from monitor.sinks.comparison_metrics import comparison_metrics
from monitor.sinks.multivariate_metrics import multivariate_metrics
from monitor.sinks.prometheus_segments import segment_families

STREAM = ["model", "model_version"]
FEATURE = [*STREAM, "feature"]
# The drifting columns: features (one series each) and the model's prediction and target.
COLUMN_ROLES = {"feature": FEATURE, "prediction": STREAM, "target": STREAM}

# statistic key in FeatureDrift.statistics -> (metric name, help)
FEATURE_STATISTICS = {
    "wasserstein": (
        "driftline_feature_wasserstein_normed",
        "Wasserstein distance normed by the reference std",
    ),
    "jensen_shannon": ("driftline_feature_jensen_shannon_distance", "Jensen-Shannon distance (natural log)"),
    "psi": ("driftline_feature_psi", "Population stability index"),
    "hellinger": ("driftline_feature_hellinger_distance", "Hellinger distance"),
}

# performance metric -> (metric name, help)
PERFORMANCE = {
    "accuracy": ("driftline_accuracy_ratio", "Accuracy of joined predictions"),
    "precision": ("driftline_precision_ratio", "Precision (positive label, or macro)"),
    "recall": ("driftline_recall_ratio", "Recall (positive label, or macro)"),
    "f1": ("driftline_f1_ratio", "F1 score (positive label, or macro)"),
    "roc_auc": ("driftline_roc_auc_ratio", "ROC AUC of scores"),
    "log_loss": ("driftline_log_loss", "Mean log loss of scores"),
    "mae": ("driftline_mae", "Mean absolute error"),
    "rmse": ("driftline_rmse", "Root mean squared error"),
    "mape": ("driftline_mape_ratio", "Mean absolute percentage error, as a ratio"),
    "r2": ("driftline_r2", "Coefficient of determination"),
}

# estimated metric -> (metric names of the estimate, of its band's lower and upper ends, of its
# error against the realised metric; help)
ESTIMATED = {
    "accuracy": (
        "driftline_estimated_accuracy_ratio",
        "driftline_estimated_accuracy_lower_ratio",
        "driftline_estimated_accuracy_upper_ratio",
        "driftline_estimated_accuracy_error",
        "Accuracy",
    ),
    "precision": (
        "driftline_estimated_precision_ratio",
        "driftline_estimated_precision_lower_ratio",
        "driftline_estimated_precision_upper_ratio",
        "driftline_estimated_precision_error",
        "Precision",
    ),
    "recall": (
        "driftline_estimated_recall_ratio",
        "driftline_estimated_recall_lower_ratio",
        "driftline_estimated_recall_upper_ratio",
        "driftline_estimated_recall_error",
        "Recall",
    ),
    "f1": (
        "driftline_estimated_f1_ratio",
        "driftline_estimated_f1_lower_ratio",
        "driftline_estimated_f1_upper_ratio",
        "driftline_estimated_f1_error",
        "F1 score",
    ),
    "roc_auc": (
        "driftline_estimated_roc_auc_ratio",
        "driftline_estimated_roc_auc_lower_ratio",
        "driftline_estimated_roc_auc_upper_ratio",
        "driftline_estimated_roc_auc_error",
        "ROC AUC",
    ),
    "mae": (
        "driftline_estimated_mae",
        "driftline_estimated_mae_lower",
        "driftline_estimated_mae_upper",
        "driftline_estimated_mae_error",
        "Mean absolute error",
    ),
    "rmse": (
        "driftline_estimated_rmse",
        "driftline_estimated_rmse_lower",
        "driftline_estimated_rmse_upper",
        "driftline_estimated_rmse_error",
        "Root mean squared error",
    ),
}

# counter name in Counters -> (metric name without _total, help)
COUNTERS = {
    "predictions": ("driftline_predictions", "Prediction messages accepted by the decoder"),
    "outcomes": ("driftline_outcomes", "Outcome messages accepted by the decoder"),
    "rejected": ("driftline_rejected_messages", "Messages dead-lettered, by reason"),
    "duplicate_predictions": ("driftline_duplicate_predictions", "Predictions whose id was already seen"),
    "late_predictions": ("driftline_late_predictions", "Predictions for a window already closed"),
    "joined": ("driftline_joined_pairs", "Predictions joined with their outcome"),
    "expired_predictions": (
        "driftline_expired_predictions",
        "Predictions whose outcome never came within the TTL",
    ),
    "unmatched_outcomes": (
        "driftline_unmatched_outcomes",
        "Outcomes without a prediction to join, by reason",
    ),
}


@dataclass(frozen=True)
class StreamView:
    """What the collector reads besides results (filled by the service under its lock)."""

    counters: Counters
    label_delays: Mapping[tuple[str, str], LabelDelayHistogram]
    min_pairs: Mapping[str, int]
    # Per model version: (is a concept-drift episode open, episodes so far) (monitor.evaluation.concept)
    concept_episodes: Mapping[tuple[str, str], tuple[bool, int]]
    evaluation_errors: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (model, reason)


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


def _add_column_drift(
    distance: GaugeMetricFamily, p_value: GaugeMetricFamily, labels: list[str], drift: FeatureDrift
) -> None:
    """A column's drift on two names of one direction each: its distance (labelled with which
    one) and its test's p-value; either is left out when it was not computed."""
    measured = drift.distance
    if measured is not None:
        distance.add_metric([*labels, measured[0]], measured[1])
    if drift.p_value is not None and math.isfinite(drift.p_value):
        p_value.add_metric(labels, drift.p_value)


def drift_families(latest: Iterable[WindowResult]) -> Iterator[Metric]:
    """The drift and data-quality gauges of these window results (one sample per series each:
    the latest window of each model version, or one window for a history)."""
    stats = {key: _gauge(name, doc, FEATURE) for key, (name, doc) in FEATURE_STATISTICS.items()}
    distances = {
        role: _gauge(
            f"driftline_{role}_drift_distance",
            f"Drift distance of the {role}: higher is more drift (method: which distance)",
            [*labels, "method"],
        )
        for role, labels in COLUMN_ROLES.items()
    }
    p_values = {
        role: _gauge(
            f"driftline_{role}_drift_p_value",
            f"p-value of the KS or chi-square test of the {role}: lower is more drift",
            labels,
        )
        for role, labels in COLUMN_ROLES.items()
    }
    detected = _gauge(
        "driftline_feature_drift_detected", "1 if the feature drifted in the latest window", FEATURE
    )
    missing = _gauge("driftline_feature_missing_ratio", "Share of rows missing the feature", FEATURE)
    out_of_range = _gauge(
        "driftline_feature_out_of_range_ratio", "Share outside the reference range", FEATURE
    )
    unseen = _gauge(
        "driftline_feature_unseen_ratio", "Share of categories absent from the reference", FEATURE
    )
    share = _gauge(
        "driftline_drift_share_ratio", "Share of features that drifted in the latest window", STREAM
    )
    drifted = _gauge(
        "driftline_drifted_features", "Number of features that drifted in the latest window", STREAM
    )
    dataset = _gauge("driftline_dataset_drift_detected", "1 if the drift share reached its threshold", STREAM)
    pred = _gauge("driftline_prediction_drift_detected", "1 if the prediction distribution drifted", STREAM)
    target = _gauge("driftline_target_drift_detected", "1 if the target distribution drifted", STREAM)
    rows = _gauge("driftline_window_rows", "Predictions in the latest evaluated window", STREAM)
    end = _gauge("driftline_window_end_timestamp_seconds", "End of the latest evaluated window", STREAM)
    evaluated = _gauge(
        "driftline_last_evaluation_timestamp_seconds", "When the latest window was evaluated", STREAM
    )
    for r in latest:
        key = [r.model, r.model_version]
        for f in r.drift.features:
            labels = [*key, f.column]
            for stat, value in f.statistics.items():
                if stat in stats:
                    stats[stat].add_metric(labels, value)
            _add_column_drift(distances["feature"], p_values["feature"], labels, f)
            detected.add_metric(labels, float(f.drift_detected))
        for q in r.drift.quality:
            labels = [*key, q.column]
            missing.add_metric(labels, q.missing_ratio)
            if q.out_of_range_ratio is not None:
                out_of_range.add_metric(labels, q.out_of_range_ratio)
            if q.unseen_ratio is not None:
                unseen.add_metric(labels, q.unseen_ratio)
        share.add_metric(key, r.drift.drift_share)
        drifted.add_metric(key, r.drift.n_drifted)
        dataset.add_metric(key, float(r.drift.dataset_drift))
        if r.drift.prediction is not None:
            pred.add_metric(key, float(r.drift.prediction.drift_detected))
            _add_column_drift(distances["prediction"], p_values["prediction"], key, r.drift.prediction)
        if r.drift.target is not None:
            target.add_metric(key, float(r.drift.target.drift_detected))
            _add_column_drift(distances["target"], p_values["target"], key, r.drift.target)
        rows.add_metric(key, r.drift.n_rows)
        end.add_metric(key, r.window_end.timestamp())
        evaluated.add_metric(key, r.evaluated_at.timestamp())
    yield from stats.values()
    yield from distances.values()
    yield from p_values.values()
    yield from (detected, missing, out_of_range, unseen, share, drifted, dataset)
    yield from (pred, target, rows, end, evaluated)


def _performance_gauges() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    pairs = _gauge("driftline_performance_pairs", "Joined pairs behind the latest performance values", STREAM)
    degraded = _gauge("driftline_performance_degraded", "1 if performance fell below the reference", STREAM)
    return pairs, degraded


def _concept_gauge() -> GaugeMetricFamily:
    return _gauge(
        "driftline_concept_drift_detected",
        "1 if the latest evaluated window overlaps a concept-drift episode",
        STREAM,
    )


def _add_reference(gauges: Mapping[str, GaugeMetricFamily], result: WindowResult) -> None:
    key = [result.model, result.model_version]
    for metric, gauge in gauges.items():
        reference = result.performance.reference.get(metric)
        if reference is not None:
            gauge.add_metric([*key, "reference"], reference)


def _add_realised(
    gauges: Mapping[str, GaugeMetricFamily],
    pairs: GaugeMetricFamily,
    degraded: GaugeMetricFamily,
    result: WindowResult,
) -> None:
    key = [result.model, result.model_version]
    for metric, gauge in gauges.items():
        value = result.performance.metrics.get(metric)
        if value is not None:
            gauge.add_metric([*key, "latest"], value)
    pairs.add_metric(key, result.performance.n_pairs)
    degraded.add_metric(key, float(result.performance.degraded))


def estimated_families(
    streams: Iterable[tuple[list[str], EstimatedPerformance | None, EstimatedPerformance | None]],
) -> Iterator[Metric]:
    """The performance estimated without outcomes (monitor.core.estimation), per (model, version)
    labels: the estimates with their bands from the first `EstimatedPerformance`, each estimate's
    error against the realised metric from the second (the live exporter: the latest window, and
    the latest with enough joined pairs; a history: the same window twice)."""
    families = []
    for metric, (name, lower, upper, error_name, doc) in ESTIMATED.items():
        families.append(
            (
                metric,
                _gauge(name, f"{doc} estimated from the latest window's predictions alone", STREAM),
                _gauge(lower, f"{doc} estimated: lower end of its band", STREAM),
                _gauge(upper, f"{doc} estimated: upper end of its band", STREAM),
                _gauge(error_name, f"{doc} estimated minus realised, once outcomes arrived", STREAM),
            )
        )
    rows = _gauge("driftline_estimated_rows", "Predictions behind the latest estimates", STREAM)
    degraded = _gauge(
        "driftline_estimated_performance_degraded",
        "1 if the estimated performance fell below the reference by more than the allowed drop",
        STREAM,
    )
    for key, estimated, joined in streams:
        if estimated is not None:
            rows.add_metric(key, estimated.n_rows)
            degraded.add_metric(key, float(estimated.degraded))
            for metric, value, low, high, _ in families:
                estimate = estimated.metrics.get(metric)
                if estimate is not None:
                    value.add_metric(key, estimate.value)
                    low.add_metric(key, estimate.lower)
                    high.add_metric(key, estimate.upper)
        if joined is not None:
            for metric, _, _, _, error in families:
                compared = joined.versus_realised.get(metric)
                if compared is not None:
                    error.add_metric(key, compared.error)
    for family in families:
        yield from family[1:]
    yield from (rows, degraded)


def window_families(result: WindowResult) -> Iterator[Metric]:
    """Every gauge one evaluated window sets, as the live exporter has them when it is the latest
    (drift, quality, performance, estimated performance, version comparison, the concept-drift
    flag), for a per-window history."""
    yield from drift_families([result])
    yield from multivariate_metrics([result])
    yield from comparison_metrics([result])
    yield from segment_families([result])
    stream = [result.model, result.model_version]
    yield from estimated_families([(stream, result.estimated, result.estimated)])
    gauges = {key: _gauge(name, doc, [*STREAM, "window"]) for key, (name, doc) in PERFORMANCE.items()}
    pairs, degraded = _performance_gauges()
    _add_reference(gauges, result)
    if result.performance.n_pairs:
        _add_realised(gauges, pairs, degraded, result)
    concept = _concept_gauge()
    concept.add_metric(stream, float(result.concept_drift))
    yield from gauges.values()
    yield from (pairs, degraded, concept)


def registry_for(
    results: ResultStore, view: Callable[[], StreamView], extra: Iterable[Collector] = ()
) -> CollectorRegistry:
    """A registry holding the driftline collector and `extra` ones (the sinks' own metrics)."""
    registry = CollectorRegistry()
    DriftlineCollector(results, view, registry=registry)
    for collector in extra:
        registry.register(collector)
    return registry


class DriftlineCollector(Collector):
    def __init__(
        self, results: ResultStore, view: Callable[[], StreamView], registry: CollectorRegistry | None = None
    ):
        self.results = results
        self.view = view
        if registry is not None:
            registry.register(self)

    def collect(self) -> Iterator[Metric]:
        view = self.view()
        latest = [r for r in (self.results.latest(*s) for s in self.results.streams()) if r is not None]
        yield from drift_families(latest)
        yield from multivariate_metrics(latest)
        yield from comparison_metrics(latest)
        yield from self._performance(view)
        yield from self._estimated(view)
        yield from segment_families(latest)
        yield from self._counters(view.counters)
        yield from self._evaluation_errors(view.evaluation_errors)
        yield from self._label_delay(view.label_delays)

    def _performance(self, view: StreamView) -> Iterator[Metric]:
        labels = [*STREAM, "window"]
        gauges = {key: _gauge(name, doc, labels) for key, (name, doc) in PERFORMANCE.items()}
        pairs, degraded = _performance_gauges()
        concept = _concept_gauge()
        episode_open = _gauge(
            "driftline_concept_drift_episode_open", "1 while a concept-drift episode is open", STREAM
        )
        episodes = CounterMetricFamily(
            "driftline_concept_drift_episodes", "Concept-drift episodes started", labels=STREAM
        )
        for model, version in self.results.streams():
            result = self.results.latest_with_performance(model, version, view.min_pairs.get(model, 1))
            # The reference is known before any outcome: estimates without outcomes compare with it.
            referenced = result or self.results.latest(model, version)
            if referenced is not None:
                _add_reference(gauges, referenced)
            if result is not None:
                _add_realised(gauges, pairs, degraded, result)
        for model, version in self.results.streams():
            latest = self.results.latest(model, version)
            if latest is not None:
                concept.add_metric([model, version], float(latest.concept_drift))
        for (model, version), (is_open, total) in sorted(view.concept_episodes.items()):
            episode_open.add_metric([model, version], float(is_open))
            episodes.add_metric([model, version], total)
        yield from gauges.values()
        yield from (pairs, degraded, concept, episode_open, episodes)

    def _estimated(self, view: StreamView) -> Iterator[Metric]:
        """The latest window's estimates, and their errors against the realised metric of the
        latest window with enough joined pairs to compare."""
        streams = []
        for model, version in self.results.streams():
            latest = self.results.latest(model, version)
            joined = self.results.latest_with_performance(model, version, view.min_pairs.get(model, 1))
            streams.append(
                (
                    [model, version],
                    latest.estimated if latest is not None else None,
                    joined.estimated if joined is not None else None,
                )
            )
        yield from estimated_families(streams)

    def _counters(self, counters: Counters) -> Iterator[Metric]:
        families: dict[str, CounterMetricFamily] = {}
        for name, labels, value in counters.items():
            if name not in COUNTERS:
                continue
            metric, doc = COUNTERS[name]
            family = families.get(name)
            if family is None:
                family = families[name] = CounterMetricFamily(metric, doc, labels=sorted(labels))
            family.add_metric([labels[k] for k in sorted(labels)], value)
        yield from families.values()

    def _evaluation_errors(self, counts: Mapping[tuple[str, str], int]) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "driftline_evaluation_errors",
            "Window evaluations that failed (the other windows went on), by reason",
            labels=["model", "reason"],
        )
        for (model, reason), value in sorted(counts.items()):
            family.add_metric([model, reason], value)
        yield family

    def _label_delay(self, delays: Mapping[tuple[str, str], LabelDelayHistogram]) -> Iterator[Metric]:
        family = HistogramMetricFamily(
            "driftline_label_delay_seconds", "Time from prediction to its outcome", labels=STREAM
        )
        for (model, version), histogram in sorted(delays.items()):
            buckets = [
                ("+Inf" if b == float("inf") else repr(b), c) for b, c in histogram.cumulative_buckets()
            ]
            family.add_metric([model, version], buckets, histogram.sum)
        yield family
