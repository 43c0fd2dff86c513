# Types of the native scanner, monitor/pipeline/decoding/_scan.c (documented there).
from typing import Any

def make_plan(models: list[tuple[str, bool, list[str], list[str]]], seed: int, max_abs: float) -> Any: ...
def scan(
    messages: list[Any],
    plan: Any,
    outcome: bool,
    max_bytes: int,
    ok: Any,
    model: Any,
    timestamp: Any,
    numeric: Any,
    score: Any,
    target: Any,
    codes: Any,
) -> tuple[list[str | None], list[list[str]]]: ...
