"""Version comparison in the JSON API: the candidate version's comparison in /models (its state red
on rollback, with the reason) and in its windows, the baseline version without one."""

from __future__ import annotations

import warnings

import numpy as np

from monitor.api.app import create_app
from tests.unit import canary_world as world

with warnings.catch_warnings():  # as in conftest: starlette asks for httpx2 at import time
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def test_models_and_windows_show_the_candidate_verdict() -> None:
    cfg = world.config()
    running = world.service(cfg, world.baselines(cfg))
    list(world.looks(running, 6, 2000, np.random.default_rng(5), 0.865, 0.80))
    with TestClient(create_app(running), raise_server_exceptions=False) as client:
        models = client.get("/api/v1/models").json()["models"]
        versions = {v["version"]: v for v in models[0]["versions"]}
        (status,) = models[0]["comparisons"]
        assert (status["candidate_version"], status["verdict"]) == ("2", "rollback")
        assert status["joined"]["1"] + status["joined"]["2"] == 6 * 2000
        assert versions["1"]["comparison"] is None
        candidate = versions["2"]
        assert candidate["comparison"]["verdict"] == "rollback"
        assert candidate["state"] == "red" and "rollback: worse than version 1" in candidate["reasons"]
        assert candidate["last_window"]["comparison_verdict"] == "rollback"
        windows = client.get("/api/v1/models/m/windows", params={"version": "2"}).json()["windows"]
        assert [w["comparison"]["candidate_version"] for w in windows] == ["2"] * 6
        assert windows[0]["comparison"]["cumulative"]["n_a"] < windows[-1]["comparison"]["cumulative"]["n_a"]
        page = client.get("/").text
        assert "comparisonLine" in page
