"""Prometheus metrics of the Elasticsearch exporter itself: is it keeping up, is anything lost."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.sinks.elasticsearch.delivery import DeliveryStats


class ElasticsearchExporterCollector(Collector):
    """Yields the exporter's delivery counters and buffer gauges (`ElasticsearchExporter.stats`)."""

    def __init__(self, stats: Callable[[], DeliveryStats]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self.stats()
        for name, value, doc in (
            ("delivered", stats.delivered, "Documents Elasticsearch acknowledged"),
            ("failed", stats.failed, "Documents Elasticsearch rejected for good (not retried)"),
            ("dropped", stats.dropped, "Documents dropped because the spill directory was full"),
        ):
            yield CounterMetricFamily(f"driftline_elasticsearch_documents_{name}", doc, value=value)
        yield CounterMetricFamily(
            "driftline_elasticsearch_retries",
            "Bulk attempts that failed and will be retried",
            value=stats.retries,
        )
        yield GaugeMetricFamily(
            "driftline_elasticsearch_buffered_documents",
            "Documents waiting for Elasticsearch (memory and spill files)",
            value=stats.buffered,
        )
