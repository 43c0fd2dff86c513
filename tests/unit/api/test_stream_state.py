"""The green/amber/red state of a model version, from its latest window and active alerts."""

from __future__ import annotations

from dataclasses import replace

from monitor.api.models import stream_state
from monitor.evaluation.results import WindowResult
from monitor.service import Service


def latest(day: Service, model: str) -> WindowResult:
    result = day.results.latest(model, "1")
    assert result is not None
    return result


def test_no_window_yet_is_unknown_and_a_quiet_window_is_green(day: Service) -> None:
    assert stream_state(None, []) == ("unknown", [])
    assert stream_state(latest(day, "fraud"), []) == ("green", [])


def test_dataset_drift_is_red_and_some_drifted_features_amber(day: Service) -> None:
    drifted = latest(day, "churn")
    state, reasons = stream_state(drifted, [])
    assert state == "red" and reasons[0] == "dataset drift: 2 of 3 features drifted"
    partial = replace(
        drifted, drift=replace(drifted.drift, dataset_drift=False, prediction=None), multivariate=None
    )
    assert stream_state(partial, []) == ("amber", ["drifted: spend, plan"])


def test_multivariate_drift_alone_is_amber(day: Service) -> None:
    drifted, quiet = latest(day, "churn"), latest(day, "fraud")
    assert drifted.multivariate is not None and drifted.multivariate.drift_detected  # spend moved 2 sd
    assert quiet.multivariate is not None and not quiet.multivariate.drift_detected
    assert stream_state(replace(quiet, multivariate=drifted.multivariate), []) == (
        "amber",
        ["multivariate drift"],
    )


def test_degraded_performance_and_concept_drift_are_red(day: Service) -> None:
    quiet = latest(day, "fraud")
    degraded = replace(quiet, performance=replace(quiet.performance, degraded=True))
    assert stream_state(degraded, []) == ("red", ["performance below reference"])
    assert stream_state(replace(quiet, concept_drift=True), []) == ("red", ["concept drift"])


def test_alerts_colour_by_severity(day: Service) -> None:
    quiet = latest(day, "fraud")
    assert stream_state(quiet, [{"rule": "r1", "severity": "warning"}]) == ("amber", ["alert r1"])
    assert stream_state(quiet, [{"rule": "r2", "severity": "critical"}]) == ("red", ["alert r2"])
