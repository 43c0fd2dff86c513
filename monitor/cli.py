"""The `driftline` command line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from alerts.cli import alerts_app
from monitor.baselines.baseline import build_baseline
from monitor.baselines.reference_data import read_reference, reference_columns
from monitor.baselines.reference_performance import IN_SAMPLE_INFLATED, IN_SAMPLE_WARNING
from monitor.baselines.store import BaselineStore
from monitor.baselines.view import render_baseline
from monitor.config import load_config
from monitor.errors import DriftlineError
from monitor.evaluation.result_json import window_document, window_id

if TYPE_CHECKING:
    from monitor.service import Service

# Plain click help (no rich panels): paragraphs are re-flowed to the terminal instead of keeping
# the docstrings' line breaks, and boolean options show as switches without a type.
HELP_SETTINGS: dict[str, Any] = {
    "rich_markup_mode": None,
    "context_settings": {"max_content_width": 120, "help_option_names": ["--help", "-h"]},
}
app = typer.Typer(
    help="driftline: model monitoring and drift detection against versioned training baselines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    **HELP_SETTINGS,
)
baseline_app = typer.Typer(
    help="Build and inspect baselines (summaries of a model's training data).", **HELP_SETTINGS
)
app.add_typer(baseline_app, name="baseline")
app.add_typer(alerts_app, name="alerts")  # driftline alerts test (alerts/cli.py)

console = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="driftline YAML config file.")]
ModelOption = Annotated[str, typer.Option("--model", "-m", help="Model name, as in the config.")]


def fail(err: Exception) -> None:
    console.print(f"[bold red]error:[/] {err}")
    raise typer.Exit(2)


@baseline_app.command("build")
def baseline_build(
    config: ConfigOption,
    model: ModelOption,
    data: Annotated[Path, typer.Option("--data", "-d", help="Reference data: a .csv or .parquet file.")],
    version: Annotated[str, typer.Option("--version", "-v", help="Model version the baseline is for.")] = "1",
    activate: Annotated[bool, typer.Option(help="Make it the active baseline of that version.")] = True,
    performance_data: Annotated[
        Path | None,
        typer.Option(
            "--performance-data",
            "-p",
            help="Held-out rows (.csv or .parquet) with the model's prediction, score and the target: "
            "the reference performance is measured on them. Without it, it is measured on --data "
            "(in-sample) and inflated by a margin.",
        ),
    ] = None,
    no_target: Annotated[
        bool,
        typer.Option(
            "--no-target",
            help="Build without the target column the config names, on purpose (no target drift; no "
            "reference performance unless --performance-data gives it).",
        ),
    ] = False,
) -> None:
    """Summarise reference data into a content-hashed baseline for MODEL at VERSION.

    Keeps per-feature quantile bins with counts and value sums, category frequencies,
    moments, missing counts, a seeded row sample, prediction/target distributions and
    the reference performance that the concept-drift detector and the "performance
    degraded" flag compare production with. Measure it on held-out rows
    (--performance-data): on the training data a model looks better than it will in
    production, so without them the training data's performance is inflated by a
    documented margin (25 % more error, +0.01 for ratios) and a warning says so.
    """
    try:
        cfg = load_config(config)
        model_cfg = cfg.model(model)
        frame = _read(data, reference_columns(model_cfg))
        held_out = None
        if performance_data is not None:
            wanted = [c for c in (model_cfg.prediction, model_cfg.score, model_cfg.target) if c]
            if model_cfg.task == "regression":  # the loss estimator learns from the features
                wanted += [f.name for f in model_cfg.features]
            held_out = _read(performance_data, wanted)
        baseline = build_baseline(
            frame,
            model_cfg,
            cfg.baselines,
            version,
            data.name,
            datetime.now(UTC),
            performance=held_out,
            performance_source="" if performance_data is None else performance_data.name,
            require_target=not no_target,
        )
        path = BaselineStore(cfg.baselines.path).save(baseline, activate=activate)
    except DriftlineError as err:
        fail(err)
    origin = baseline.reference_origin or {}
    if origin.get("method") == IN_SAMPLE_INFLATED:
        console.print(
            "[bold yellow]warning:[/] "
            + IN_SAMPLE_WARNING.format(margin=origin["margin"], floor=origin["floor"])
        )
    elif baseline.reference_performance is None:
        console.print(
            "[yellow]no reference performance[/] (no target): the concept-drift detector will estimate "
            "the model's error from the first outcomes it sees"
        )
    note = baseline.estimator_note
    console.print(
        f"performance estimate without labels: {note}"
        if baseline.estimator is not None
        else f"[yellow]no performance estimate without labels[/]: {note}"
    )
    segments = baseline.segment_profiles
    if segments is not None:
        console.print(
            f"drift per segment: {len(segments.segment_map.segments)} segments kept, the rest as "
            f"{segments.segment_map.labels[-1]}"
        )
    console.print(
        f"baseline [bold]{baseline.id}[/] for {model} v{version}: {baseline.n_rows:,} rows → {path}"
    )
    typer.echo(baseline.id)


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    with Progress(
        TextColumn("reading {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(path.name, total=None)
        return read_reference(
            path, columns, lambda done, total: bar.update(task, completed=done, total=total)
        )


@baseline_app.command("show")
def baseline_show(
    config: ConfigOption,
    model: ModelOption,
    version: Annotated[str, typer.Option("--version", "-v", help="Model version.")] = "1",
    baseline_id: Annotated[
        str | None, typer.Option("--id", help="A baseline id (default: the active one).")
    ] = None,
) -> None:
    """Print a baseline readably: features, distributions, reference performance."""
    try:
        cfg = load_config(config)
        cfg.model(model)
        baseline = BaselineStore(cfg.baselines.path).load(model, version, baseline_id)
    except DriftlineError as err:
        fail(err)
    Console().print(render_baseline(baseline))


@app.command()
def init(
    data: Annotated[Path, typer.Option("--data", "-d", help="Training data: a .csv or .parquet file.")],
    prediction: Annotated[
        str, typer.Option("--prediction", "-p", help="Column with the model's output on that data.")
    ] = "prediction",
    target: Annotated[
        str | None, typer.Option("--target", "-t", help="Column with the ground truth, if any.")
    ] = None,
    score: Annotated[
        str | None,
        typer.Option("--score", "-s", help="Column with the positive class's probability, if any."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model name (default: from the file's name).")
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(help="classification or regression (default: inferred from the target or prediction)."),
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", "-x", help="A column that is not a feature (repeatable).")
    ] = None,
    config: Annotated[Path, typer.Option("--config", "-c", help="Where to write the config.")] = Path(
        "driftline.yaml"
    ),
    version: Annotated[str, typer.Option("--version", "-v", help="Model version of the baseline.")] = "1",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing config.")] = False,
) -> None:
    """Write a commented config for a model from its training file, and build its baseline.

    Every column but the prediction, score and target is a candidate feature; its kind is
    inferred by a stated rule (Evidently's), printed with each decision, and written beside it in
    the config, with default alert rules, a state database, a directory source and the HTTP API.
    Edit the config afterwards rather than typing it. An existing config is kept unless --force.
    """
    from monitor.init.command import InitRequest, write_config

    if task not in (None, "classification", "regression"):
        fail(DriftlineError(f"--task must be classification or regression, not {task!r}"))
    request = InitRequest(
        data=data,
        config=config,
        model=model,
        prediction=prediction,
        score=score,
        target=target,
        task=task,  # type: ignore[arg-type]  # checked above
        exclude=tuple(exclude or ()),
        force=force,
    )
    try:
        choices = write_config(request, datetime.now(UTC), console)
    except DriftlineError as err:
        fail(err)
    console.print(f"wrote {config}")
    baseline_build(config=config, model=choices.model, data=data, version=version, activate=True)
    console.print(
        "next:\n"
        f"  edit {config} (feature kinds, window, alert receivers), then\n"
        f"  driftline baseline show -c {config} -m {choices.model} -v {version}\n"
        f"  driftline replay -c {config} --data HISTORY   # what it would have said on past predictions\n"
        f"  driftline run -c {config}   # then log events with driftline.client, or as JSON lines in events/",
        soft_wrap=True,
    )


@app.command()
def run(config: ConfigOption) -> None:
    """Run the service: read the configured sources, evaluate windows, serve the status page,
    the HTTP API and /metrics.

    Stops cleanly on SIGINT/SIGTERM after finishing the batch in hand. With only finite
    sources (files, a directory with follow: false, piped stdin) it stops at their end,
    evaluating every window, including the last partial one.
    """
    import logging
    import os
    import threading

    from consumers.runner import attach_sinks, build_sources, run_embedded, run_kafka, stop_on_signals
    from monitor.api.app import ApiServer
    from monitor.gc_tuning import streaming_collector
    from monitor.service import Service, load_baselines
    from monitor.sinks.dead_letters import JsonlDeadLetters

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        cfg = load_config(config)
        baselines = load_baselines(cfg, required=not cfg.api.enabled)
        if not baselines:  # the API is on: a baseline can come through it
            console.print(
                f"[yellow]no baselines yet[/] under {cfg.baselines.path}: predictions are dead-lettered "
                "(unknown_version) until one is uploaded (POST /api/v1/models/{model}/baselines) or "
                "built with `driftline baseline build` (then restart); /readyz says not ready until then"
            )
        service = Service(cfg, baselines, JsonlDeadLetters(cfg.sources.dead_letters))
        sources = build_sources(cfg)
        attach_sinks(service, cfg)
    except DriftlineError as err:
        fail(err)
    if not sources and cfg.sources.kafka is None:
        fail(DriftlineError(f"{config}: no sources: set sources.inputs or sources.kafka"))
    stop = threading.Event()

    def _note_signal(signum: int) -> None:
        # os.write, not the console: a handler that prints through rich while the main thread
        # is printing raises "reentrant call" inside that print.
        os.write(2, f"signal {signum}: finishing the current batch\n".encode())

    stop_on_signals(stop, _note_signal)
    metrics = None
    service.expect_state()  # the runners restore the checkpoint after the API has started
    if cfg.api.enabled:
        metrics = ApiServer(service)
        console.print(f"serving {metrics.url}/ (status page), /api/v1, /docs and {metrics.metrics_url}")
    service.start_scheduler()
    try:
        with streaming_collector():
            if cfg.sources.kafka is not None:
                counters = run_kafka(service, cfg, stop)
                scope = "group totals from the state store: "
            else:
                run_embedded(service, cfg, sources, stop)
                counters, scope = service.counters, ""
    finally:
        service.stop_scheduler()
        service.close_sinks()
        service.dead_letters.close()
        if metrics:
            metrics.close()
    if not stop.is_set():  # the input ended by itself: show what came of it
        print_windows(service)
    console.print(
        f"done ({scope}{counters.total('predictions'):,} predictions, "
        f"{counters.total('outcomes'):,} outcomes, "
        f"{counters.total('joined'):,} joined, {counters.total('rejected'):,} rejected, "
        f"{sum(len(service.results.windows(*s)) for s in service.results.streams())} windows evaluated)",
        soft_wrap=True,
    )


def table_console(soft_wrap: bool = False) -> Console:
    """Standard output for tables: as wide as the terminal, or 200 columns into a pipe or file (rich
    would wrap a wide table into 80)."""
    out = Console(soft_wrap=soft_wrap)
    return out if out.is_terminal else Console(width=200, soft_wrap=soft_wrap)


def print_windows(service: Service, limit: int = 48) -> None:
    """The evaluated windows in memory as `driftline windows` shows them, newest `limit` per version."""
    from monitor.evaluation.result_view import windows_table

    out = table_console()
    for model, version in service.results.streams():
        results = service.results.windows(model, version)
        out.print(windows_table(model, version, results[-limit:], stored=len(results)))


@app.command()
def replay(
    config: ConfigOption,
    data: Annotated[
        Path,
        typer.Option(
            "--data", "-d", help="History: .csv, .parquet (one row per prediction) or .jsonl (messages)."
        ),
    ],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model of a columnar file (default: the only one).")
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(
            "--version",
            "-v",
            help="Model version, if the file has no model_version column (default: the only one).",
        ),
    ] = None,
    id_column: Annotated[str, typer.Option("--id", help="Column with the prediction ids.")] = "prediction_id",
    timestamp: Annotated[str, typer.Option(help="Column with the prediction times.")] = "timestamp",
    outcome: Annotated[
        str | None, typer.Option(help="Column with the outcomes (default: outcome, else the model's target).")
    ] = None,
    outcome_timestamp: Annotated[
        str, typer.Option(help="Column with the times the outcomes were known (default: at the prediction).")
    ] = "outcome_timestamp",
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Events per batch (default: sources.batch_size).")
    ] = None,
    alerts: Annotated[
        bool, typer.Option(help="Evaluate the configured alert rules (never sent: a dry run).")
    ] = True,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on standard output.")
    ] = False,
    openmetrics: Annotated[
        Path | None,
        typer.Option(
            help="Also write every window's gauges, stamped with the window's end, as OpenMetrics "
            "for `promtool tsdb create-blocks-from openmetrics FILE PROMETHEUS_DATA_DIR` (Grafana's "
            "history of the replay)."
        ),
    ] = None,
) -> None:
    """Run a historical log of predictions and outcomes through the pipeline: what this monitor would
    have told you over that period.

    Events are sorted by event time and fed as fast as they go, with the service's clock at the
    replay's event time, so windows, drift, performance, concept drift and the alert rules
    (repeats, cooldowns, staleness included) come out as they would have live. Windows are
    evaluated as they close; results go to the service's result store and, when configured,
    Elasticsearch. Alerts are a dry run: what would have fired, and to which receivers, is printed,
    never sent. Rejected events go to replay-dead-letters.jsonl beside the configured dead-letter
    file. A columnar file holds one model's predictions: feature columns named as in the config, an
    id, a timestamp (ISO 8601 with a zone, epoch seconds, or a datetime column with a zone), the
    model's prediction and score columns, and optionally the outcome and when it was known.
    """
    import json

    from rich.progress import MofNCompleteColumn

    from alerts.dry_run import DryRunAlerts
    from consumers.replay.backtest import EventClock
    from consumers.replay.backtest import replay as run_replay
    from consumers.replay.history import ColumnOptions, read_history
    from consumers.replay.summary import summary_json, summary_tables
    from consumers.runner import attach_exporters
    from monitor.gc_tuning import streaming_collector
    from monitor.service import Service, load_baselines
    from monitor.sinks.dead_letters import JsonlDeadLetters

    try:
        cfg = load_config(config)
        baselines = load_baselines(cfg)
        target = model or (cfg.models[0].name if len(cfg.models) == 1 else None)
        versions = sorted(v for (m, v) in baselines if m == target)
        options = ColumnOptions(
            model=model,
            version=version,
            only_version=versions[0] if len(versions) == 1 else None,
            id=id_column,
            timestamp=timestamp,
            outcome=outcome,
            outcome_timestamp=outcome_timestamp,
        )
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        ) as bar:
            reading = bar.add_task(f"reading {data.name}", total=None)
            history = read_history(data, cfg, options, lambda d, t: bar.update(reading, completed=d, total=t))
            bar.remove_task(reading)
            dead = cfg.sources.dead_letters
            clock = EventClock()
            service = Service(
                cfg, baselines, JsonlDeadLetters(dead.with_name(f"replay-{dead.name}")), clock=clock
            )
            attach_exporters(service, cfg)
            dry_run = DryRunAlerts(service) if alerts and cfg.alerts.active else None
            if dry_run is not None:
                service.sinks.append(dry_run)
            task = bar.add_task("replaying", total=history.events)
            try:
                with streaming_collector():
                    summary = run_replay(
                        service,
                        clock,
                        history,
                        batch_size or cfg.sources.batch_size,
                        dry_run,
                        lambda done, total: bar.update(task, completed=done, total=total),
                    )
            finally:
                service.close_sinks()
                service.dead_letters.close()
    except DriftlineError as err:
        fail(err)
    if openmetrics is not None:
        from monitor.baselines.store import atomic_write
        from monitor.sinks.prometheus_history import history_openmetrics

        atomic_write(openmetrics, history_openmetrics(summary.results))
        console.print(
            f"{len(summary.results)} windows written to {openmetrics}; load them into Prometheus with "
            f"`promtool tsdb create-blocks-from openmetrics {openmetrics} <its data directory>`"
        )
    if as_json:
        typer.echo(json.dumps(summary_json(summary), indent=2))
        return
    for table in summary_tables(summary):
        Console(soft_wrap=True).print(table)
    if alerts and not cfg.alerts.active:
        console.print("alerts: off in the config (add an alerts: section with a receiver to evaluate rules)")


@app.command()
def report(
    window: Annotated[
        str, typer.Option("--window", "-w", help="Window id (its start, epoch seconds) or 'latest'.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the HTML report.")],
    model: ModelOption,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="driftline YAML config (names the state store).")
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="Model version (needed if it has several).")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(help="Ask the running service at this URL instead, e.g. http://127.0.0.1:9108."),
    ] = None,
) -> None:
    """Save the Evidently data-drift report of one window as HTML.

    The report compares the window's row sample with the baseline's reference sample. With
    --config it is rendered here from the state store, where `driftline run` keeps the samples
    of the newest api.report_windows windows of each version: no running service needed. With
    --url it is fetched from a running service (if reads need the API key, put it in
    DRIFTLINE_API_KEY).
    """
    import os

    from monitor.api.reports import fetch_report, stored_report
    from monitor.baselines.store import atomic_write

    try:
        if url is not None:
            key = load_config(config).api.key() if config is not None else os.environ.get("DRIFTLINE_API_KEY")
            page = fetch_report(url, model, window, version, key)
        elif config is not None:
            result, html = stored_report(load_config(config), model, window, version)
            window, page = window_id(result), html.encode()
        else:
            raise DriftlineError("pass --config (the report is made from its state store) or --url")
        atomic_write(out, page)
    except DriftlineError as err:
        fail(err)
    console.print(f"report of {model} window {window} ({len(page):,} bytes) → {out}")


@app.command()
def windows(
    config: ConfigOption,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only this model.")] = None,
    version: Annotated[str | None, typer.Option("--version", "-v", help="Only this model version.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Newest windows per model version.")] = 48,
    as_json: Annotated[
        bool, typer.Option("--json", help="Window documents as JSON, as the API has them.")
    ] = False,
) -> None:
    """List evaluated windows from the state store; no running service needed.

    One table per model version, oldest window first: rows, drifted features, drift share,
    dataset drift, performance against the reference, concept drift, and whether the window
    is final (no more outcomes can change it). `driftline show` gives one window in detail.
    """
    from monitor.evaluation.result_view import windows_table
    from monitor.state.result_reader import open_results

    try:
        with open_results(load_config(config)) as stored:
            listed = [(i, stored.newest(i, limit)) for i in stored.streams(model, version)]
    except DriftlineError as err:
        fail(err)
    if as_json:
        streams = [
            {"model": i.model, "model_version": i.version, "windows": [window_document(r) for r in results]}
            for i, results in listed
        ]
        typer.echo(orjson.dumps({"streams": streams}).decode())
        return
    out = table_console()
    for index, results in listed:
        out.print(windows_table(index.model, index.version, results, stored=len(index.windows)))


@app.command()
def show(
    config: ConfigOption,
    model: ModelOption,
    window: Annotated[
        str, typer.Option("--window", "-w", help="Window id (its start, epoch seconds) or 'latest'.")
    ] = "latest",
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="Model version (needed if it has several).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="The window document as JSON, as the API has it.")
    ] = False,
) -> None:
    """Show one evaluated window from the state store in detail; no running service needed.

    Every feature's drift method, statistic, threshold, decision, p-value and sample sizes,
    its missing, out-of-range and unseen ratios; the prediction's and target's drift; the
    performance metrics against the reference; concept drift.
    """
    from monitor.evaluation.result_view import window_detail
    from monitor.state.result_reader import open_results

    try:
        with open_results(load_config(config)) as stored:
            result = stored.window(stored.stream(model, version), window)
    except DriftlineError as err:
        fail(err)
    if as_json:
        typer.echo(orjson.dumps(window_document(result)).decode())
    else:
        table_console().print(window_detail(result))


@app.command()
def demo(
    workdir: Annotated[
        Path, typer.Option(help="Where the demo writes its config, data and baselines.")
    ] = Path(".run/demo"),
    seed: Annotated[int, typer.Option(help="Random seed of the generated data.")] = 7,
    rows: Annotated[int, typer.Option(min=200, help="Predictions per hourly window.")] = 2000,
    speed: Annotated[float, typer.Option(min=0.1, help="Simulated hours streamed per second.")] = 3.0,
    port: Annotated[int, typer.Option(help="Port for /metrics (a free one if taken).")] = 9108,
    kafka: Annotated[
        bool,
        typer.Option("--kafka", help="Go through a local Kafka-protocol broker (Tansu) with durable state."),
    ] = False,
    kafka_client: Annotated[
        Literal["confluent", "kafka-python"] | None,
        typer.Option(help="With --kafka: the Kafka client library (default: confluent when installed)."),
    ] = None,
) -> None:
    """Run the demo: a churn model meets feature drift, then concept drift, on a live stream.

    Trains a model on generated data, builds its baseline, streams a day of predictions
    (outcomes arriving hours later) through the real pipeline, shows each window live,
    serves /metrics, and ends with when each drift was injected and when it was caught.
    Exits 0 when both were caught where injected without false alarms.
    """
    from monitor.demo.run import run_demo

    try:
        code = run_demo(
            workdir,
            seed,
            table_console(soft_wrap=True),
            rows=rows,
            speed=speed,
            port=port,
            kafka=kafka,
            kafka_client=kafka_client,
        )
    except DriftlineError as err:
        fail(err)
    raise typer.Exit(code)


@app.command("demo-produce")
def demo_produce(
    config: ConfigOption,
    bootstrap: Annotated[
        str | None,
        typer.Option(help="Kafka bootstrap servers, host:port[,...] (default: sources.kafka of the config)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the model and the stream.")] = 7,
    rows: Annotated[int, typer.Option(min=200, help="Predictions per hourly window.")] = 2000,
    speed: Annotated[
        float, typer.Option(min=0.0, help="Simulated hours produced per second; 0 sends as fast as possible.")
    ] = 0.0,
    start: Annotated[
        datetime | None,
        typer.Option(help="Event time of the first window (UTC); default 24 hours ago, on the hour."),
    ] = None,
    baseline_only: Annotated[
        bool, typer.Option("--baseline-only", help="Only build the churn baseline (if missing), then exit.")
    ] = False,
) -> None:
    """Produce the demo's churn stream to Kafka for a running `driftline run` (docker-compose).

    Trains the demo's churn model (seeded), builds its baseline under the config's
    baselines path unless one is already active, then replays a day of predictions and
    outcomes (feature drift from hour 9, concept drift from hour 17) into the predictions
    and outcomes topics, keyed by prediction id.
    """
    from monitor.demo.producer import produce_demo

    first = None if start is None else (start if start.tzinfo else start.replace(tzinfo=UTC))
    try:
        produced = produce_demo(
            config,
            bootstrap,
            datetime.now(UTC),
            seed=seed,
            rows=rows,
            speed=speed,
            start=first,
            baseline_only=baseline_only,
            progress=console.print,
        )
    except DriftlineError as err:
        fail(err)
    if not baseline_only:
        console.print(
            f"produced {produced.predictions:,} predictions, {produced.outcomes:,} outcomes "
            f"and {produced.malformed} malformed messages"
        )


if __name__ == "__main__":
    app()
