"""Prometheus gauges of drift, data quality and performance per segment (monitor.core.segments,
monitor.core.segment_quality, monitor.core.segment_performance), from window results.

The `segment` label takes only the baseline's segments and its "other" bucket: at most
`segments.max_segments` + 1 values per model version, whatever segments the live stream sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from monitor.evaluation.results import WindowResult

_STREAM = ["model", "model_version"]


def segment_families(latest: Iterable[WindowResult]) -> Iterator[Metric]:
    """Per segment, the features that drifted in it; per model version, the pairs tested (one
    sample per series: the latest window of each model version, or one window for a history)."""
    drifted = GaugeMetricFamily(
        "driftline_segment_drifted_features",
        "Features that drifted within the segment in the latest window, after multiple-testing control",
        labels=[*_STREAM, "segment"],
    )
    tests = GaugeMetricFamily(
        "driftline_segment_drift_tests",
        "(segment, feature) pairs with enough rows to test in the latest window",
        labels=_STREAM,
    )
    quality = GaugeMetricFamily(
        "driftline_segment_quality_issues",
        "(feature, measure) pairs whose missing, out-of-range or unseen share rose over the segment's "
        "reference in the latest window, after multiple-testing control",
        labels=[*_STREAM, "segment"],
    )
    performance = GaugeMetricFamily(
        "driftline_segment_performance_degraded",
        "1 when the segment's realised performance fell below its reference by more than the allowed "
        "drop in the latest window, after multiple-testing control; 0 otherwise (only tested segments)",
        labels=[*_STREAM, "segment"],
    )
    for r in latest:
        if r.segments is None:
            continue
        key = [r.model, r.model_version]
        for segment in r.segments.segments:
            drifted.add_metric([*key, segment], r.segments.drifted_features(segment))
            quality.add_metric([*key, segment], r.segments.quality_issues(segment))
        for t in r.segments.performance:
            if t.p_value is not None and t.segment in r.segments.segments:
                performance.add_metric([*key, t.segment], float(t.degraded))
        tests.add_metric(key, r.segments.n_tests)
    yield from (drifted, tests, quality, performance)
