"""Real servers for integration tests.

`prometheus_server` is a factory fixture: each call starts a real Prometheus (the Debian package's
binary, through scripts/prometheus.sh) on a free loopback port, with its data in the test's tmp dir,
scraping the given ``host:port`` targets. Every server it started is stopped at teardown.

    def test_export(prometheus_server):
        prom = prometheus_server(["127.0.0.1:9464"])
        prom.wait_for('driftline_psi{feature="age"}', timeout=15)

Budget about 6 s for the first sample: Prometheus 2.42 applies new scrape targets on a fixed
5-second tick, whatever the scrape interval.

A missing binary fails the test rather than skipping it: CI installs Prometheus, so a skip there
would hide a broken set-up.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.alertmanager_fixtures import alertmanager_server  # noqa: F401  (pytest fixtures)
from tests.integration.es_fixtures import ElasticsearchServer, es_server  # noqa: F401  (pytest fixtures)
from tests.integration.kafka_fixtures import (  # noqa: F401  (pytest fixtures)
    kafka_broker,
    kafka_client,
    kafka_group_id,
)
from tests.integration.server_scripts import run_script, start_on_free_port

PrometheusFactory = Callable[..., "PrometheusServer"]


@dataclass
class PrometheusServer:
    """A running Prometheus and a few HTTP API helpers for assertions."""

    url: str
    port: int
    directory: Path
    config_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def log_path(self) -> Path:
        return self.directory / "prometheus.log"

    def api_get(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path> and return its ``data``; raises with Prometheus's own error text."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        request_url = f"{self.url}/api/v1/{path}{query}"
        try:
            with urllib.request.urlopen(request_url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            # 4xx answers (bad PromQL, for one) still carry a JSON body that says what is wrong.
            detail = error.read().decode("utf-8", "replace")
            message = f"Prometheus {path} {params} failed with HTTP {error.code}: {detail}"
            raise AssertionError(message) from None
        if body.get("status") != "success":
            raise AssertionError(f"Prometheus {path} {params} answered {body}")
        return body["data"]

    def query(self, promql: str) -> list[Any]:
        """Instant query at the current time: the ``result`` list of /api/v1/query."""
        result: list[Any] = self.api_get("query", query=promql)["result"]
        return result

    def wait_for(self, promql: str, timeout: float = 30.0, interval: float = 0.2) -> list[Any]:
        """Poll `query` until it returns a non-empty result and return that result.

        On timeout the error shows the last result and every scrape target's health, which is
        usually what explains an empty answer (target down, wrong port, bad metric text).
        """
        deadline = time.monotonic() + timeout
        result = self.query(promql)
        while not result:
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"no result for {promql!r} from {self.url} within {timeout}s; "
                    f"targets: {self.target_health()}"
                )
            time.sleep(interval)
            result = self.query(promql)
        return result

    def target_health(self) -> list[dict[str, Any]]:
        """Each active target's scrape URL, health and last error."""
        active = self.api_get("targets")["activeTargets"]
        return [
            {"scrapeUrl": t["scrapeUrl"], "health": t["health"], "lastError": t["lastError"]} for t in active
        ]

    def reload(self) -> None:
        """Re-read the config and rule files (the server runs with --web.enable-lifecycle)."""
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        """Stop the server and wait for it to exit; calling it twice is harmless."""
        if self._stopped:
            return
        outcome = run_script("prometheus.sh", "stop", str(self.directory))
        if outcome.returncode != 0:
            output = outcome.stdout + outcome.stderr
            raise AssertionError(f"could not stop Prometheus at {self.url}:\n{output}")
        self._stopped = True


def _prometheus_config(
    scrape_targets: Sequence[str],
    scrape_interval: str,
    rule_files: Sequence[Path | str],
    alertmanagers: Sequence[str],
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
            "evaluation_interval": scrape_interval,
        },
        # Prometheus reads rule paths relative to the config file, which lives in a tmp dir.
        "rule_files": [str(Path(p).resolve()) for p in rule_files],
        "scrape_configs": [{"job_name": "driftline", "static_configs": [{"targets": list(scrape_targets)}]}],
    }
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}
    return config


@pytest.fixture
def prometheus_server(
    tmp_path: Path, free_tcp_port_factory: Callable[[], int]
) -> Iterator[PrometheusFactory]:
    """Factory: ``prometheus_server(scrape_targets, scrape_interval="1s", rule_files=None,
    alertmanagers=None) -> PrometheusServer``. Function-scoped because targets differ per test."""
    started: list[PrometheusServer] = []

    def start(
        scrape_targets: Sequence[str],
        scrape_interval: str = "1s",
        rule_files: Sequence[Path | str] | None = None,
        alertmanagers: Sequence[str] | None = None,
        blocks: Path | None = None,
    ) -> PrometheusServer:
        """`blocks`: a TSDB data directory (e.g. promtool's backfill) it starts from."""
        binary = os.environ.get("PROMETHEUS_BIN", "prometheus")
        if shutil.which(binary) is None:
            pytest.fail(
                f"Prometheus binary {binary!r} not found on PATH. Run `bash scripts/setup.sh`, which "
                "installs the Debian packages prometheus and prometheus-alertmanager.",
                pytrace=False,
            )
        directory = tmp_path / f"prometheus-{len(started)}"
        directory.mkdir()
        if blocks is not None:
            shutil.copytree(blocks, directory / "data")
        config_path = directory / "prometheus.yml"
        config = _prometheus_config(scrape_targets, scrape_interval, rule_files or [], alertmanagers or [])
        config_path.write_text(json.dumps(config, indent=2))  # JSON is valid YAML

        port = start_on_free_port(
            "prometheus.sh", directory, free_tcp_port_factory, str(config_path), what="Prometheus"
        )
        server = PrometheusServer(f"http://127.0.0.1:{port}", port, directory, config_path)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
