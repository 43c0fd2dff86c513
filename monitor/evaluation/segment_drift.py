"""A window's drift and data quality per segment and feature, and its realised performance per
segment, against its baseline's per-segment reference."""

from __future__ import annotations

from monitor.baselines.baseline import Baseline
from monitor.config import ModelConfig
from monitor.core.segment_performance import SegmentPerformanceResult, segment_performance
from monitor.core.segment_quality import segment_quality
from monitor.core.segments import segment_drift
from monitor.evaluation.results import SegmentDriftReport
from monitor.pipeline.windows import WindowState


def segment_drift_report(
    window: WindowState, baseline: Baseline, cfg: ModelConfig
) -> SegmentDriftReport | None:
    """None unless the model has segments configured and the window has profiles built on this
    baseline's (a window whose baseline is no longer at hand has other bins: nothing to compare)."""
    settings, reference = cfg.segments, baseline.segment_profiles
    if settings is None or reference is None or window.segments is None:
        return None
    same_segments = window.segments.segment_map.labels == reference.segment_map.labels
    if window.baseline_id != baseline.id or not same_segments:
        return None
    alpha, method, min_rows = settings.alpha, settings.method, settings.min_rows
    result = segment_drift(reference, window.segments, alpha=alpha, method=method, min_rows=min_rows)
    quality = segment_quality(reference, window.segments, alpha=alpha, method=method, min_rows=min_rows)
    performance = _performance(window, baseline, cfg)
    return SegmentDriftReport(
        result.method,
        result.alpha,
        result.n_tests,
        reference.segment_map.labels,
        result.drifted,
        quality.n_tests,
        quality.degraded,
        0 if performance is None else performance.n_tests,
        () if performance is None else performance.tests,
    )


def _performance(
    window: WindowState, baseline: Baseline, cfg: ModelConfig
) -> SegmentPerformanceResult | None:
    """The window's joined pairs per segment against the baseline's reference per segment (None
    when either is missing: an older baseline or window). A segment is tested from `min_rows`
    pairs on both sides."""
    settings, references = cfg.segments, baseline.segment_references
    if (
        settings is None
        or references is None
        or window.segment_performance is None
        or window.segments is None
    ):
        return None
    pairs = dict(zip(window.segments.segment_map.labels, window.segment_performance, strict=True))
    return segment_performance(
        cfg.task,
        references,
        pairs,
        max_accuracy_drop=cfg.performance.max_accuracy_drop,
        max_mae_increase=cfg.performance.max_mae_increase,
        alpha=settings.alpha,
        method=settings.method,
        min_rows=settings.min_rows,
    )
