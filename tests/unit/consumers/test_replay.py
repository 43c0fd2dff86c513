"""`driftline replay`: a history with a known change point through the service in event time; what
it reports, what the dry-run alerts would have sent, and the file shapes it reads."""

from __future__ import annotations

import itertools
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from alerts.dry_run import DryRunAlerts
from consumers.replay.backtest import EventClock, replay
from consumers.replay.columnar import outcome_message, prediction_message
from consumers.replay.history import ColumnOptions, batch_bounds, read_history
from monitor.baselines.store import BaselineStore
from monitor.cli import app
from monitor.errors import DataError
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from tests.unit.consumers import replay_world as world

ALERTS = {"alerts": {"receivers": [{"name": "ops-log", "kind": "log"}]}}
SHIFT = 4  # the hour income shifts from


def _replay(
    tmp_path: Path, name: str, model: str, task: str, **extra: Any
) -> tuple[Service, Any, DryRunAlerts]:
    cfg = world.config(tmp_path, **ALERTS)
    clock = EventClock()
    service = Service(cfg, world.baselines(cfg), MemoryDeadLetters(), clock=clock)
    alerts = DryRunAlerts(service)
    service.sinks.append(alerts)
    frame = world.history(task, hours=8, per_hour=1000, shift_from=SHIFT)
    path = tmp_path / name
    frame.to_parquet(path) if name.endswith(".parquet") else frame.to_csv(path, index=False)
    history = read_history(
        path, cfg, ColumnOptions(model=model, only_version="1", **extra), lambda d, t: None
    )
    summary = replay(service, clock, history, 500, alerts)
    return service, summary, alerts


@pytest.mark.parametrize(("task", "model"), [("classification", "clf"), ("regression", "reg")])
def test_the_shift_is_found_where_it_was_injected(
    tmp_path: Path, task: str, model: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="driftline.alerts"):
        _, summary, _ = _replay(tmp_path, "h.csv", model, task)
    assert summary.counters["predictions"] == 8000 and summary.counters["joined"] == 8000
    assert summary.counters["late_predictions"] == 0  # the shuffled export was put in event order
    drifted = ["income" in r.drift.drifted_features for r in summary.results]
    assert drifted == [False] * SHIFT + [True] * (8 - SHIFT)
    assert summary.first == world.START + timedelta(seconds=summary.first.second)  # within the first minute
    assert summary.last is not None and summary.last >= world.START + timedelta(hours=8)
    # The income alert fired once, at the event time its window was evaluated (its close), and the
    # log receiver would have been told; nothing was sent (the log receiver logs when it sends).
    fired = [
        a
        for a in summary.alerts
        if a["document"]["rule"] == "feature_drift" and a["document"]["subject"] == "income"
    ]
    assert [a["document"]["status"] for a in fired] == ["firing"]
    window_end = world.START + timedelta(hours=SHIFT + 1)
    assert window_end + timedelta(minutes=1) <= fired[0]["at"] < window_end + timedelta(hours=1)
    assert summary.deliveries["ops-log"] >= 1
    assert not [r for r in caplog.records if r.getMessage().startswith("alert ")]
    if task == "classification":
        assert all(r.performance.metrics["roc_auc"] is not None for r in summary.results)
    else:
        assert all(r.performance.metrics["mae"] > 0 for r in summary.results)


def test_a_jsonl_history_of_the_same_events_gives_the_same_results(tmp_path: Path) -> None:
    _, columnar, _ = _replay(tmp_path, "h.parquet", "clf", "classification")
    cfg = world.config(tmp_path, **ALERTS)
    history = read_history(tmp_path / "h.parquet", cfg, ColumnOptions(model="clf", only_version="1"), print)
    frame, names = history.frame, history.names
    lines = [prediction_message(r, cfg.model("clf"), names) for r in frame.to_dict("records")]
    lines += [outcome_message(r, cfg.model("clf"), names) for r in frame.to_dict("records")]
    rng = np.random.default_rng(0)
    (tmp_path / "h.jsonl").write_bytes(b"\n".join(rng.permutation(np.array(lines, dtype=object)).tolist()))
    clock = EventClock()
    service = Service(cfg, world.baselines(cfg), MemoryDeadLetters(), clock=clock)
    jsonl = read_history(tmp_path / "h.jsonl", cfg, ColumnOptions(), print)
    summary = replay(service, clock, jsonl, 500)
    assert summary.counters == columnar.counters
    assert [r.drift.drifted_features for r in summary.results] == [
        r.drift.drifted_features for r in columnar.results
    ]
    assert [r.performance.n_pairs for r in summary.results] == [
        r.performance.n_pairs for r in columnar.results
    ]


@pytest.mark.parametrize(
    ("change", "options", "words"),
    [
        (lambda f: f.drop(columns=["prediction_id"]), {}, "no column 'prediction_id' (--id)"),
        (lambda f: f.drop(columns=["prediction"]), {}, "the prediction column of model 'clf'"),
        (
            lambda f: f.assign(timestamp=pd.to_datetime(f["timestamp"]).dt.tz_localize(None)),
            {},
            "without a time zone",
        ),
        (lambda f: f, {"only_version": None}, "pass --version"),
        (lambda f: f, {"model": None}, "pass --model"),
        (lambda f: f, {"outcome": "truth"}, "no column 'truth' (--outcome)"),
    ],
)
def test_a_history_it_cannot_read_is_refused_clearly(
    tmp_path: Path, change: Any, options: dict[str, Any], words: str
) -> None:
    cfg = world.config(tmp_path)
    frame = change(world.history("classification", hours=1, per_hour=10))
    frame.to_parquet(tmp_path / "h.parquet")
    opts = {"model": "clf", "only_version": "1", **options}
    with pytest.raises(DataError, match=words.replace("(", r"\(").replace(")", r"\)")):
        read_history(tmp_path / "h.parquet", cfg, ColumnOptions(**opts), print)


