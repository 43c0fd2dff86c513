"""A real Elasticsearch-8-API server for integration tests: noida-db, started by
scripts/elasticsearch.sh on a free loopback port with its data in the test's tmp dir.

Imported into tests/integration/conftest.py so every integration test can ask for it:

    def test_export(es_server):
        es = es_server.client()
        es.indices.refresh(index="driftline-windows-*")
        es_server.stop()   # outage: the same port stops answering
        es_server.start()  # back on the same port, with the same data

The server writes its store to disk on stop (and about once a second while running), so data
written before `stop()` is there after `start()`. Clients made by `client()` are closed at
teardown, and the server is stopped even when the test fails.

A missing noida-db fails the test rather than skipping it: CI installs it with the dev extras,
so a skip there would hide a broken set-up.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from tests.integration.server_scripts import run_script, start_on_free_port


@dataclass
class ElasticsearchServer:
    """A noida-db serving the Elasticsearch API at `url`, with its pid, log and data in `directory`."""

    port: int
    directory: Path
    _running: bool = field(default=False, repr=False)
    _clients: list[Elasticsearch] = field(default_factory=list, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "noida-db.log"

    @property
    def running(self) -> bool:
        return self._running

    def client(self, **options: Any) -> Elasticsearch:
        """An official 8.x client for this server; keyword options go to `Elasticsearch(...)`."""
        options.setdefault("request_timeout", 10)
        es = Elasticsearch(self.url, **options)
        self._clients.append(es)
        return es

    def start(self) -> None:
        """Start (or restart) on the same port and data dir; fails the test if it cannot."""
        if self._running:
            return
        outcome = run_script("elasticsearch.sh", "start", str(self.directory), str(self.port))
        if outcome.returncode != 0:
            pytest.fail(
                f"could not start noida-db on port {self.port}:\n{outcome.stdout}{outcome.stderr}",
                pytrace=False,
            )
        self._running = True

    def stop(self) -> None:
        """Stop the server and wait for it to exit (its data is kept); calling it twice is harmless."""
        if not self._running:
            return
        outcome = run_script("elasticsearch.sh", "stop", str(self.directory))
        if outcome.returncode != 0:
            raise AssertionError(f"could not stop noida-db at {self.url}:\n{outcome.stdout}{outcome.stderr}")
        self._running = False

    def close(self) -> None:
        """Close every client made by `client()` and stop the server."""
        for es in self._clients:
            es.close()
        self._clients.clear()
        self.stop()


def _require_noida_db() -> None:
    if os.environ.get("NOIDA_DB_BIN"):
        return  # the script checks that this path is an executable
    if importlib.util.find_spec("noida_db") is None:
        pytest.fail(
            f"noida-db is not installed for {sys.executable}. Run `bash scripts/setup.sh`, which "
            "installs the dev extras (they pin noida-db, the Elasticsearch-API test server).",
            pytrace=False,
        )


def start_es_server(directory: Path, free_port: Callable[[], int]) -> ElasticsearchServer:
    """Start a noida-db with its files in `directory` on a port from `free_port`, retrying on a
    port that something else took in the meantime."""
    _require_noida_db()
    directory.mkdir(parents=True, exist_ok=True)
    port = start_on_free_port("elasticsearch.sh", directory, free_port, what="noida-db")
    return ElasticsearchServer(port=port, directory=directory, _running=True)


@pytest.fixture
def es_server(tmp_path: Path, free_tcp_port_factory: Callable[[], int]) -> Iterator[ElasticsearchServer]:
    """A running noida-db (Elasticsearch 8 API) on 127.0.0.1, stopped at teardown."""
    server = start_es_server(tmp_path / "elasticsearch", free_tcp_port_factory)
    try:
        yield server
    finally:
        server.close()
