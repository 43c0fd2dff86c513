"""What the service does with a message it cannot process: dead-letter it as `internal_error` and
go on, so no message can stop the service, and replaying one after a restart cannot either.

Two places can fail on a message that the decoder's rules did not foresee (a bug, by
definition: every reject reason is decided in monitor.pipeline.decoding):
- decoding itself (`decode_isolated`): a batch whose decode raises is decoded again one message
  at a time; the messages that raise alone are rejected, the others are decoded as usual.
- ingesting a decoded group (`group_rejects`): `Monitor.ingest` undoes a group that raised
  (monitor.pipeline.savepoint); its messages become rejects here, naming the model and the error.

Either way the messages are counted once (as rejected, never also as accepted), the error is
logged by the service with the model named, and the input offsets move past them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, replace
from typing import Any

import numpy as np

from monitor.pipeline.decoding.parsing import as_bytes
from monitor.pipeline.decoding.rejects import Rejected
from monitor.pipeline.monitor import GroupFailure

log = logging.getLogger("driftline.quarantine")

Decoded = dict[Any, Any]  # PredictionBatch by (model, version), or OutcomeBatch by model
MAX_DETAIL = 300


def describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 3] + "..."


def decode_isolated(
    decode: Callable[[list[Any]], tuple[Decoded, list[Rejected]]], messages: Sequence[Any]
) -> tuple[Decoded, list[Rejected]]:
    """`decode(messages)`; if it raises, the messages decoded one by one: those that raise alone
    are rejected as internal_error, and the groups of the others are put back together in input
    order (rows keep their input positions)."""
    raws = list(messages)
    try:
        return decode(raws)
    except Exception as error:
        log.error("decoding %d messages failed; decoding them one by one", len(raws), exc_info=error)
    pieces: dict[Any, list[Any]] = {}
    rejected: list[Rejected] = []
    for at, raw in enumerate(raws):
        try:
            batches, rejects = decode([raw])
        except Exception as error:
            log.error("decoding message %d failed: dead-lettered as internal_error", at, exc_info=error)
            detail = f"decoding failed: {describe(error)}"
            rejected.append(Rejected(as_bytes(raw), "internal_error", detail, at))
            continue
        rejected += [replace(r, position=at) for r in rejects]
        for key, batch in batches.items():
            pieces.setdefault(key, []).append(replace(batch, position=np.full(len(batch), at)))
    return {key: _concatenate(parts) for key, parts in pieces.items()}, rejected


def _concatenate(parts: list[Any]) -> Any:
    """Batches of one group (PredictionBatch or OutcomeBatch) as one: arrays end to end."""
    first = parts[0]
    if len(parts) == 1:
        return first
    joined: dict[str, Any] = {}
    for field in fields(first):
        values = [getattr(p, field.name) for p in parts]
        if isinstance(values[0], np.ndarray):
            joined[field.name] = np.concatenate(values)
        elif isinstance(values[0], dict):
            joined[field.name] = {name: np.concatenate([v[name] for v in values]) for name in values[0]}
        else:
            joined[field.name] = values[0]
    return type(first)(**joined)


def group_rejects(
    failures: Sequence[GroupFailure],
    predictions: Mapping[tuple[str, str], Any],
    outcomes: Mapping[str, Any],
    raw_predictions: Sequence[bytes] | None,
    raw_outcomes: Sequence[bytes] | None,
) -> list[Rejected]:
    """The messages of the groups `Monitor.ingest` undid, as internal_error rejects (with their
    original bytes when the raw messages are given; a replay of a columnar file has none)."""
    rejected = []
    for failure in failures:
        if failure.model_version is None:
            batch, raws, topic = outcomes[failure.model], raw_outcomes, "outcomes"
            what = f"the outcomes of model {failure.model!r}"
        else:
            batch, raws, topic = (
                predictions[(failure.model, failure.model_version)],
                raw_predictions,
                "predictions",
            )
            what = f"the predictions of model {failure.model!r} version {failure.model_version!r}"
        detail = f"ingesting {what} failed: {describe(failure.error)}"
        # Batches built without raw messages (a columnar replay) carry no positions: their rows.
        positions = batch.position.tolist() if len(batch.position) == len(batch) else range(len(batch))
        for at in positions:
            raw = b"" if raws is None else as_bytes(raws[at])
            rejected.append(Rejected(raw, "internal_error", detail, at, topic))
    return sorted(rejected, key=lambda r: (r.topic, r.position))
