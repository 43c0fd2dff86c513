"""The building blocks every config section shares: the strict base model and the duration syntax.

Kept apart from monitor/config.py so the sections defined in their own packages (alerts/config.py,
monitor/sinks/elasticsearch/config.py, monitor/api/settings.py), which monitor/config.py assembles into one
tree, can use them without importing the tree back.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> Any:
    """Accept '90s', '15m', '1h', '7d' (and anything pydantic accepts as a timedelta)."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class Strict(BaseModel):
    """Unknown keys fail at start-up (a misspelled key is never silently ignored); values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
