"""A Prometheus backfill of evaluated windows, for per-window history in Grafana.

The live exporter (monitor.sinks.prometheus) shows each model version's latest window; Prometheus
keeps what it scraped, one point per scrape. A replay evaluates weeks of windows in minutes, so it
would leave one point behind. This writes every gauge each window set (drift, data quality,
multivariate and segment drift, performance, estimated performance, version comparison, the
concept-drift flag; the same names and labels as the live exporter), stamped
with the window's end, in the OpenMetrics text format that
`promtool tsdb create-blocks-from openmetrics FILE DATA_DIR` turns into TSDB blocks. Prometheus
picks the blocks up from its data directory (older than its retention, 15 days by default, they
are dropped at once).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from monitor.evaluation.results import WindowResult
from monitor.sinks.prometheus import window_families


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def history_openmetrics(results: Iterable[WindowResult]) -> bytes:
    """The windows' gauges, each sample at its window's end, grouped by series and in time order
    within each (as OpenMetrics requires), ending with `# EOF`."""
    samples: dict[str, tuple[str, list[str], list[tuple[list[str], float, float]]]] = {}
    for result in sorted(results, key=lambda r: (r.model, r.model_version, r.window_end)):
        at = result.window_end.timestamp()
        for family in window_families(result):
            for sample in family.samples:
                names = list(sample.labels)
                _, _, points = samples.setdefault(family.name, (family.documentation, names, []))
                points.append(([sample.labels[n] for n in names], sample.value, at))
    families: list[Metric] = []
    for name, (documentation, names, points) in samples.items():
        gauge = GaugeMetricFamily(name, documentation, labels=names)
        for values, value, at in sorted(points, key=lambda p: (p[0], p[2])):
            gauge.add_metric(values, value, timestamp=at)
        families.append(gauge)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return bytes(generate_latest(registry))
