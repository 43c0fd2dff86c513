"""Baselines shared between two instances through a real PostgreSQL (per-test schema, as in
test_state_postgres.py): an upload through one instance's API reaches the other on its next
tick. The checks are those of tests/unit/test_baseline_sharing.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.state.postgres import PostgresStateStore
from tests.integration.test_state_postgres import admin, open_store, pg_url, schema  # noqa: F401 (fixtures)
from tests.unit.test_baseline_sharing import check_an_upload_reaches_the_other_instance

pytestmark = pytest.mark.integration


def test_an_upload_reaches_the_other_instance(
    open_store: Callable[[], PostgresStateStore],  # noqa: F811
    tmp_path: Path,
) -> None:
    check_an_upload_reaches_the_other_instance(open_store(), open_store(), tmp_path)
