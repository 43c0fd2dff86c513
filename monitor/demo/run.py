"""`driftline demo`: a churn model meets feature drift, then concept drift, on a live stream.

Trains a scikit-learn model on generated customers, builds its baseline with the same code
as `driftline baseline build`, then replays a day of traffic (simulated time, hourly
windows) through the real service — decoder, dead letters, delayed-outcome join, windows,
scheduler-driven evaluation, /metrics — while outcomes arrive hours after their
predictions. Feature drift is injected first (inputs change), then concept drift (inputs
back to normal, but what drives churn changes). A live table shows each window; the
summary says when each drift was injected and when it was caught.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sklearn.pipeline import Pipeline

from consumers.runner import attach_sinks
from monitor.api.app import ApiServer
from monitor.baselines.baseline import Baseline, build_baseline
from monitor.baselines.store import BaselineStore
from monitor.config import DriftlineConfig, ModelConfig, load_config
from monitor.demo.alerts import DemoAlerts
from monitor.demo.data import (
    CATEGORICAL,
    NUMERIC,
    Canary,
    Event,
    World,
    customers,
    held_out,
    score,
    train_model,
    window_events,
)
from monitor.demo.feed import DirectFeed, Feed, KafkaFeed, local_broker
from monitor.evaluation.result_store import ResultStore
from monitor.evaluation.results import VersionComparison, WindowResult
from monitor.pipeline.counters import Counters
from monitor.pipeline.windows import ms_to_datetime
from monitor.service import Service
from monitor.sinks.dead_letters import JsonlDeadLetters

MODEL = "churn"
# The canary: version "2", trained without sessions_per_week (about 2.5 accuracy points worse, and
# still worse after the concept drift), serves a random 30 % of the traffic; the demo shows its
# verdict against version "1".
CANARY = "2"
CANARY_SHARE = 0.3
CANARY_LEAVES_OUT = ("sessions_per_week",)
HOUR_MS = 3_600_000
START_MS = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp() * 1000)
PHASES = [
    ("stationary", World(), 8),
    ("feature drift", World(feature_drift=True), 8),
    ("concept drift", World(concept_drift=True), 8),
]
BAD_MESSAGES = [
    b'{"prediction_id": "bad-1", "model": "churn"',  # truncated JSON
    b'{"prediction_id": "x", "model": "fraud", "model_version": "1", "timestamp": 0, '
    b'"features": {}, "prediction": 1}',  # unknown model
    b"\xff\xfe not json",  # not UTF-8
    b'{"prediction_id": "bad-2", "model": "churn", "model_version": "1", '
    b'"timestamp": "2026-01-05T01:00:00Z", "features": {"age": "forty"}, "prediction": 1}',  # wrong type
]


def write_config(workdir: Path, port: int, extra: dict[str, Any] | None = None, canary: bool = False) -> Path:
    """The demo's config; `canary`: with the canary's comparison (the docker-compose stack, whose
    producer sends version 1 only, shares the rest: tests/unit/test_compose.py)."""
    config: dict[str, Any] = {
        "models": [
            {
                "name": MODEL,
                "task": "classification",
                "features": [{"name": n, "kind": "numeric"} for n in NUMERIC]
                + [{"name": n, "kind": "categorical"} for n in CATEGORICAL],
                "prediction": "prediction",
                "score": "score",
                "target": "churned",
                "window": "1h",
                "allowed_lateness": "5m",
                "outcome_ttl": "12h",
                "comparison": {"baseline": "1", "candidates": [CANARY], "mode": "canary"} if canary else None,
            }
        ],
        "baselines": {"path": "baselines"},
        "sources": {"dead_letters": "dead-letters.jsonl"},
        "api": {"port": port, "refresh_seconds": 1},  # the status page follows the stream live
        "evaluation": {"interval": "1s"},
        **(extra or {}),  # alerts (monitor/demo/alerts.py)
    }
    path = workdir / "driftline.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class Detection:
    window: int | None = None  # 1-based window index where it was first seen
    false_alarms: int = 0


def phase_of(index: int) -> str:
    end = 0
    for name, _, count in PHASES:
        end += count
        if index <= end:
            return name
    return PHASES[-1][0]


def first_window_of(phase: str) -> int:
    start = 1
    for name, _, count in PHASES:
        if name == phase:
            return start
        start += count
    raise KeyError(phase)


def window_index(result: WindowResult) -> int:
    return int((result.window_start.timestamp() * 1000 - START_MS) // HOUR_MS) + 1


def render(
    results: list[WindowResult], reference_accuracy: float, canary: list[WindowResult] | None = None
) -> Table:
    """The table of version 1's windows; with `canary`, the canary's accuracy against version 1's in
    each window, and its verdict on the window where it took effect."""
    verdicts = {window_index(r): r.comparison for r in canary or [] if r.comparison is not None}
    changed = _verdict_window(canary or [])
    table = Table(
        "#",
        "hour",
        "phase",
        "rows",
        "drifted features",
        "share",
        "accuracy (pairs)",
        "est. acc",
        "alarms",
        f"canary v{CANARY}",
        title=f"churn v1 — reference accuracy {reference_accuracy:.3f}",
    )
    for r in results:
        i = window_index(r)
        perf = r.performance
        accuracy = perf.metrics.get("accuracy")
        acc_text = "-" if accuracy is None else f"{accuracy:.3f} ({perf.n_pairs:,})"
        if perf.degraded:
            acc_text = f"[red]{acc_text}[/]"
        estimate = None if r.estimated is None else r.estimated.metrics.get("accuracy")
        # Estimated from the scores alone, so it is there before any outcome: ± half its band.
        est_text = (
            "-" if estimate is None else f"{estimate.value:.3f} ±{(estimate.upper - estimate.lower) / 2:.3f}"
        )
        if r.estimated is not None and r.estimated.degraded:
            est_text = f"[red]{est_text}[/]"
        alarms = []
        if r.drift.drifted_features:
            alarms.append("[yellow]data[/]")
        if r.concept_drift:  # the window overlaps a concept-drift episode
            alarms.append("[red]concept[/]")
        if perf.degraded:
            alarms.append("[red]perf[/]")
        comparison = verdicts.get(i)
        verdict = "-"
        if comparison is not None and comparison.window.difference is not None:
            verdict = f"{comparison.window.difference:+.3f}"
        if changed is not None and changed[0] == i:
            verdict += f" [red]{changed[1]}[/]" if changed[1] == "rollback" else f" {changed[1]}"
        table.add_row(
            str(i),
            f"{r.window_start:%H:%M}",
            phase_of(i).split()[0],
            f"{r.drift.n_rows:,}",
            " ".join(r.drift.drifted_features) or "-",
            f"{r.drift.drift_share:.0%}",
            acc_text,
            est_text,
            " ".join(alarms) or "[green]ok[/]",
            verdict,
        )
    return table


def window_index_at(moment: datetime) -> int:
    return int((moment.timestamp() * 1000 - START_MS) // HOUR_MS) + 1


def generate(
    model: object,
    rows: int,
    rng: np.random.Generator,
    start_ms: int = START_MS,
    canary: Canary | None = None,
) -> list[Event]:
    """The demo's day (stationary, feature drift, concept drift) from `start_ms`, in arrival order;
    with `canary`, its share of each window's rows predicted by the canary version."""
    events: list[Event] = []
    index = 0
    for _, world, count in PHASES:
        for _ in range(count):
            events += window_events(
                model, world, index + 1, start_ms + index * HOUR_MS, HOUR_MS, rows, rng, canary=canary
            )
            index += 1
    bad_at = start_ms + HOUR_MS + HOUR_MS // 2
    events += [Event(bad_at, "predictions", m) for m in BAD_MESSAGES]
    events.sort(key=lambda e: e.arrival_ms)
    return events


