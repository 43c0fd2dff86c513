"""Rejected messages: the original bytes, a reason code from `REJECT_REASONS`, a human detail."""

from __future__ import annotations

from dataclasses import dataclass

REJECT_REASONS = frozenset(
    {
        "empty",
        "oversize",
        "invalid_utf8",
        "invalid_json",
        "non_finite",
        "not_an_object",
        "missing_field",
        "wrong_type",
        "out_of_range",
        "bad_timestamp",
        "unknown_model",
        "unknown_version",
    }
)


@dataclass(frozen=True)
class Rejected:
    """A message that could not be decoded: its original bytes, a reason code, a human detail, and
    where it was: its index in the decoded batch and the batch's topic ("predictions" or
    "outcomes", set by the service), so an edge can name the original record (a Kafka offset)."""

    raw: bytes
    reason: str
    detail: str
    position: int = -1
    topic: str = ""
