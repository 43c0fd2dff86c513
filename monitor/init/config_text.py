"""The commented config `driftline init` writes: every section a first deployment needs, with the
inferred decisions written beside the lines they produced, so the user edits instead of typing.

Pure: decisions in, YAML text out. `render_config` output is validated by the caller (it must
load with `monitor.config.load_config`); names are written as JSON strings, which YAML reads
back verbatim whatever they contain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from monitor.baselines.kinds import RULE, ColumnKind, Task


@dataclass(frozen=True)
class InitChoices:
    model: str
    task: Task
    task_reason: str
    columns: list[ColumnKind]  # features and skipped columns, in file order
    prediction: str
    score: str | None
    target: str | None
    data_name: str  # the training file, as the user named it
    created_at: datetime


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def render_config(choices: InitChoices) -> str:
    features = [c for c in choices.columns if c.kind is not None]
    skipped = [c for c in choices.columns if c.kind is None]
    width = max(len(f"      - {{name: {_q(c.name)}, kind: {c.kind}}}") for c in features) + 2
    lines = [
        f"# driftline config written by `driftline init` from {choices.data_name}",
        f"# on {choices.created_at:%Y-%m-%d %H:%M} UTC. Every key is validated at start-up (a misspelled",
        "# key fails with its path); README.md explains them.",
        "models:",
        f"  - name: {_q(choices.model)}",
        f"    task: {choices.task:<26}  # inferred: {choices.task_reason}",
        "    # Kinds inferred by the rule:",
        *(f"    #   {part}" for part in _wrap(RULE, 88)),
        "    features:",
    ]
    for c in features:
        line = f"      - {{name: {_q(c.name)}, kind: {c.kind}}}"
        lines.append(f"{line:<{width}}# {c.reason}")
    if skipped:
        lines.append("    # Skipped (add them above to monitor them):")
        lines += [f"    #   {c.name}: {c.reason}" for c in skipped]
    lines.append(f"    prediction: {_q(choices.prediction)}   # the model's output in the training file")
    lines.append(
        f"    score: {_q(choices.score)}   # probability of the positive class"
        if choices.score
        else "    # score: proba             # the probability column, if the model has one"
    )
    lines.append(
        f"    target: {_q(choices.target)}   # ground truth: enables reference performance"
        if choices.target
        else "    # target: label            # ground truth, if the file has it (reference performance)"
    )
    lines += [
        "    window: 1h                  # tumbling event-time windows",
        "    allowed_lateness: 5m        # later predictions for a closed window are counted, not added",
        "    outcome_ttl: 7d             # how long a prediction waits for its outcome",
        "    # comparison: {baseline: v1, candidates: [v2]}  # verdicts: README, 'Version comparison'",
        "baselines: {path: baselines}    # built by `driftline init`; rebuild: `driftline baseline build`",
        "sources:",
        "  inputs:                       # JSON lines: README.md, 'Messages'; or POST /api/v1/events",
        "    - {kind: directory, path: events, topic: mixed}   # followed as files grow",
        "  # kafka: {bootstrap_servers: ['127.0.0.1:9092'], group_id: driftline}",
        "  dead_letters: dead-letters.jsonl",
        'state: {url: "rocksdb:///driftline-state"}   # sqlite:///file.db; postgresql://... to share state',
        "api: {port: 9108}               # status page, API, /docs, /metrics; key: DRIFTLINE_API_KEY",
        "alerts:                         # the default rules (drift, data quality, performance, concept",
        "  receivers:                    # drift, rejects, no data) over every window, to the log; add",
        "    - {name: log, kind: log}    # webhook, slack or alertmanager receivers (alerts/README.md)",
        "",
    ]
    return "\n".join(lines)


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines
