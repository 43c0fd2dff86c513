"""Prometheus metrics of the alert engine: what fires now, and what waits to be delivered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from alerts.outbox import OUTBOX

if TYPE_CHECKING:
    from alerts.engine import AlertEngine


class AlertEngineCollector(Collector):
    """`driftline_alerts_firing{rule, severity, model, model_version}`: firing alerts (the rule
    names come from the config, a bounded set); `driftline_alert_outbox_entries`: notifications
    and retraining triggers not yet delivered (they wait for a receiver that is down)."""

    def __init__(self, engine: AlertEngine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        firing = GaugeMetricFamily(
            "driftline_alerts_firing",
            "Alerts firing, by rule",
            labels=["rule", "severity", "model", "model_version"],
        )
        counts: dict[tuple[str, str, str, str], int] = {}
        for alert in self.engine.snapshot()["active"]:
            key = (alert["rule"], alert["severity"] or "", alert["model"] or "", alert["model_version"] or "")
            counts[key] = counts.get(key, 0) + 1
        for labels, count in sorted(counts.items()):
            firing.add_metric(list(labels), count)
        yield firing
        yield GaugeMetricFamily(
            "driftline_alert_outbox_entries",
            "Notifications and retraining triggers waiting to be delivered",
            value=len(self.engine.store.load_records(OUTBOX)),
        )
