"""Evaluated windows for a terminal: the table of `driftline windows` (and the end of a finite
`driftline run`), and one window in detail for `driftline show`."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from datetime import datetime

from rich.console import Group
from rich.table import Table
from rich.text import Text

from monitor.core.segment_performance import SegmentPerformanceTest
from monitor.core.segments import SegmentFeatureTest
from monitor.evaluation.result_json import window_id
from monitor.evaluation.results import FeatureDrift, FeatureQuality, WindowResult

# The headline metric of each task, as performance_metrics names it.
HEADLINE = ("accuracy", "mae")


def _number(value: float | None, digits: int = 4) -> str:
    """Short and readable: 0.7817, 5,072, 3.1e-07."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def _yes(flag: bool) -> str:
    return "[bold red]yes[/]" if flag else "no"


def _span(result: WindowResult) -> str:
    start, end = result.window_start, result.window_end
    same_day = start.date() == end.date() or end.time() == datetime.min.time()
    return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}" if same_day else f"{start:%Y-%m-%d %H:%M}–{end:%m-%d %H:%M}"


def performance_summary(result: WindowResult) -> str:
    """The task's headline metric against the reference, with the pairs behind it."""
    performance = result.performance
    if performance.n_pairs == 0:
        return "no outcomes yet"
    name = next((m for m in HEADLINE if m in performance.metrics), None)
    if name is None:
        return f"{performance.n_pairs:,} pairs"
    text = (
        f"{name} {_number(performance.metrics.get(name))} / {_number(performance.reference.get(name))} "
        f"({performance.n_pairs:,})"
    )
    return f"[bold red]{text} degraded[/]" if performance.degraded else text


def windows_table(
    model: str, version: str, results: Sequence[WindowResult], stored: int | None = None
) -> Table:
    """One row per window, oldest first; `stored`: how many there are in all (when only the newest
    are shown)."""
    shown = (
        f"the newest {len(results)} of {stored}" if stored and stored > len(results) else str(len(results))
    )
    table = Table(title=f"{model} version {version}: {shown} evaluated windows", title_justify="left")
    table.add_column("window id", justify="right")
    table.add_column("window (UTC)")
    table.add_column("rows", justify="right")
    table.add_column("drifted features")
    table.add_column("drift share", justify="right")
    table.add_column("dataset drift")
    table.add_column("performance / reference (pairs)")
    table.add_column("concept drift")
    compared = any(r.comparison is not None for r in results)
    if compared:
        table.add_column("verdict")
    table.add_column("final")
    for r in results:
        drift = r.drift
        verdict = [] if not compared else [verdict_text(r)]
        table.add_row(
            window_id(r),
            _span(r),
            f"{drift.n_rows:,}",
            ", ".join(drift.drifted_features) or "-",
            f"{drift.n_drifted}/{len(drift.features)} {drift.drift_share:.0%}",
            _yes(drift.dataset_drift),
            performance_summary(r),
            _yes(r.concept_drift),
            *verdict,
            "yes" if r.final else "no",
        )
    return table


def verdict_text(result: WindowResult) -> str:
    """A candidate version's verdict against the baseline version, rollback in red; "-" if none."""
    comparison = result.comparison
    if comparison is None:
        return "-"
    text = f"{comparison.verdict} vs v{comparison.baseline_version}"
    return f"[bold red]{text}[/]" if comparison.verdict == "rollback" else text


