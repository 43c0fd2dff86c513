"""Fixtures for the HTTP API tests: a real Service over the seeded two-model world, and
FastAPI's TestClient on the real app (no server process involved)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.api.app import create_app
from monitor.service import Service
from tests.unit.api import api_world as world

with warnings.catch_warnings():  # starlette asks for httpx2 at import time; httpx is what we pin
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

WRITE = {"Authorization": f"Bearer {world.KEY}"}
JSON_WRITE = {**WRITE, "content-type": "application/json"}


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Service:
    """Six evaluated hours of both models; churn drifted from hour 3 (read-only tests share it)."""
    cfg = world.config(tmp_path_factory.mktemp("day"), api_key=world.KEY)
    service = world.service(cfg)
    world.run_day(service)
    return service


@pytest.fixture(scope="module")
def client(day: Service) -> Iterator[TestClient]:
    with TestClient(create_app(day), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., tuple[Service, TestClient]]]:
    """A fresh service (nothing ingested) and its client, with `api:` settings as given."""
    clients: list[TestClient] = []

    def make(run_day: bool = False, **api: Any) -> tuple[Service, TestClient]:
        service = world.service(world.config(tmp_path, **api))
        if run_day:
            world.run_day(service)
        test_client = TestClient(create_app(service), raise_server_exceptions=False)
        clients.append(test_client)
        return service, test_client

    yield make
    for test_client in clients:
        test_client.close()
