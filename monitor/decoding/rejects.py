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
    """A message that could not be decoded: its original bytes, a reason code, a human detail."""

    raw: bytes
    reason: str
    detail: str