def comparison_lines(result: WindowResult) -> list[str]:
    """The candidate version against the baseline version: the verdict with its cumulative evidence,
    this window's own, and the drift of the predictions (none: no line); in shadow mode the paired
    evidence, cumulative and the window's."""
    comparison = result.comparison
    if comparison is None:
        return []
    total, own = comparison.cumulative, comparison.window
    verdict = comparison.verdict
    since = (
        ""
        if comparison.verdict_window_start is None
        else f" since the window of {comparison.verdict_window_start:%Y-%m-%d %H:%M} UTC"
    )
    lines = [
        f"version comparison ({comparison.mode}) against version {comparison.baseline_version}: "
        f"{f'[bold red]{verdict}[/]' if verdict == 'rollback' else verdict}{since}; "
        f"{total.metric} {_number(total.metric_b)} vs {_number(total.metric_a)}, difference "
        f"{_number(total.difference)} in "
        f"[{_number(total.difference_lower)}, {_number(total.difference_upper)}] "
        f"over {total.n_b:,} + {total.n_a:,} outcomes since {comparison.since:%Y-%m-%d %H:%M} UTC",
        f"  this window: {own.metric} {_number(own.metric_b)} vs {_number(own.metric_a)} "
        f"({own.n_b:,} + {own.n_a:,} outcomes)",
    ]
    drift = comparison.prediction_drift
    if drift is not None:
        lines[-1] += (
            f"; predictions against version {comparison.baseline_version}'s: {drift.statistic} "
            f"{_number(drift.distance)}, p-value {_number(drift.p_value, 3)}"
        )
    paired, window = comparison.paired, comparison.paired_window
    if paired is not None:  # shadow mode: the verdict's evidence
        lines.append(
            f"  paired (the verdict's): difference {_number(paired.difference)} in "
            f"[{_number(paired.difference_lower)}, {_number(paired.difference_upper)}] "
            f"over {paired.n_joined:,} joined pairs"
        )
    if window is not None:
        lines.append(
            f"  this window paired: agreement {_number(window.agreement)} in "
            f"[{_number(window.agreement_lower)}, {_number(window.agreement_upper)}] over "
            f"{window.n_shared:,} shared ids; difference {_number(window.difference)} over "
            f"{window.n_joined:,} joined pairs, McNemar p-value {_number(window.mcnemar_p_value, 3)}"
        )
    return lines


def _feature_row(drift: FeatureDrift, quality: FeatureQuality | None, label: str | None = None) -> list[str]:
    return [
        label or drift.column,
        drift.kind,
        drift.method + (" (exact)" if drift.exact else ""),
        _number(drift.value),
        _number(drift.threshold, 3),
        _yes(drift.drift_detected),
        _number(drift.p_value, 3),
        f"{drift.n_reference:,}",
        f"{drift.n_current:,}",
        "-" if quality is None else f"{quality.missing_ratio:.1%}",
        "-" if quality is None or quality.out_of_range_ratio is None else f"{quality.out_of_range_ratio:.1%}",
        "-" if quality is None or quality.unseen_ratio is None else f"{quality.unseen_ratio:.1%}",
    ]


def window_detail(result: WindowResult) -> Group:
    """Everything about one window: the verdicts, each column's drift and quality, performance."""
    drift, performance = result.drift, result.performance
    at = (
        ""
        if result.concept_drift_at is None
        else f" (detector alarmed at {result.concept_drift_at:%Y-%m-%d %H:%M} UTC)"
    )
    lines = [
        f"[bold]{result.model}[/] version {result.model_version} · window {window_id(result)} · "
        f"{_span(result)} UTC · baseline {drift.baseline_id}",
        f"{drift.n_rows:,} rows · evaluated {result.evaluated_at:%Y-%m-%d %H:%M:%S} UTC · "
        + ("final" if result.final else "not final: outcomes may still arrive"),
        f"dataset drift: {_yes(drift.dataset_drift)} ({drift.n_drifted} of {len(drift.features)} features, "
        f"share {drift.drift_share:.0%}, threshold {drift.drift_share_threshold:.0%})",
        f"concept drift: {_yes(result.concept_drift)}{at}",
    ]
    lines += multivariate_lines(result)
    lines += comparison_lines(result)
    features = Table(title="drift and data quality per column", title_justify="left")
    for name in (
        "column", "kind", "method", "statistic", "threshold", "drifted", "p-value",
        "n reference", "n window", "missing", "out of range", "unseen",
    ):  # fmt: skip
        features.add_column(
            name, justify="left" if name in ("column", "kind", "method", "drifted") else "right"
        )
    quality = {q.column: q for q in drift.quality}
    for feature in drift.features:
        features.add_row(*_feature_row(feature, quality.get(feature.column)))
    for label, column in (("(prediction)", drift.prediction), ("(target)", drift.target)):
        if column is not None:
            features.add_row(*_feature_row(column, quality.get(column.column), label))
    heading = f"performance of {performance.n_pairs:,} joined pairs" + (
        ": [bold red]degraded against the reference[/]" if performance.degraded else ""
    )
    metrics = _table(("metric", "window", "reference"), left={"metric"})
    for name in sorted(set(performance.metrics) | set(performance.reference)):
        metrics.add_row(
            name, _number(performance.metrics.get(name)), _number(performance.reference.get(name))
        )
    delay = result.label_delay
    tail = [f"predictions whose outcome never came: {result.expired_predictions:,}"]
    if delay is not None and delay.count:
        tail.append(f"label delay: {delay.count:,} outcomes, mean {delay.sum / delay.count / 60:.1f} min")
    return Group(
        *(Text.from_markup(line) for line in lines),
        features,
        Text.from_markup(heading),
        metrics,
        *(Text(t) for t in tail),
        *_segment_parts(result),
    )


