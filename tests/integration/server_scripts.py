"""Running the project's server scripts (scripts/*.sh) from the pytest fixtures: the same scripts
CI and the demo use, so the fixtures test them too."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
START_ATTEMPTS = 3  # a free port can be taken between picking it and the server binding it


def run_script(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`bash scripts/SCRIPT ARGS...`; its output is kept for failure messages."""
    # noida-db is found through this interpreter (the one running the tests); the others ignore it.
    env = {**os.environ, "NOIDA_DB_PYTHON": sys.executable}
    return subprocess.run(
        ["bash", str(SCRIPTS / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def start_on_free_port(
    script: str, directory: Path, free_port: Callable[[], int], *args: str, what: str
) -> int:
    """`scripts/SCRIPT start DIRECTORY PORT ARGS...` on a port from `free_port`, tried again on
    another port when something took the first in the meantime; returns the port, or fails the
    test with the script's output."""
    failure = ""
    for _attempt in range(START_ATTEMPTS):
        port = free_port()
        outcome = run_script(script, "start", str(directory), str(port), *args)
        if outcome.returncode == 0:
            return port
        failure = outcome.stdout + outcome.stderr
        if "already in use" not in failure.lower():
            break
    pytest.fail(f"could not start {what}:\n{failure}", pytrace=False)
