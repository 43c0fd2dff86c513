"""The default rule set: what a deployment gets without writing rules.

alerts/driftline.alerts.yml holds the same rules as Prometheus alerting rules (for teams that
route through Prometheus and Alertmanager instead); keep the two in step. Thresholds follow the
service's own decisions where it has one (drift detected, dataset drift at half the features,
the 0.05 accuracy drop of `performance.max_accuracy_drop`) and the usual data-quality levels
otherwise.
"""

from __future__ import annotations

from typing import Any

# Validated into RuleConfig objects by alerts.config (DEFAULT_RULES), which imports this table.
DEFAULT_RULE_SPECS: list[dict[str, Any]] = [
    {
        "name": "feature_drift",
        "signal": "feature_drift",
        "statistic": "detected",
        "op": ">=",
        "threshold": 1,
        "severity": "warning",
        "summary": "feature {feature} of {model} v{model_version} drifted",
    },
    {
        "name": "dataset_drift",
        "signal": "drift_share",
        "op": ">=",
        "threshold": 0.5,
        "resolve_threshold": 0.3,
        "severity": "critical",
        "summary": "{value:.0%} of the features of {model} v{model_version} drifted",
    },
    {
        "name": "multivariate_drift",
        "signal": "multivariate_drift",
        "op": ">=",
        "threshold": 1,
        "severity": "warning",
        "summary": "the features of {model} v{model_version} changed how they vary together "
        "(multivariate drift)",
    },
    {
        "name": "missing_values",
        "signal": "missing_ratio",
        "op": ">",
        "threshold": 0.1,
        "resolve_threshold": 0.05,
        "for": 2,
        "severity": "warning",
        "summary": "{value:.1%} of {feature} missing in {model} v{model_version}",
    },
    {
        "name": "out_of_range_values",
        "signal": "out_of_range_ratio",
        "op": ">",
        "threshold": 0.1,
        "resolve_threshold": 0.05,
        "for": 2,
        "severity": "warning",
        "summary": "{value:.1%} of {feature} outside the reference range in {model} v{model_version}",
    },
    {
        "name": "unseen_categories",
        "signal": "unseen_ratio",
        "op": ">",
        "threshold": 0.05,
        "resolve_threshold": 0.02,
        "for": 2,
        "severity": "warning",
        "summary": "{value:.1%} of {feature} values unseen in training for {model} v{model_version}",
    },
    {
        "name": "accuracy_drop",
        "signal": "performance_drop",
        "metric": "accuracy",
        "op": ">",
        "threshold": 0.05,
        "resolve_threshold": 0.03,
        "severity": "critical",
        "summary": "accuracy of {model} v{model_version} {value:.3f} below its reference",
    },
    {
        "name": "mae_increase",
        "signal": "performance_drop",
        "metric": "mae",
        "relative": True,
        "op": ">",
        "threshold": 0.2,
        "resolve_threshold": 0.1,
        "severity": "critical",
        "summary": "MAE of {model} v{model_version} {value:.0%} above its reference",
    },
    {
        "name": "estimated_accuracy_drop",
        "signal": "estimated_performance_drop",
        "metric": "accuracy",
        "op": ">",
        "threshold": 0.05,
        "resolve_threshold": 0.03,
        "severity": "warning",
        "summary": "estimated accuracy of {model} v{model_version} {value:.3f} below its reference "
        "(no outcomes needed)",
    },
    {
        "name": "estimated_mae_increase",
        "signal": "estimated_performance_drop",
        "metric": "mae",
        "relative": True,
        "op": ">",
        "threshold": 0.2,
        "resolve_threshold": 0.1,
        "severity": "warning",
        "summary": "estimated MAE of {model} v{model_version} {value:.0%} above its reference "
        "(no outcomes needed)",
    },
    {
        "name": "segment_drift",
        "signal": "segment_drift",
        "op": ">=",
        "threshold": 1,
        "severity": "warning",
        "summary": "{value:.0f} feature(s) of {model} v{model_version} drifted within segment {segment}",
    },
    {
        "name": "segment_quality",
        "signal": "segment_quality",
        "op": ">=",
        "threshold": 1,
        "severity": "warning",
        "summary": "{value:.0f} missing, out-of-range or unseen share(s) of {model} v{model_version} "
        "rose within segment {segment}",
    },
    {
        "name": "segment_performance",
        "signal": "segment_performance",
        "op": ">=",
        "threshold": 1,
        "severity": "warning",
        "summary": "the realised performance of {model} v{model_version} degraded within segment {segment}",
    },
    {
        "name": "concept_drift",
        "signal": "concept_drift",
        "op": ">=",
        "threshold": 1,
        "severity": "critical",
        "summary": "the error stream of {model} v{model_version} degraded (concept drift)",
    },
    {
        "name": "version_rollback",
        "signal": "version_rollback",
        "op": ">=",
        "threshold": 1,
        "severity": "critical",
        "summary": "{model} v{model_version} is worse than v{baseline_version}: roll it back",
    },
    {
        "name": "rejected_messages",
        "signal": "rejected_ratio",
        "op": ">",
        "threshold": 0.01,
        "resolve_threshold": 0.005,
        "severity": "warning",
        "summary": "{value:.1%} of incoming messages dead-lettered",
    },
    {
        "name": "no_data",
        "signal": "staleness",
        "op": ">",
        "threshold": "2h",
        "severity": "warning",
        "summary": "no predictions of {model} v{model_version} for {value:.0f} s",
    },
]
