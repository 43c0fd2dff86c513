"""The offline commands on a state store written by a finite `driftline run` (a real process):
the run prints its windows, and `driftline windows`, `show` and `report` read them with no
service running, for a classifier with scores (churn) and a regressor (price)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from monitor.cli import app
from tests.unit import results_world as world
from tests.unit.api.test_reports import evidently_verdicts

pytestmark = pytest.mark.integration
HOURS = 6


def window_of(hour: int) -> str:
    return str(world.START_S + hour * world.HOUR_S)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Six hours of both models (drift from hour 3) read from a file by `driftline run` to its end."""
    folder = tmp_path_factory.mktemp("finite")
    (folder / "in").mkdir()
    (folder / "in" / "events.jsonl").write_bytes(
        b"\n".join(world.event_lines(HOURS, 300, drift_from=3)) + b"\n"
    )
    config = world.write_config(
        folder,
        sources={"inputs": [{"kind": "file", "path": "in/events.jsonl"}], "dead_letters": "dead.jsonl"},
        api={"port": 0, "report_windows": 3},
        evaluation={"interval": "200ms"},
    )
    done = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return config, done


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def rows_of(output: str, model: str) -> list[list[str]]:
    """The cells of each row of a model's windows table."""
    table = output[output.index(f"{model} version 1:") :]
    table = table[: table.index("└")]  # the table's bottom edge
    return [[c.strip() for c in line.split("│")[1:-1]] for line in table.splitlines() if line.startswith("│")]


def test_a_finite_run_prints_every_evaluated_window(finished: tuple[Path, Any]) -> None:
    _, done = finished
    assert "12 windows evaluated" in done.stderr
    churn, price = rows_of(done.stdout, "churn"), rows_of(done.stdout, "price")
    assert [r[0] for r in churn] == [r[0] for r in price] == [window_of(h) for h in range(HOURS)]
    assert [("spend" in r[3]) for r in churn] == [False, False, False, True, True, True]
    assert [("area" in r[3]) for r in price] == [False, False, False, True, True, True]
    assert all(r[6].startswith("accuracy ") and r[6].endswith("(300)") for r in churn)
    assert (
        all(r[6].startswith("mae ") for r in price)
        and [("degraded" in r[6]) for r in price][3:] == [True] * 3
    )


def test_windows_lists_what_the_run_stored(finished: tuple[Path, Any]) -> None:
    config, done = finished
    table = cli("windows", "--config", str(config))
    assert table.exit_code == 0, table.output
    assert rows_of(table.output, "churn") == rows_of(done.stdout, "churn")
    assert rows_of(table.output, "price") == rows_of(done.stdout, "price")
    listed = cli("windows", "--config", str(config), "--json")
    streams = orjson.loads(listed.output)["streams"]
    assert [(s["model"], s["model_version"], len(s["windows"])) for s in streams] == [
        ("churn", "1", HOURS),
        ("price", "1", HOURS),
    ]
    newest = cli("windows", "-c", str(config), "-m", "price", "-v", "1", "--limit", "2", "--json")
    (only,) = orjson.loads(newest.output)["streams"]
    assert only["windows"] == streams[1]["windows"][-2:]
    assert (
        "the newest 2 of 6 evaluated windows"
        in cli("windows", "-c", str(config), "-m", "price", "--limit", "2").output
    )


@pytest.mark.parametrize(
    ("model", "drifted", "metric"), [("churn", "spend", "roc_auc"), ("price", "area", "r2")]
)
def test_show_gives_one_window_in_detail(
    finished: tuple[Path, Any], model: str, drifted: str, metric: str
) -> None:
    config, _ = finished
    listed = orjson.loads(cli("windows", "-c", str(config), "-m", model, "--json").output)["streams"][0][
        "windows"
    ]
    as_json = cli("show", "-c", str(config), "-m", model, "-w", window_of(4), "--json")
    assert as_json.exit_code == 0, as_json.output
    assert orjson.loads(as_json.output) == listed[4]
    latest = cli("show", "-c", str(config), "-m", model, "--json")
    assert orjson.loads(latest.output) == listed[-1]
    shown = cli("show", "-c", str(config), "-m", model, "-w", window_of(4))
    lines = shown.output.splitlines()
    row = next(line for line in lines if line.startswith(f"│ {drifted} "))
    cells = [c.strip() for c in row.split("│")[1:-1]]
    document = next(f for f in listed[4]["drift"]["features"] if f["column"] == drifted)
    assert cells[2] == document["method"] and cells[5] == "yes" and cells[7:9] == ["4,000", "300"]
    assert any(line.startswith(f"│ {metric} ") for line in lines)
    assert "performance of 300 joined pairs" in shown.output


@pytest.mark.parametrize("model", world.MODELS)
def test_report_is_rendered_from_the_stored_sample(
    finished: tuple[Path, Any], model: str, tmp_path: Path
) -> None:
    config, _ = finished
    out = tmp_path / f"{model}.html"
    done = cli("report", "-c", str(config), "-m", model, "-w", "latest", "-o", str(out))
    assert done.exit_code == 0, done.output
    assert f"window {window_of(HOURS - 1)}" in done.output
    page = out.read_text()
    assert "driftline-banner" in page and "300 of the window's 300 rows" in page
    verdicts = evidently_verdicts(page)
    assert verdicts[world.DRIFTED[model]] is True
    old = cli("report", "-c", str(config), "-m", model, "-w", window_of(0), "-o", str(tmp_path / "old.html"))
    assert old.exit_code == 2 and "has no row sample stored" in old.output and "(3)" in old.output
    assert not (tmp_path / "old.html").exists()


def errors(*args: str) -> str:
    done = cli(*args)
    assert done.exit_code == 2, done.output
    assert "Traceback" not in done.output
    return " ".join(done.output.split())


def test_errors_say_what_is_stored(finished: tuple[Path, Any], tmp_path: Path) -> None:
    config, _ = finished
    c: Sequence[str] = ("-c", str(config))
    assert "it holds: churn (version 1); price (version 1)" in errors("windows", *c, "-m", "fraud")
    assert "stored versions: 1" in errors("show", *c, "-m", "churn", "-v", "7")
    missing = errors("show", *c, "-m", "price", "-w", "12")
    assert "no stored window '12'" in missing and window_of(HOURS - 1) in missing
    assert "unknown model 'fraud'; the config defines: churn, price" in errors(
        "report", *c, "-m", "fraud", "-w", "latest", "-o", str(tmp_path / "r.html")
    )
    assert "pass --config" in errors("report", "-m", "churn", "-w", "latest", "-o", str(tmp_path / "r.html"))
    elsewhere = tmp_path / "driftline.yaml"
    elsewhere.write_text(config.read_text())  # same config, in a folder where nothing ran
    assert "no state database at" in errors("windows", "-c", str(elsewhere))
    assert not (tmp_path / "state.db").exists()
