"""The segment_drift signal: the default rule fires per segment in which features drifted (its
subject the segment), resolves when none does, and names the segment in its summary and as the
Alertmanager label `segment`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from alerts.config import AlertsConfig
from alerts.engine import AlertEngine
from alerts.notifiers import alertmanager_alert
from alerts.outbox import OUTBOX, load
from monitor.core.segment_performance import SegmentPerformanceTest
from monitor.core.segment_quality import SegmentQualityTest
from monitor.core.segments import OTHER, SegmentFeatureTest
from monitor.evaluation.results import SegmentDriftReport, WindowResult
from monitor.state.sqlite import SqliteStateStore
from tests.unit.alerts.factory import T0, window

SEGMENTS = ("eu", "us", OTHER)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStateStore]:
    s = SqliteStateStore(tmp_path / "state.db")
    yield s
    s.close()


def segmented(index: int, drifted: tuple[tuple[str, str], ...]) -> WindowResult:
    tests = tuple(SegmentFeatureTest(s, f, 0.4, 1e-6, 1e-4, True, 800, 300) for s, f in drifted)
    report = SegmentDriftReport("benjamini_hochberg", 0.05, 9, SEGMENTS, tests)
    return replace(window(index), segments=report)


def outbox(store: SqliteStateStore) -> list[dict[str, Any]]:
    return [e.document for e in load(store.load_records(OUTBOX))]


def test_the_default_rule_fires_per_drifted_segment_and_resolves(store: SqliteStateStore) -> None:
    alerts = AlertsConfig.model_validate({"receivers": [{"name": "log", "kind": "log"}]})
    engine = AlertEngine(alerts, store, {"churn": 100})
    engine.write([segmented(0, ())])
    assert [d for d in outbox(store) if d["rule"] == "segment_drift"] == []
    engine.write([segmented(1, (("us", "age"), ("us", "spend")))])
    (fired,) = [d for d in outbox(store) if d["rule"] == "segment_drift"]
    assert (fired["subject"], fired["value"], fired["status"]) == ("us", 2.0, "firing")
    assert fired["summary"] == "2 feature(s) of churn v1 drifted within segment us"
    labels = alertmanager_alert(fired, T0)["labels"]
    assert labels["segment"] == "us" and "feature" not in labels
    engine.write([segmented(2, ())])
    assert [(d["subject"], d["status"]) for d in outbox(store) if d["rule"] == "segment_drift"] == [
        ("us", "firing"),
        ("us", "resolved"),
    ]


def test_a_window_without_segments_observes_nothing(store: SqliteStateStore) -> None:
    alerts = AlertsConfig.model_validate({"receivers": [{"name": "log", "kind": "log"}]})
    engine = AlertEngine(alerts, store, {"churn": 100})
    engine.write([window(0), window(1)])
    assert [d for d in outbox(store) if d["rule"] == "segment_drift"] == []


def with_quality(index: int, segment: str | None) -> WindowResult:
    flagged = (
        ()
        if segment is None
        else (SegmentQualityTest(segment, "age", "missing", 0.2, 0.01, 300, 800, 1e-9, 1e-7, True),)
    )
    report = SegmentDriftReport("benjamini_hochberg", 0.05, 9, SEGMENTS, (), 18, flagged)
    return replace(window(index), segments=report)


def test_the_segment_quality_rule_fires_for_the_segment_whose_shares_rose(store: SqliteStateStore) -> None:
    alerts = AlertsConfig.model_validate({"receivers": [{"name": "log", "kind": "log"}]})
    engine = AlertEngine(alerts, store, {"churn": 100})
    engine.write([with_quality(0, None), with_quality(1, "eu")])
    (fired,) = [d for d in outbox(store) if d["rule"] == "segment_quality"]
    assert (fired["subject"], fired["value"], fired["status"]) == ("eu", 1.0, "firing")
    assert fired["summary"] == "1 missing, out-of-range or unseen share(s) of churn v1 rose within segment eu"
    assert alertmanager_alert(fired, T0)["labels"]["segment"] == "eu"
    assert [d for d in outbox(store) if d["rule"] == "segment_drift"] == []
    engine.write([with_quality(2, None)])
    assert [d["status"] for d in outbox(store) if d["rule"] == "segment_quality"] == ["firing", "resolved"]


def with_performance(index: int, degraded: str | None) -> WindowResult:
    tested = [
        SegmentPerformanceTest(
            s, 300, "accuracy", 0.6 if s == degraded else 0.9, 0.9, 1e-6, 1e-5, s == degraded
        )
        for s in ("eu", "us")
    ]
    too_few = SegmentPerformanceTest(OTHER, 5, "accuracy", 0.2, 0.9, None, None, False)  # untested: no value
    report = SegmentDriftReport("benjamini_hochberg", 0.05, 9, SEGMENTS, (), 0, (), 2, (*tested, too_few))
    return replace(window(index), segments=report)


def test_the_segment_performance_rule_fires_for_the_degraded_segment(store: SqliteStateStore) -> None:
    alerts = AlertsConfig.model_validate({"receivers": [{"name": "log", "kind": "log"}]})
    engine = AlertEngine(alerts, store, {"churn": 100})
    engine.write([with_performance(0, None), with_performance(1, "us")])
    (fired,) = [d for d in outbox(store) if d["rule"] == "segment_performance"]
    assert (fired["subject"], fired["value"], fired["status"]) == ("us", 1.0, "firing")
    assert fired["summary"] == "the realised performance of churn v1 degraded within segment us"
    assert alertmanager_alert(fired, T0)["labels"]["segment"] == "us"
    engine.write([with_performance(2, None)])
    assert [d["status"] for d in outbox(store) if d["rule"] == "segment_performance"] == [
        "firing",
        "resolved",
    ]
