"""From results to observations: the value each rule's signal takes, per alert key.

An alert key is (rule, model, model_version, subject), the subject being the feature for
per-feature signals and empty otherwise (the results carry no
per-segment breakdown yet). Pure functions: the engine supplies results, counters and `now`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from alerts.config import RuleConfig
from monitor.core.estimation.result import shown_drop as shown_estimated_drop
from monitor.core.performance.degradation import shown_drop
from monitor.evaluation.results import WindowResult

SERVICE = "*"  # model and version of service-wide signals (rejects carry no model)


@dataclass(frozen=True)
class AlertKey:
    rule: str
    model: str
    model_version: str
    subject: str = ""

    @property
    def id(self) -> str:
        return "/".join((self.rule, self.model, self.model_version, self.subject))

    @classmethod
    def parse(cls, text: str) -> AlertKey:
        rule, model, version, subject = text.split("/", 3)
        return cls(rule, model, version, subject)


@dataclass(frozen=True)
class Observation:
    """One value of a rule's signal. `at` orders observations in time: the window's end for
    window signals, the check's `now` otherwise; `window_start` is None for the latter."""

    key: AlertKey
    value: float
    at: datetime
    window_start: datetime | None = None
    window_end: datetime | None = None


def compare(op: str, value: float, threshold: float) -> bool:
    if op == ">":
        return value > threshold
    if op == ">=":
        return value >= threshold
    if op == "<":
        return value < threshold
    return value <= threshold


def applies(rule: RuleConfig, model: str, version: str) -> bool:
    return (not rule.models or model in rule.models) and (not rule.versions or version in rule.versions)


def observe(rule: RuleConfig, result: WindowResult, min_pairs: int) -> list[Observation]:
    """The observations a window result gives a window rule (none for other signals)."""
    if not applies(rule, result.model, result.model_version):
        return []
    values: list[tuple[str, float]] = []
    drift = result.drift
    if rule.signal == "feature_drift":
        for f in drift.features:
            value = _feature_value(rule.statistic, f.drift_detected, f.value, f.statistics)
            if value is not None:
                values.append((f.column, value))
    elif rule.signal in ("missing_ratio", "out_of_range_ratio", "unseen_ratio"):
        for q in drift.quality:
            ratio = getattr(q, rule.signal)
            if ratio is not None and q.n_rows > 0:
                values.append((q.column, float(ratio)))
    elif rule.signal == "drift_share":
        values.append(("", float(drift.drift_share)))
    elif rule.signal == "multivariate_drift":
        if result.multivariate is not None:  # none: the baseline has no multivariate detector
            values.append(("", float(result.multivariate.drift_detected)))
    elif rule.signal == "performance_drop":
        drop = performance_drop(rule, result, min_pairs)
        if drop is not None:
            values.append(("", drop))
    elif rule.signal == "estimated_performance_drop":
        drop = estimated_performance_drop(rule, result)
        if drop is not None:
            values.append(("", drop))
    elif rule.signal == "version_rollback" and result.comparison is not None:
        # The subject is the baseline version the candidate is compared with.
        comparison = result.comparison
        values.append((comparison.baseline_version, float(comparison.verdict == "rollback")))
    elif rule.signal == "segment_drift" and result.segments is not None:
        # One subject per segment of the baseline (at most max_segments + 1 of them).
        values += [(s, float(result.segments.drifted_features(s))) for s in result.segments.segments]
    elif rule.signal == "segment_quality" and result.segments is not None:
        values += [(s, float(result.segments.quality_issues(s))) for s in result.segments.segments]
    elif rule.signal == "segment_performance" and result.segments is not None:
        # Tested segments only (enough pairs on both sides); the baseline's, so the subjects stay bounded.
        kept = set(result.segments.segments)
        values += [
            (t.segment, float(t.degraded))
            for t in result.segments.performance
            if t.p_value is not None and t.segment in kept
        ]
    if rule.features:
        values = [(s, v) for s, v in values if s in rule.features]
    return [
        Observation(
            AlertKey(rule.name, result.model, result.model_version, subject),
            value,
            result.window_end,
            result.window_start,
            result.window_end,
        )
        for subject, value in values
    ]


def _feature_value(
    statistic: str, detected: bool, value: float, statistics: Mapping[str, float]
) -> float | None:
    if statistic == "detected":
        return float(detected)
    if statistic == "value":
        return float(value)
    stat = statistics.get(statistic)
    return None if stat is None else float(stat)


def performance_drop(rule: RuleConfig, result: WindowResult, min_pairs: int) -> float | None:
    """How far the window's metric is worse than the reference (positive = worse), counted only
    when the window's sample shows it (monitor.core.performance.degradation: 0 otherwise, so a window
    of a few hundred pairs does not fire on noise); None until the window has `min_pairs` joined
    pairs."""
    perf = result.performance
    drop = shown_drop(rule.metric, perf.metrics, perf.reference, perf.n_pairs)
    reference = perf.reference.get(rule.metric)
    if perf.n_pairs < min_pairs or drop is None or reference is None:
        return None
    if rule.relative:
        return None if reference == 0 else drop / abs(reference)
    return float(drop)


def estimated_performance_drop(rule: RuleConfig, result: WindowResult) -> float | None:
    """How far the metric estimated without outcomes is worse than the reference (positive =
    worse), counted only when the estimate's whole band is on the worse side (0 otherwise:
    monitor.core.estimation.result.shown_drop); None when the window has no such estimate."""
    estimated = result.estimated
    estimate = None if estimated is None else estimated.metrics.get(rule.metric)
    reference = result.performance.reference.get(rule.metric)
    if estimate is None or reference is None:
        return None
    drop = shown_estimated_drop(estimate, reference)
    if drop is None:
        return None
    if rule.relative:
        return None if reference == 0 else drop / abs(reference)
    return float(drop)


def observe_episode(
    rule: RuleConfig, model: str, version: str, is_open: bool, at: datetime
) -> list[Observation]:
    """A concept-drift episode opening (1) or closing (0) for a model version; `at` is when, in the
    error stream's event time (the episode's first alarm, or its last)."""
    if rule.signal != "concept_drift" or not applies(rule, model, version):
        return []
    return [Observation(AlertKey(rule.name, model, version), float(is_open), at)]


def observe_rejects(rule: RuleConfig, rejected: int, accepted: int, now: datetime) -> list[Observation]:
    """Share of messages dead-lettered since the previous pass, over the whole service (one key, so
    the alert resolves once rejects stop, whatever their reason)."""
    total = accepted + rejected
    if rule.signal != "rejected_ratio" or total == 0:
        return []
    return [Observation(AlertKey(rule.name, SERVICE, SERVICE), rejected / total, now)]


def observe_staleness(
    rule: RuleConfig, last_seen: Mapping[tuple[str, str], datetime], now: datetime
) -> list[Observation]:
    """Seconds since each model version's last prediction arrived."""
    if rule.signal != "staleness":
        return []
    return [
        Observation(AlertKey(rule.name, model, version), (now - seen).total_seconds(), now)
        for (model, version), seen in sorted(last_seen.items())
        if applies(rule, model, version)
    ]
