"""A window where some feature drifted, a quality share rose, or the performance degraded within a
segment colours its model version amber, naming the segments."""

from __future__ import annotations

from dataclasses import replace

from monitor.api.models import stream_state
from monitor.core.segment_performance import SegmentPerformanceTest
from monitor.core.segment_quality import SegmentQualityTest
from monitor.core.segments import OTHER, SegmentFeatureTest
from monitor.evaluation.results import SegmentDriftReport
from monitor.service import Service


def test_drift_or_worse_quality_within_a_segment_is_amber_and_names_it(day: Service) -> None:
    quiet = day.results.latest("fraud", "1")
    assert quiet is not None
    pairs = (
        SegmentFeatureTest("us", "amount", 0.3, 1e-8, 1e-6, True, 900, 400),
        SegmentFeatureTest("eu", "amount", 0.2, 1e-5, 1e-3, True, 900, 400),
        SegmentFeatureTest("us", "merchant", 0.2, 1e-5, 1e-3, True, 900, 400),
    )
    report = SegmentDriftReport("holm", 0.05, 12, ("eu", "us", OTHER), pairs)
    assert stream_state(replace(quiet, segments=report), []) == (
        "amber",
        ["drifted within segment(s): eu, us"],
    )
    stationary = replace(report, drifted=())
    assert stream_state(replace(quiet, segments=stationary), []) == ("green", [])
    worse = replace(
        stationary,
        quality_tests=24,
        quality=(SegmentQualityTest("eu", "amount", "missing", 0.2, 0.01, 400, 900, 1e-9, 1e-7, True),),
    )
    assert stream_state(replace(quiet, segments=worse), []) == (
        "amber",
        ["data quality worse within segment(s): eu"],
    )
    tested = (
        SegmentPerformanceTest("eu", 300, "accuracy", 0.9, 0.9, 0.6, 0.9, False),
        SegmentPerformanceTest("us", 300, "accuracy", 0.6, 0.9, 1e-9, 1e-8, True),
    )
    assert stream_state(
        replace(quiet, segments=replace(stationary, performance_tests=2, performance=tested)), []
    ) == (
        "amber",
        ["performance below reference within segment(s): us"],
    )
