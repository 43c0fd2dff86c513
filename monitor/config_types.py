"""The building blocks every config section shares: the strict base model and the duration syntax.

Kept apart from monitor/config.py so the sections defined in their own packages (alerts/config.py,
monitor/sinks/elasticsearch/config.py, monitor/api/settings.py), which monitor/config.py assembles into one
tree, can use them without importing the tree back.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, TypeAdapter, ValidationError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_FORMAT = "a number and a unit (ms, s, m, h, d, w), e.g. 500ms, 90s, 15m, 1h, 7d, 2w"
_TIMEDELTA: TypeAdapter[timedelta] = TypeAdapter(timedelta)


def parse_duration(value: Any) -> Any:
    """Accept '90s', '15m', '1h', '7d' (and anything pydantic accepts as a timedelta)."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    return value


def duration(value: Any) -> Any:
    """`parse_duration`, failing with the accepted format when a string is not a duration. Strings
    pydantic reads as a timedelta (ISO 8601 'PT1H', '01:00:00') still pass; numbers are seconds."""
    parsed = parse_duration(value)
    if isinstance(parsed, str):
        try:
            return _TIMEDELTA.validate_python(parsed)
        except ValidationError:
            raise ValueError(f"{value!r} is not a duration: write {DURATION_FORMAT}") from None
    if not isinstance(parsed, int | float | timedelta) or isinstance(parsed, bool):
        raise ValueError(f"expected a duration, {DURATION_FORMAT}; got {type(value).__name__}")
    return parsed


Duration = Annotated[timedelta, BeforeValidator(duration)]


class Strict(BaseModel):
    """Unknown keys fail at start-up (a misspelled key is never silently ignored); values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
