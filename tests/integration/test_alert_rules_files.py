"""The shipped Prometheus alerting rules and Alertmanager example: valid for the real tools,
unit-tested with `promtool test rules`, written against metrics the service really exports, and
in step with the engine's default rule set."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from alerts.config import DEFAULT_RULES

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "alerts"
RULES = ALERTS / "driftline.alerts.yml"
# engine rule -> the Prometheus alert that mirrors it
MIRRORS = {
    "feature_drift": "DriftlineFeatureDrift",
    "dataset_drift": "DriftlineDatasetDrift",
    "missing_values": "DriftlineMissingValues",
    "out_of_range_values": "DriftlineOutOfRangeValues",
    "unseen_categories": "DriftlineUnseenCategories",
    "accuracy_drop": "DriftlineAccuracyDrop",
    "mae_increase": "DriftlineMaeIncrease",
    "estimated_accuracy_drop": "DriftlineEstimatedAccuracyDrop",
    "estimated_mae_increase": "DriftlineEstimatedMaeIncrease",
    "segment_drift": "DriftlineSegmentDrift",
    "segment_quality": "DriftlineSegmentQuality",
    "segment_performance": "DriftlineSegmentPerformance",
    "concept_drift": "DriftlineConceptDrift",
    "multivariate_drift": "DriftlineMultivariateDrift",
    "version_rollback": "DriftlineVersionRollback",
    "rejected_messages": "DriftlineRejectedMessages",
    "no_data": "DriftlineNoData",
}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found: run `bash scripts/setup.sh` (Debian prometheus packages)", pytrace=False
        )
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ALERTS, check=False)


def test_promtool_checks_the_rules() -> None:
    done = run(tool("promtool"), "check", "rules", RULES.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 19 rules found" in done.stdout


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    done = run(tool("promtool"), "test", "rules", "driftline.alerts.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_amtool_accepts_the_alertmanager_example() -> None:
    done = run(tool("amtool"), "check-config", "alertmanager.example.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def _alerts() -> dict[str, dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"]}


def test_rules_use_only_metrics_the_service_exports() -> None:
    sinks = REPO / "monitor" / "sinks"
    exporter = "".join(
        p.read_text()
        for p in [
            *sorted(sinks.glob("prometheus*.py")),
            sinks / "multivariate_metrics.py",
            sinks / "comparison_metrics.py",
        ]
    )
    for name, rule in _alerts().items():
        for metric in set(re.findall(r"\bdriftline_[a-z_]+", rule["expr"])):
            base = metric.removesuffix("_total")
            assert f'"{base}"' in exporter or f'"{metric}"' in exporter, f"{name}: {metric} is not exported"


def test_every_default_rule_has_a_prometheus_twin_with_the_same_threshold_and_severity() -> None:
    alerts = _alerts()
    assert {r.name for r in DEFAULT_RULES} == set(MIRRORS)
    for rule in DEFAULT_RULES:
        twin = alerts[MIRRORS[rule.name]]
        assert twin["labels"]["severity"] == rule.severity, rule.name
        if rule.signal != "staleness":
            threshold = f"{rule.op} {rule.threshold:g}"
            assert threshold in " ".join(twin["expr"].split()), (rule.name, threshold, twin["expr"])
        if isinstance(rule.for_, int) and rule.for_ > 1:
            assert twin["for"] == f"{rule.for_}h", rule.name  # hourly windows
