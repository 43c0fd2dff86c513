"""Helpers shared by every test directory."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

# Benchmarks are scripts run by hand (they write bench-*.json), not tests.
collect_ignore = ["benchmarks"]


def find_free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    The OS picks it, so parallel runs do not collide; a server started later may still lose the
    race for it, which is why server fixtures retry on "address already in use".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def free_tcp_port() -> int:
    return find_free_port()


@pytest.fixture
def free_tcp_port_factory() -> Callable[[], int]:
    return find_free_port
