"""The prometheus_server fixture end to end: a real prometheus_client exporter, scraped by a real
Prometheus, read back through the HTTP API."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class ProbeExporter:
    target: str  # host:port, as Prometheus scrapes it
    gauge: Gauge


@pytest.fixture
def probe_exporter(free_tcp_port: int) -> Iterator[ProbeExporter]:
    # A private registry, so the exporter serves only the probe and not this process's defaults.
    registry = CollectorRegistry()
    gauge = Gauge(
        "driftline_fixture_probe_ratio",
        "A value the fixture test sets and expects to read back through Prometheus.",
        registry=registry,
    )
    gauge.set(0.25)
    server, thread = start_http_server(free_tcp_port, addr="127.0.0.1", registry=registry)
    yield ProbeExporter(f"127.0.0.1:{free_tcp_port}", gauge)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_scraped_gauge_reads_back_through_the_query_api(prometheus_server, probe_exporter):
    prometheus = prometheus_server([probe_exporter.target])

    result = prometheus.wait_for("driftline_fixture_probe_ratio", timeout=30)

    assert len(result) == 1
    assert result[0]["metric"]["instance"] == probe_exporter.target
    assert float(result[0]["value"][1]) == 0.25
    up = prometheus.query(f'up{{instance="{probe_exporter.target}"}}')
    assert [float(sample["value"][1]) for sample in up] == [1.0]


def test_later_scrapes_pick_up_a_changed_value(prometheus_server, probe_exporter):
    prometheus = prometheus_server([probe_exporter.target])
    prometheus.wait_for("driftline_fixture_probe_ratio == 0.25", timeout=30)

    probe_exporter.gauge.set(0.75)

    result = prometheus.wait_for("driftline_fixture_probe_ratio == 0.75", timeout=30)
    assert float(result[0]["value"][1]) == 0.75


def test_invalid_promql_raises_with_prometheus_error_text(prometheus_server):
    prometheus = prometheus_server([])

    with pytest.raises(AssertionError, match="parse error"):
        prometheus.query("sum(")


def test_stop_ends_the_server(prometheus_server):
    prometheus = prometheus_server([])
    prometheus.stop()

    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{prometheus.url}/-/ready", timeout=2)
    assert not (prometheus.directory / "prometheus.pid").exists()


def test_missing_binary_fails_instead_of_skipping(prometheus_server, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_BIN", "driftline-no-such-prometheus")

    with pytest.raises(pytest.fail.Exception, match="not found on PATH"):
        prometheus_server(["127.0.0.1:9"])
