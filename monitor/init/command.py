"""`driftline init`: from a training file to a validated, commented config.

Reads the file (CSV or Parquet), decides the task and each column's kind by a stated rule
(monitor.baselines.kinds), prints the rule and the decisions, and writes the config
(monitor.init.config_text) after checking that it loads. The CLI then builds the baseline with
`driftline baseline build`'s own code and prints the next commands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import yaml
from rich.console import Console
from rich.table import Table

from monitor.baselines.kinds import RULE, Task, infer_kinds, infer_task
from monitor.baselines.reference_data import read_reference
from monitor.baselines.store import atomic_write
from monitor.config import load_config, parse_config
from monitor.errors import ConfigError, DataError
from monitor.init.config_text import InitChoices, render_config

DEFAULT_CONFIG = Path("driftline.yaml")


@dataclass(frozen=True)
class InitRequest:
    data: Path
    config: Path
    model: str | None
    prediction: str
    score: str | None
    target: str | None
    task: Task | None
    exclude: tuple[str, ...]
    force: bool


def model_name(data: Path) -> str:
    """A model name from the file's name: letters, digits, '_', '.', '-' (the config's pattern)."""
    stem = data.name.split(".")[0]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_.-")
    return name or "model"


def write_config(request: InitRequest, now: datetime, console: Console) -> InitChoices:
    """Infer, print, validate and write the config; returns what was decided. Writes nothing if
    the config exists (without `force`) or the file lacks a named column."""
    if request.config.exists() and not request.force:
        raise ConfigError(f"{request.config} exists: pass --force to overwrite it (or --config elsewhere)")
    frame = read_reference(request.data, None)
    _check_columns(frame, request)
    truth = request.target if request.target else request.prediction
    task, why = (request.task, "given with --task") if request.task else infer_task(frame[truth])
    reserved = {c for c in (request.prediction, request.score, request.target) if c}
    columns = infer_kinds(frame, reserved | set(request.exclude))
    if not any(c.kind for c in columns):
        raise DataError(f"{request.data}: no column is usable as a feature ({len(columns)} skipped)")
    choices = InitChoices(
        model=request.model or model_name(request.data),
        task=task,
        task_reason=why,
        columns=columns,
        prediction=request.prediction,
        score=request.score,
        target=request.target,
        data_name=request.data.name,
        created_at=now,
    )
    text = render_config(choices)
    parse_config(yaml.safe_load(text), source="the generated config")  # a bug here must not be written
    request.config.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(request.config, text.encode())
    (request.config.parent / "events").mkdir(exist_ok=True)
    load_config(request.config)  # and it loads from where it was written
    _show(choices, len(frame), console)
    return choices


def _check_columns(frame: pd.DataFrame, request: InitRequest) -> None:
    named = {"--prediction": request.prediction, "--score": request.score, "--target": request.target}
    names = [str(c) for c in frame.columns]
    shown = ", ".join(names[:30]) + (" ..." if len(names) > 30 else "")
    for option, column in named.items():
        if column and column not in frame.columns:
            hint = " (the model's output on this data)" if option == "--prediction" else ""
            raise DataError(
                f"{request.data} has no column {column!r} for {option}{hint}; its columns: {shown}"
            )
    for column in request.exclude:
        if column not in frame.columns:
            raise DataError(f"{request.data} has no column {column!r} to --exclude; its columns: {shown}")


def _show(choices: InitChoices, rows: int, console: Console) -> None:
    features = [c for c in choices.columns if c.kind]
    console.print(f"read {choices.data_name}: {rows:,} rows, {len(choices.columns)} candidate columns")
    console.print(f"task: [bold]{choices.task}[/] ({choices.task_reason})")
    console.print(f"rule: {RULE}")
    table = Table("column", "kind", "why", title=f"{len(features)} features of {choices.model}")
    for c in choices.columns:
        table.add_row(c.name, c.kind or "[dim]skipped[/]", c.reason)
    console.print(table)