def run_demo(
    workdir: Path,
    seed: int,
    console: Console,
    rows: int = 2000,
    speed: float = 3.0,
    port: int = 9108,
    kafka: bool = False,
    kafka_client: str | None = None,
) -> int:
    """Returns 0 when both drifts were caught where they were injected, with no false alarm."""
    workdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    demo_alerts = DemoAlerts(workdir, MODEL)  # a local signed-webhook receiver for alerts and retraining
    config = load_config(write_config(workdir, port, demo_alerts.config(), canary=True))
    model_cfg = config.model(MODEL)

    console.rule("[bold]driftline demo")
    train = customers(20_000, World(), rng)
    model = train_model(train)
    train["prediction"], train["score"] = score(model, train)
    train.to_csv(workdir / "train.csv", index=False)
    validation = held_out(model, seed)
    validation.to_csv(workdir / "held-out.csv", index=False)
    baseline = build_baseline(
        train,
        model_cfg,
        config.baselines,
        "1",
        "train.csv",
        datetime.now(UTC),
        performance=validation,
        performance_source="held-out.csv",
    )
    BaselineStore(config.baselines.path).save(baseline)
    reference = (baseline.reference_performance or {}).get("accuracy") or 0.0
    console.print(
        f"1. trained a churn model on {len(train):,} customers; baseline [cyan]{baseline.id}[/] "
        f"(reference accuracy {reference:.3f} on {len(validation):,} held-out customers) "
        f"in {workdir}/baselines"
    )
    canary, canary_baseline = _canary(train, validation, config, model_cfg)
    events = generate(model, rows, rng, canary=Canary(canary, CANARY_SHARE, np.random.default_rng([seed, 2])))
    console.print(
        f"2. streaming {len(events):,} events: {sum(c for *_, c in PHASES)} hourly windows of {rows:,} "
        f"predictions ({CANARY_SHARE:.0%} of them by canary v{CANARY}, trained without "
        f"{', '.join(CANARY_LEAVES_OUT)}); outcomes arrive ~2 h later (10% never); a few malformed messages"
    )

    service = Service(
        config,
        {(MODEL, "1"): baseline, (MODEL, CANARY): canary_baseline},
        JsonlDeadLetters(config.sources.dead_letters),
        ResultStore(history=100),
    )
    attach_sinks(service, config)
    try:
        metrics = ApiServer(service)
    except OSError:
        metrics = ApiServer(service, port=0)
    console.print(f"3. Prometheus metrics at [bold]{metrics.metrics_url}[/] while the demo runs")
    console.print(f"   status page (drift heat map, reports) at [bold]{metrics.url}/[/]")
    service.start_scheduler()
    try:
        with ExitStack() as stack:
            feed: Feed = DirectFeed(service)
            if kafka:
                bootstrap = stack.enter_context(local_broker(workdir / "kafka"))
                feed = KafkaFeed(service, bootstrap, workdir / "demo-state", kafka_client)
                stack.callback(feed.close)
                console.print(
                    f"   through Kafka at {bootstrap} ({feed.source.config.client}): topics predictions "
                    "and outcomes, state in RocksDB"
                )
            _stream(feed, service, events, console, reference, speed)
            feed.drain(len(events))
            service.evaluate(flush=True)
            counters = service.counters  # before a Kafka feed hands its partitions back
            demo_alerts.snapshot = service.alert_snapshot()
            service.stop_scheduler()
            service.close_sinks()  # the alert engine delivers what is pending, before the feed closes
    finally:
        service.stop_scheduler()
        service.close_sinks()
        service.dead_letters.close()
        metrics.close()
        demo_alerts.close()
    results = service.results.windows(MODEL, "1")
    canary_results = service.results.windows(MODEL, CANARY)
    console.print(render(results, reference, canary_results))
    return _summary(service, counters, results, console, demo_alerts, canary_results)


