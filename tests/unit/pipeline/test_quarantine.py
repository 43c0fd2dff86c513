"""A message that makes the decoder itself raise (monitor/pipeline/quarantine.py): it alone is
dead-lettered as internal_error; the batch around it decodes as if it were not there."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from monitor.pipeline.events import decode_outcomes, decode_predictions
from monitor.pipeline.quarantine import decode_isolated
from tests.unit import poison_world as world

MODELS = {m.name: m for m in world.config().models}
MARK = b'"prediction_id":"churn-0-3"'  # the message a decoder bug trips on, in these tests


def buggy(decode: Any) -> Any:
    """The real decoder, raising as a bug would on any batch holding the marked message."""

    def run(messages: list[bytes]) -> Any:
        if any(MARK in m for m in messages):
            raise RuntimeError("a decoder bug")
        return decode(messages, MODELS)

    return run


def columns(batches: dict[Any, Any]) -> dict[Any, dict[str, list[Any]]]:
    out = {}
    for key, batch in batches.items():
        fields = {
            "prediction_id": batch.prediction_id,
            "timestamp": batch.timestamp,
            "position": batch.position,
        }
        out[key] = {name: values.tolist() for name, values in fields.items()}
    return out


@pytest.mark.parametrize("topic", ["predictions", "outcomes"])
def test_only_the_message_the_decoder_raises_on_is_rejected(topic: str) -> None:
    rng = np.random.default_rng(2)
    messages: list[bytes] = []
    for model in world.MODELS:
        predictions, outcomes = world.messages(model, 0, 8, rng)
        messages += predictions if topic == "predictions" else outcomes
    messages.append(b"{not json")
    decode = decode_predictions if topic == "predictions" else decode_outcomes
    batches, rejected = decode_isolated(buggy(decode), messages)
    marked = next(i for i, m in enumerate(messages) if MARK in m)
    assert [(r.reason, r.position) for r in rejected] == [
        ("internal_error", marked),
        ("invalid_json", len(messages) - 1),
    ]
    assert "RuntimeError: a decoder bug" in rejected[0].detail and rejected[0].raw == messages[marked]
    # The others: as the real decoder gives them without the marked message, at their own positions.
    rest = [m for i, m in enumerate(messages) if i != marked]
    expected, _ = decode(rest, MODELS)
    got = columns(batches)
    for key, batch in columns(expected).items():
        batch["position"] = [p + (p >= marked) for p in batch["position"]]
        assert got[key] == batch


def test_a_batch_that_decodes_is_returned_as_the_decoder_gives_it() -> None:
    predictions, _ = world.messages("price", 0, 5, np.random.default_rng(3))
    batches, rejected = decode_isolated(lambda m: decode_predictions(m, MODELS), predictions)
    assert rejected == [] and columns(batches) == columns(decode_predictions(predictions, MODELS)[0])