def test_the_command_prints_what_would_have_fired(tmp_path: Path) -> None:
    cfg = world.config(tmp_path)
    store = BaselineStore(tmp_path / "baselines")
    for baseline in world.baselines(cfg).values():
        store.save(baseline)
    data = yaml.safe_load(yaml.safe_dump(cfg.model_dump(mode="json")))
    data["baselines"]["path"] = "baselines"
    data["sources"] = {"dead_letters": "dead.jsonl"}
    data.update(ALERTS)
    config = tmp_path / "driftline.yaml"
    config.write_text(yaml.safe_dump(data))
    frame = world.history("regression", hours=6, per_hour=1000, shift_from=3)
    frame.loc[0, "prediction"] = np.nan  # one bad row: dead-lettered beside the configured file
    frame.to_csv(tmp_path / "history.csv", index=False)
    args = ["replay", "-c", str(config), "-d", str(tmp_path / "history.csv"), "-m", "reg"]
    shown = CliRunner().invoke(app, args, terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "alerts that would have fired" in shown.output and "feature_drift" in shown.output
    assert "income" in shown.output and "missing_field 1" in shown.output
    assert len((tmp_path / "replay-dead.jsonl").read_text().splitlines()) == 1
    as_json = CliRunner().invoke(app, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    found = json.loads(as_json.stdout)
    assert found["counters"]["predictions"] == 5999 and found["rejected_by_reason"] == {"missing_field": 1}
    assert [w["window_start"][11:13] for w in found["windows"] if "income" in w["drifted_features"]] == [
        "03",
        "04",
        "05",
    ]
    assert {a["rule"] for a in found["alerts"]} >= {"feature_drift"}
    quiet = CliRunner().invoke(app, [*args, "--no-alerts", "--json"])
    assert json.loads(quiet.stdout)["alerts"] == []


@given(
    st.lists(st.tuples(st.integers(-1, 20_000), st.booleans()), max_size=200),
    st.integers(1, 50),
)
def test_batches_cover_everything_and_end_where_a_window_closes(events: list[Any], size: int) -> None:
    """Bounds tile the events in order, hold at most `size`, and the first prediction that enters
    a new close period (window 1 s, lateness 100 ms here) starts a batch that the next prediction,
    the one that moves the watermark past the close, ends."""
    model = (
        world.config(Path("."), **{})
        .model("clf")
        .model_copy(update={"window": timedelta(seconds=1), "allowed_lateness": timedelta(milliseconds=100)})
    )
    times = np.sort(np.array([t for t, _ in events], dtype=np.int64))
    predictions = np.array([p for _, p in events], dtype=bool)
    bounds = list(batch_bounds(times, predictions, size, model))
    assert [b for b in bounds if b[0] >= b[1]] == []
    assert [s for s, _ in bounds] == ([0, *[e for _, e in bounds[:-1]]] if bounds else [])
    assert (bounds[-1][1] if bounds else 0) == len(times)
    assert all(e - s <= size for s, e in bounds)
    starts, ends = {s for s, _ in bounds}, {e for _, e in bounds}
    period = (times - 100) // 1000
    at = np.flatnonzero(predictions).tolist()
    for i, j in itertools.pairwise(at):
        if period[j] != period[i]:
            assert j in starts, f"prediction {j} enters a new close period but starts no batch"
            after = at[at.index(j) + 1] if at.index(j) + 1 < len(at) else None
            assert after is None or after + 1 in ends, f"prediction {after} closes a window, ends no batch"


def test_a_gap_in_the_history_fires_no_data_when_events_resume(tmp_path: Path) -> None:
    """Staleness in event time: four hours without predictions is seen when the next arrives
    (the default no_data rule: over 2 h), and resolves once predictions flow again."""
    cfg = world.config(tmp_path, **ALERTS)
    clock = EventClock()
    service = Service(cfg, world.baselines(cfg), MemoryDeadLetters(), clock=clock)
    alerts = DryRunAlerts(service)
    service.sinks.append(alerts)
    frame = world.history("classification", hours=10, per_hour=200)
    hours = pd.to_datetime(frame["timestamp"]).dt.hour
    frame = frame[(hours < 3) | (hours >= 7)]
    frame.to_csv(tmp_path / "h.csv", index=False)
    history = read_history(tmp_path / "h.csv", cfg, ColumnOptions(model="clf", only_version="1"), print)
    summary = replay(service, clock, history, 10_000, alerts)
    stale = [
        a for a in summary.alerts if a["document"]["rule"] == "no_data" and a["document"]["model"] == "clf"
    ]
    assert [a["document"]["status"] for a in stale] == ["firing", "resolved"]
    assert world.START + timedelta(hours=7) <= stale[0]["at"] < world.START + timedelta(hours=7, minutes=1)
    # Arrivals are noted after each batch: the batch before the gap ends with outcomes at 03:30.
    assert 3.5 * 3600 <= stale[0]["document"]["value"] <= 4 * 3600
    assert stale[1]["at"] < world.START + timedelta(hours=8)
