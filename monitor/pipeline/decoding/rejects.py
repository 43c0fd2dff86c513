"""Rejected messages: the original bytes, a reason code from `REJECT_REASONS`, a human detail."""

from __future__ import annotations

from dataclasses import dataclass

REJECT_REASONS = frozenset(
    {
        "empty",  # empty or whitespace-only
        "oversize",  # over sources.max_message_bytes
        "invalid_utf8",
        "invalid_json",
        "non_finite",  # NaN / Infinity tokens, or a number beyond float range, where used
        "not_an_object",
        "missing_field",  # a required field absent or null
        "wrong_type",
        "too_long",  # a prediction_id over MAX_ID_CHARS (monitor.pipeline.decoding.columns)
        "nul_character",  # an id, version or label holding U+0000 (no text column of PostgreSQL can)
        "out_of_range",  # a score outside [0, 1]
        "value_out_of_range",  # a finite number past monitor.core.limits.MAX_ABS_VALUE (1e100)
        "bad_timestamp",  # unparsable, naive, or outside 1970..2200
        "future_timestamp",  # later than the service's clock plus sources.max_future
        "unknown_model",
        "unknown_version",
        "internal_error",  # decoded, but ingesting it failed: a bug, logged with the model named
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