def multivariate_lines(result: WindowResult) -> list[str]:
    """One line per multivariate detector the window's baseline has (none: no line)."""
    report = result.multivariate
    if report is None:
        return []
    lines = []
    if report.pca is not None:
        pca = report.pca
        lines.append(
            f"multivariate drift (PCA reconstruction): {_yes(pca.drift_detected)} (mean error "
            f"{_number(pca.value)}, band {_number(pca.lower)}–{_number(pca.upper)}, {pca.n_window:,} rows)"
        )
    if report.domain_classifier is not None:
        domain = report.domain_classifier
        lines.append(
            f"multivariate drift (domain classifier): {_yes(domain.drift_detected)} (ROC AUC "
            f"{_number(domain.value, 3)}, threshold {_number(domain.upper, 3)}, p-value "
            f"{_number(domain.p_value, 3)}, {domain.n_window:,} window and {domain.n_reference:,} "
            "reference rows)"
        )
    return lines


def _segment_parts(result: WindowResult) -> list[Text | Table]:
    """Drift and data quality per segment, when the model has segments: the verdicts, the drifted
    pairs and the quality shares that rose."""
    report = result.segments
    if report is None:
        return []
    heading = Text(
        f"drift per segment: {len(report.drifted)} of {report.n_tests:,} (segment, feature) pairs drifted "
        f"over {len(report.segments)} segments ({report.method}, alpha {report.alpha:g})"
    )
    parts: list[Text | Table] = [heading]
    if report.drifted:
        parts.append(_drifted_pairs(report.drifted))
    parts.append(
        Text(f"data quality per segment: {len(report.quality)} of {report.quality_tests:,} shares rose")
    )
    if report.quality:
        columns = ("segment", "feature", "measure", "window", "reference", "adjusted p-value", "n window")
        shares = _table(columns, left={"segment", "feature", "measure"})
        for q in report.quality:
            shares.add_row(
                q.segment,
                q.feature,
                q.measure,
                f"{q.ratio:.1%}",
                f"{q.reference_ratio:.1%}",
                _number(q.adjusted_p_value),
                f"{q.n_window:,}",
            )
        parts.append(shares)
    if report.performance:
        parts += _segment_performance(report.performance, report.performance_tests)
    return parts


def _table(columns: Sequence[str], left: Collection[str]) -> Table:
    """A table of these columns: the `left` ones (names) left-aligned, the numbers right-aligned."""
    table = Table()
    for name in columns:
        table.add_column(name, justify="left" if name in left else "right")
    return table


def _segment_performance(tests: tuple[SegmentPerformanceTest, ...], n_tests: int) -> list[Text | Table]:
    degraded = sum(t.degraded for t in tests)
    columns = ("segment", "pairs", "metric", "window", "reference", "adjusted p-value", "degraded")
    table = _table(columns, left={"segment", "metric"})
    for t in tests:
        table.add_row(
            t.segment,
            f"{t.n_pairs:,}",
            t.metric,
            _number(t.value),
            _number(t.reference),
            _number(t.adjusted_p_value),
            "yes" if t.degraded else "",
        )
    return [Text(f"performance per segment: {degraded} of {n_tests:,} tested segments degraded"), table]


def _drifted_pairs(drifted: tuple[SegmentFeatureTest, ...]) -> Table:
    columns = ("segment", "feature", "statistic", "p-value", "adjusted p-value", "n reference", "n window")
    pairs = _table(columns, left={"segment", "feature"})
    for t in drifted:
        pairs.add_row(
            t.segment,
            t.feature,
            _number(t.statistic),
            _number(t.p_value),
            _number(t.adjusted_p_value),
            f"{t.n_reference:,}",
            f"{t.n_window:,}",
        )
    return pairs
