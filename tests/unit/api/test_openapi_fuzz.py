"""Schemathesis against the app's own OpenAPI spec: generated requests for every operation,
with the API key (so write endpoints get past auth and parse what they are sent), against
a real service holding evaluated windows. No answer may be a server error."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from monitor.api.app import create_app
from tests.unit.api import api_world as world
from tests.unit.api.conftest import WRITE


@schemathesis.serializer("application/x-ndjson", "application/vnd.apache.parquet")
def raw_bytes(_ctx: object, value: object) -> bytes:
    """Both are declared as strings in the spec: send the generated text as the body."""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogatepass")


def build_schema() -> schemathesis.BaseSchema:
    # Built at import, as schemathesis parametrizes at collection (its pytest-fixture loader does
    # not run under pytest 9); the folder lives as long as the test process.
    cfg = world.config(Path(FOLDER.name), api_key=world.KEY, max_events=200)
    service = world.service(cfg)
    world.run_day(service, windows=3, drift_from=2, n=200)
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(service))


FOLDER = tempfile.TemporaryDirectory(prefix="driftline-fuzz-")
schema = build_schema()


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_server_errors(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=WRITE, checks=[not_a_server_error])
