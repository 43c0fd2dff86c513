"""`driftline alerts ...`: commands about alert delivery (mounted in monitor/cli.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

alerts_app = typer.Typer(
    help="Alert rules, receivers and retraining webhooks.",
    no_args_is_help=True,
    rich_markup_mode=None,  # as monitor/cli.py: re-flowed paragraphs, switches without a type
    context_settings={"max_content_width": 120, "help_option_names": ["--help", "-h"]},
)


def sample_notification(now: datetime) -> dict[str, Any]:
    """A firing test alert: real shape, obviously not a real alert (rule driftline_test)."""
    stamp = now.isoformat().replace("+00:00", "Z")
    return {
        "type": "driftline.alert",
        "test": True,
        "id": f"test-{int(now.timestamp())}",
        "status": "firing",
        "repeat": False,
        "alertname": "driftline_test",
        "rule": "driftline_test",
        "signal": "feature_drift",
        "severity": "info",
        "labels": {},
        "model": "driftline-test",
        "model_version": "0",
        "subject": "",
        "value": 1.0,
        "op": ">=",
        "threshold": 1.0,
        "resolve_threshold": None,
        "summary": "test notification from `driftline alerts test`; no action needed",
        "fired_at": stamp,
        "fired_window_start": None,
        "resolved_at": None,
        "window_start": None,
        "window_end": None,
        "episode": 0,
        # Alertmanager drops it after one minute rather than the usual three repeat intervals.
        "repeat_interval_seconds": 20.0,
        "created_at": stamp,
    }


@alerts_app.command("test")
def test_receivers(
    config: Annotated[Path, typer.Option("--config", "-c", help="driftline YAML config file.")],
) -> None:
    """Send a sample notification to every configured receiver and show what each answered.

    Uses each receiver's real format and signing (webhook, Slack, Alertmanager, log), directly,
    without the outbox or retries. Exits 1 if any receiver failed (or none is configured), 2 on a
    bad config. Retraining endpoints are not called: a test must not start a retraining.
    """
    from alerts.notifiers import render, send
    from monitor.config import load_config
    from monitor.errors import DriftlineError

    console = Console(stderr=True, soft_wrap=True)
    try:
        cfg = load_config(config)
        receivers = [(r, r.resolved_secret()) for r in cfg.alerts.receivers]
    except DriftlineError as err:
        console.print(f"[bold red]error:[/] {err}")
        raise typer.Exit(2) from None
    if not receivers:
        console.print(f"[bold red]error:[/] {config}: no receivers under alerts.receivers")
        raise typer.Exit(1)
    table = Table("receiver", "kind", "target", "status", "result", title="driftline alerts test")
    failures = 0
    for receiver, secret in receivers:
        now = datetime.now(UTC)
        document = sample_notification(now)
        request = render(receiver, secret, document, document["id"], now)
        answer = send(request, receiver.timeout.total_seconds(), document)
        failures += not answer.ok
        table.add_row(
            receiver.name,
            receiver.kind,
            "logger driftline.alerts" if request is None else request.url,
            "-" if answer.status is None else str(answer.status),
            "[green]ok[/]" if answer.ok else f"[red]{answer.error}[/]",
        )
    Console(soft_wrap=True).print(table)
    if failures:
        console.print(f"[bold red]{failures} of {len(receivers)} receivers failed[/]")
        raise typer.Exit(1)
