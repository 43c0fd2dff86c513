"""The status page in a real headless Chromium (the distribution's package, driven by
Playwright; no browser download) while a seeded drifting stream runs through the real
service: churn turns red, its heat map marks the injected features, fraud does not turn
red, and the report link serves Evidently's page. A screenshot goes to test-artifacts/."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Error as PlaywrightError

from monitor.api.app import ApiServer
from monitor.service import Service
from tests.conftest import find_free_port
from tests.unit.api import api_world as world

pytestmark = pytest.mark.integration
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WAIT_MS = 60_000  # generous: two cores shared with other work; a wait, not a timing assertion


def stream(service: Service, stop: threading.Event, done: threading.Event) -> None:
    """Eight hours of both models, an hour at a time with a pause, churn drifting from hour 4."""
    rng = np.random.default_rng(21)
    for hour in range(8):
        if stop.is_set():
            break
        for model in world.MODELS:
            world.feed(service, model, hour, 400, rng, drift=model == "churn" and hour >= 4)
        service.evaluate()
        time.sleep(0.3)
    service.evaluate(flush=True)
    done.set()


@contextmanager
def chromium_page(url: str) -> Iterator[tuple[Any, Any, list[str]]]:
    """(browser, page at `url`, page errors so far) in the distribution's headless Chromium."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed: scripts/setup.sh installs the Debian package"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(url)
            yield browser, page, errors
        finally:
            browser.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[ApiServer, threading.Event]]:
    service = world.service(world.config(tmp_path, refresh_seconds=0.5))
    server = ApiServer(service, "127.0.0.1", 0)
    stop, done = threading.Event(), threading.Event()
    feeder = threading.Thread(target=stream, args=(service, stop, done), daemon=True)
    feeder.start()
    try:
        yield server, done
    finally:
        stop.set()
        feeder.join(timeout=30)
        server.close()


def test_status_page_shows_the_drifted_model_red_with_its_features_in_the_heat_map(
    live: tuple[ApiServer, threading.Event],
) -> None:
    server, done = live
    with chromium_page(server.url + "/") as (browser, page, errors):
        page.wait_for_selector('section[data-model="churn"][data-state="red"]', timeout=WAIT_MS)
        assert done.wait(timeout=WAIT_MS / 1000)
        # the page refreshes every 0.5 s: wait for it to show the last hour
        last = str(world.START_S + 7 * world.HOUR_S)
        page.wait_for_selector(f'[data-heatmap="churn/1"] rect[data-window="{last}"]', timeout=WAIT_MS)

        marked = page.eval_on_selector_all(
            '[data-heatmap="churn/1"] rect[data-drift="true"]',
            "cells => cells.map(c => [c.dataset.feature, Number(c.dataset.window)])",
        )
        cells = {(feature, (start - world.START_S) // world.HOUR_S) for feature, start in marked}
        for feature in world.DRIFTED:  # marked in every drifted hour (4-7) and in no other
            assert {hour for f, hour in cells if f == feature} == set(range(4, 8)), feature
        assert page.get_attribute('section[data-model="fraud"]', "data-state") != "red"
        assert (
            page.locator('section[data-model="churn"] svg[data-performance="accuracy"] circle').count() == 8
        )
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "status-page.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000

        href = page.get_attribute('section[data-model="churn"] a[data-report]', "href")
        assert href is not None and href.endswith("/report?version=1")
        report = browser.new_page()
        report.goto(server.url + href, timeout=WAIT_MS)
        assert "drifted features: spend, plan" in report.inner_text("#driftline-banner")
        assert errors == []


def test_status_page_follows_the_demo_while_it_runs(tmp_path: Path) -> None:
    """The README's demo as a user watches it: while its stream runs, churn turns red and the heat
    map marks the injected features (monthly_spend and region) in the feature-drift windows."""
    from playwright.sync_api import sync_playwright

    from monitor.demo.run import HOUR_MS, START_MS, first_window_of

    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed: scripts/setup.sh installs the Debian package"
    port = find_free_port()
    args = ["demo", "--workdir", str(tmp_path), "--speed", "1", "--port", str(port)]
    demo = subprocess.Popen([sys.executable, "-m", "monitor.cli", *args], stdout=subprocess.PIPE, text=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                deadline = time.monotonic() + WAIT_MS / 1000
                while True:  # the demo trains its model before it serves the page
                    try:
                        page.goto(f"http://127.0.0.1:{port}/")
                        break
                    except PlaywrightError:
                        assert demo.poll() is None and time.monotonic() < deadline, "the demo never served"
                        time.sleep(0.5)
                page.wait_for_selector('section[data-model="churn"][data-state="red"]', timeout=WAIT_MS)
                # The canary's rollback (version 2) can turn the card red before version 1's drift.
                page.wait_for_selector('[data-heatmap="churn/1"] rect[data-drift="true"]', timeout=WAIT_MS)
                marked = page.eval_on_selector_all(
                    '[data-heatmap="churn/1"] rect[data-drift="true"]',
                    "cells => cells.map(c => [c.dataset.feature, Number(c.dataset.window)])",
                )
                # Beside the realised accuracy: the one estimated from the scores alone, with its band.
                chart = 'section[data-model="churn"] svg[data-performance="accuracy"]'
                estimates = int(page.get_attribute(chart, "data-estimates") or 0)
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "status-page-demo.png"), full_page=True)
            finally:
                browser.close()
    finally:
        out, _ = demo.communicate(timeout=300)
    assert demo.returncode == 0, out[-2000:]
    assert estimates > 0, "the demo's churn model has scores: its windows carry estimated accuracy"
    windows = {(feature, (start * 1000 - START_MS) // HOUR_MS + 1) for feature, start in marked}
    first, last = first_window_of("feature drift"), first_window_of("concept drift") - 1
    for feature in ("monthly_spend", "region"):
        drifted = {w for f, w in windows if f == feature}
        assert drifted and min(drifted) == first and drifted <= set(range(first, last + 1)), (
            feature,
            drifted,
        )


def test_status_page_of_a_scored_classifier_and_a_regressor(tmp_path: Path) -> None:
    """Both model kinds on one page: the regressor's card charts MAE against its reference, the
    classifier's accuracy; each heat map marks its drifted feature (churn: spend, price: area,
    from hour 4). Screenshot: test-artifacts/status-page-both-kinds.png."""
    from tests.unit import results_world as kinds

    service = kinds.service(kinds.config(tmp_path, api={"refresh_seconds": 0.5}))
    kinds.feed(service, range(8), 300, drift_from=4)
    service.evaluate(flush=True)
    server = ApiServer(service, "127.0.0.1", 0)
    try:
        with chromium_page(server.url + "/") as (_, page, errors):
            for model, metric in (("churn", "accuracy"), ("price", "mae")):
                chart = f'section[data-model="{model}"] svg[data-performance="{metric}"] circle'
                page.wait_for_selector(chart, timeout=WAIT_MS)
                assert page.locator(chart).count() == 8, model
                marked = page.eval_on_selector_all(
                    f'[data-heatmap="{model}/1"] rect[data-drift="true"]',
                    "cells => cells.map(c => [c.dataset.feature, Number(c.dataset.window)])",
                )
                hours = {
                    (start - kinds.START_S) // kinds.HOUR_S
                    for f, start in marked
                    if f == kinds.DRIFTED[model]
                }
                assert hours == set(range(4, 8)), (model, marked)
            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "status-page-both-kinds.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            assert errors == []
    finally:
        server.close()