def _canary(
    train: pd.DataFrame, validation: pd.DataFrame, config: DriftlineConfig, model_cfg: ModelConfig
) -> tuple[Pipeline, Baseline]:
    """The canary version's model, trained on the same customers, and its own baseline."""
    canary = train_model(train, leave_out=CANARY_LEAVES_OUT)
    frame, held = train.copy(), validation.copy()
    frame["prediction"], frame["score"] = score(canary, frame)
    held["prediction"], held["score"] = score(canary, held)
    built = build_baseline(
        frame,
        model_cfg,
        config.baselines,
        CANARY,
        "train.csv",
        datetime.now(UTC),
        performance=held,
        performance_source="held-out.csv",
    )
    BaselineStore(config.baselines.path).save(built)
    return canary, built


def _stream(
    feed: Feed, service: Service, events: list[Event], console: Console, reference: float, speed: float
) -> None:
    """Feed events in arrival order, ~10 simulated minutes per batch, `speed` simulated hours per second."""
    progress = Progress(
        TextColumn("streaming"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=console,
    )
    task = progress.add_task("", total=len(events))
    step_ms = HOUR_MS // 6
    arrivals = np.fromiter((e.arrival_ms for e in events), np.int64, len(events))
    stop = threading.Event()
    with Live(Group(progress), console=console, refresh_per_second=8, transient=False) as live:
        done, t0 = 0, time.monotonic()
        cursor = START_MS
        while done < len(events) and not stop.is_set():
            cursor += step_ms
            upto = int(np.searchsorted(arrivals, cursor, side="left"))
            feed.send(events[done:upto])
            done = upto
            progress.update(
                task,
                completed=done,
                description=f"simulated {datetime.fromtimestamp(cursor / 1000, UTC):%m-%d %H:%M}",
            )
            shown = service.results.windows(MODEL, "1")[-6:]
            live.update(Group(progress, render(shown, reference, service.results.windows(MODEL, CANARY))))
            time.sleep(max(0.0, (cursor - START_MS) / HOUR_MS / speed - (time.monotonic() - t0)))


def _summary(
    service: Service,
    counters: Counters,
    results: list[WindowResult],
    console: Console,
    demo_alerts: DemoAlerts | None = None,
    canary: list[WindowResult] | None = None,
) -> int:
    feature, performance = Detection(), Detection()
    f_at, c_at = first_window_of("feature drift"), first_window_of("concept drift")
    concept = Detection()
    for episode in service.evaluator.concept.episodes(MODEL, "1"):
        i = window_index_at(ms_to_datetime(episode.start))
        if i < c_at:
            concept.false_alarms += 1
        elif concept.window is None:
            concept.window = i
    for r in results:
        i = window_index(r)
        if r.drift.drifted_features:
            if i < first_window_of("feature drift"):
                feature.false_alarms += 1
            elif feature.window is None:
                feature.window = i
        if r.performance.degraded:
            if i < first_window_of("concept drift"):
                performance.false_alarms += 1
            elif performance.window is None:
                performance.window = i
    console.rule("[bold]summary")
    console.print(
        f"events: {counters.total('predictions'):,} predictions, {counters.total('outcomes'):,} outcomes, "
        f"{counters.total('joined'):,} joined, {counters.total('expired_predictions'):,} expired, "
        f"{counters.total('rejected')} rejected (see {service.config.sources.dead_letters})"
    )
    console.print(f"feature drift injected at window {f_at}: " + _said(feature.window, f_at))
    console.print(
        f"concept drift injected at window {c_at}: error-stream detector "
        + _said(concept.window, c_at)
        + f"; performance below reference {_said(performance.window, c_at)}"
    )
    if canary:
        console.print(_canary_line(canary))
    false_alarms = feature.false_alarms + performance.false_alarms + concept.false_alarms
    if false_alarms:
        console.print(f"[red]{false_alarms} false alarm(s) before the drift they belong to[/]")
    ok = feature.window == f_at and concept.window is not None and not false_alarms
    if demo_alerts is not None:
        lines, alerts_ok = demo_alerts.summary(window_index_at, f_at)
        for line in lines:
            console.print(line)
        ok = ok and alerts_ok
    console.print(
        "[bold green]both drifts caught[/]" if ok else "[bold red]detection did not go as expected[/]"
    )
    return 0 if ok else 1


def _latest_comparison(canary: list[WindowResult]) -> VersionComparison | None:
    """The comparison of the canary window evaluated last: the verdict as it stands."""
    compared = [r for r in canary if r.comparison is not None]
    last = max(compared, key=lambda r: (r.evaluated_at, r.window_start), default=None)
    return None if last is None else last.comparison


def _verdict_window(canary: list[WindowResult]) -> tuple[int, str] | None:
    """(window index, verdict) of the canary's latest verdict change: the newest window it counted."""
    latest = _latest_comparison(canary)
    if latest is None or latest.verdict_window_start is None:
        return None
    return window_index_at(latest.verdict_window_start), latest.verdict


def _canary_line(canary: list[WindowResult]) -> str:
    """The canary's verdict at the end, since which window, and its evidence."""
    last = _latest_comparison(canary)
    if last is None:
        return f"canary v{CANARY}: no comparison evaluated"
    changed = _verdict_window(canary)
    total = last.cumulative
    since = "" if changed is None else f" since window {changed[0]}"
    return (
        f"canary v{CANARY} ({CANARY_SHARE:.0%} of the traffic) against v1: {last.verdict}{since}; "
        f"accuracy {total.metric_b or 0:.3f} vs {total.metric_a or 0:.3f} over "
        f"{total.n_b:,} + {total.n_a:,} joined outcomes"
    )


def _said(window: int | None, injected: int) -> str:
    if window is None:
        return "[red]not detected[/]"
    return f"detected in window {window}" + ("" if window == injected else f" ({window - injected} later)")
