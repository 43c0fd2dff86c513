"""`driftline run` with `sinks.elasticsearch` in its config: the real process exports every window
to a real Elasticsearch-API server (noida-db) and leaves nothing undelivered at exit."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from monitor.config import load_config
from tests.conftest import find_free_port
from tests.integration.es_fixtures import ElasticsearchServer
from tests.integration.es_stream import all_documents
from tests.integration.test_run_command import _config, _driftline, _write_inputs

pytestmark = pytest.mark.integration


def test_run_exports_every_window_and_resolves_the_spill_dir(
    es_server: ElasticsearchServer, tmp_path: Path
) -> None:
    (tmp_path / "in").mkdir()
    _write_inputs(tmp_path / "in", windows=3, n=300)
    config = _config(tmp_path, [{"kind": "file", "path": "in/events-000.jsonl"}], find_free_port())
    data = yaml.safe_load(config.read_text())
    data["sinks"] = {"elasticsearch": {"url": es_server.url, "spill_dir": "es-spill", "retention_days": None}}
    config.write_text(yaml.safe_dump(data))
    loaded = load_config(config).sinks.elasticsearch
    assert loaded is not None and loaded.spill_dir == tmp_path / "es-spill"

    done = subprocess.run(
        _driftline("run", "--config", str(config)), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr

    es = es_server.client()
    windows = all_documents(es, "driftline-windows-*")
    assert sorted(windows) == [f"m|1|{h * 3600}|window" for h in range(3)]
    # The last evaluation won: every prediction counted and joined to its outcome (a minute later).
    assert [(doc["n_rows"], doc["performance"]["n_pairs"]) for doc in windows.values()] == [(300, 300)] * 3
    features = all_documents(es, "driftline-features-*")
    assert {doc["feature"] for doc in features.values()} >= {"x1", "x2", "x3", "c1", "c2"}
    assert (tmp_path / "es-spill").is_dir() and not list((tmp_path / "es-spill").iterdir())
