"""A real Alertmanager for integration tests (the Debian package's binary, through
scripts/alertmanager.sh), on a free loopback port with its state in the test's tmp dir.

`alertmanager_server` is a factory fixture: `alertmanager_server(config)` takes the Alertmanager
config as a dict (write a webhook receiver pointing at the test's HTTP server) and returns an
`AlertmanagerServer`; every server it started is stopped at teardown. A missing binary fails the
test rather than skipping it: CI installs Alertmanager.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.server_scripts import run_script, start_on_free_port

AlertmanagerFactory = Callable[[dict[str, Any]], "AlertmanagerServer"]


@dataclass
class AlertmanagerServer:
    url: str
    port: int
    directory: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def log_path(self) -> Path:
        return self.directory / "alertmanager.log"

    def alerts(self) -> list[dict[str, Any]]:
        """GET /api/v2/alerts: the alerts Alertmanager holds now."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=10) as response:
            result: list[dict[str, Any]] = json.load(response)
        return result

    def stop(self) -> None:
        if self._stopped:
            return
        outcome = run_script("alertmanager.sh", "stop", str(self.directory))
        if outcome.returncode != 0:
            raise AssertionError(
                f"could not stop Alertmanager at {self.url}:\n{outcome.stdout}{outcome.stderr}"
            )
        self._stopped = True


def _binary() -> str:
    if os.environ.get("ALERTMANAGER_BIN"):
        return os.environ["ALERTMANAGER_BIN"]
    return "prometheus-alertmanager" if shutil.which("prometheus-alertmanager") else "alertmanager"


@pytest.fixture
def alertmanager_server(
    tmp_path: Path, free_tcp_port_factory: Callable[[], int]
) -> Iterator[AlertmanagerFactory]:
    started: list[AlertmanagerServer] = []

    def start(config: dict[str, Any]) -> AlertmanagerServer:
        if shutil.which(_binary()) is None:
            pytest.fail(
                f"Alertmanager binary {_binary()!r} not found on PATH. Run `bash scripts/setup.sh`, which "
                "installs the Debian package prometheus-alertmanager.",
                pytrace=False,
            )
        directory = tmp_path / f"alertmanager-{len(started)}"
        directory.mkdir()
        config_path = directory / "alertmanager.yml"
        config_path.write_text(json.dumps(config, indent=2))  # JSON is valid YAML
        port = start_on_free_port(
            "alertmanager.sh", directory, free_tcp_port_factory, str(config_path), what="Alertmanager"
        )
        server = AlertmanagerServer(f"http://127.0.0.1:{port}", port, directory)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
