"""Dead-letter sinks: records keep the original bytes, files append, counters merge and checkpoint."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.config import ModelConfig
from monitor.errors import DataError, DriftlineError
from monitor.pipeline.events import REJECT_REASONS, Rejected, decode_predictions
from monitor.sinks.dead_letters import (
    PREVIEW_CHARS,
    DeadLetterSink,
    JsonlDeadLetters,
    MemoryDeadLetters,
    dead_letter_record,
    rejected_from_record,
)

ODD_BYTES = b'{"model": "\xff\xfe broken \x00 utf-8 \xe2\x82"}'


def test_every_sink_satisfies_the_protocol(tmp_path: Path) -> None:
    for sink in (MemoryDeadLetters(), JsonlDeadLetters(tmp_path / "dl.jsonl")):
        assert isinstance(sink, DeadLetterSink)


def test_a_record_keeps_the_bytes_intact_and_previews_them() -> None:
    reject = Rejected(ODD_BYTES, "invalid_utf8", "byte 12 is not valid UTF-8")
    record = dead_letter_record(reject)
    assert set(record) == {"reason", "detail", "raw_b64", "raw_preview"}
    assert base64.b64decode(record["raw_b64"]) == ODD_BYTES
    assert "\ufffd" in record["raw_preview"] and record["raw_preview"].startswith('{"model": "')
    assert rejected_from_record(json.loads(json.dumps(record))) == reject


@given(st.binary(max_size=2000), st.sampled_from(sorted(REJECT_REASONS)), st.text(max_size=50))
def test_records_round_trip_any_bytes(raw: bytes, reason: str, detail: str) -> None:
    reject = Rejected(raw, reason, detail)
    record = dead_letter_record(reject)
    assert len(record["raw_preview"]) <= PREVIEW_CHARS
    assert rejected_from_record(orjson.loads(orjson.dumps(record))) == reject


def test_a_large_reject_previews_only_its_start() -> None:
    raw = b"x" * 5_000_000
    record = dead_letter_record(Rejected(raw, "oversize", "too big"))
    assert record["raw_preview"] == "x" * PREVIEW_CHARS
    assert base64.b64decode(record["raw_b64"]) == raw


def test_rejected_from_record_names_what_is_wrong() -> None:
    with pytest.raises(DataError, match="raw_b64"):
        rejected_from_record({"reason": "empty", "detail": ""})
    with pytest.raises(DataError, match="base64"):
        rejected_from_record({"reason": "empty", "detail": "", "raw_b64": "not base64!"})


def test_memory_sink_keeps_order_and_counts() -> None:
    sink = MemoryDeadLetters()
    sink.write([Rejected(b"a", "empty", ""), Rejected(b"b", "invalid_json", "x")])
    sink.write([Rejected(b"c", "empty", "")])
    assert [r.raw for r in sink.rejected] == [b"a", b"b", b"c"]
    assert len(sink) == 3 and sink.reasons() == {"empty": 2, "invalid_json": 1}


def test_jsonl_sink_appends_one_line_per_reject(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dead.jsonl"
    rejects = [Rejected(ODD_BYTES, "invalid_utf8", "bad"), Rejected(b"[1]", "not_an_object", "an array")]
    with JsonlDeadLetters(path) as sink:
        sink.write(rejects[:1])
        sink.write([])
        sink.flush()
        assert len(path.read_bytes().splitlines()) == 1  # flushed: visible before close
    with JsonlDeadLetters(path) as sink:  # a second sink appends
        sink.write(rejects[1:])
    lines = path.read_bytes().splitlines()
    assert [rejected_from_record(orjson.loads(line)) for line in lines] == rejects


def test_jsonl_sink_skips_empty_messages_unless_asked(tmp_path: Path) -> None:
    rejects = [Rejected(b"", "empty", "empty"), Rejected(b"{", "invalid_json", "eof")]
    default, keep = tmp_path / "default.jsonl", tmp_path / "keep.jsonl"
    with JsonlDeadLetters(default) as sink:
        sink.write(rejects[:1])
    assert not default.exists()  # nothing to store: the file is not even created
    with JsonlDeadLetters(default) as sink:
        sink.write(rejects)
    with JsonlDeadLetters(keep, keep_empty=True) as sink:
        sink.write(rejects)
    assert [orjson.loads(x)["reason"] for x in default.read_bytes().splitlines()] == ["invalid_json"]
    assert [orjson.loads(x)["reason"] for x in keep.read_bytes().splitlines()] == ["empty", "invalid_json"]


def test_jsonl_sink_reopens_after_close_and_reports_io_errors(tmp_path: Path) -> None:
    path = tmp_path / "dl.jsonl"
    sink = JsonlDeadLetters(path)
    sink.write([Rejected(b"1", "not_an_object", "")])
    sink.close()
    sink.close()  # idempotent
    sink.write([Rejected(b"2", "not_an_object", "")])
    sink.close()
    assert len(path.read_bytes().splitlines()) == 2
    blocked = JsonlDeadLetters(path / "under-a-file.jsonl")
    with pytest.raises(DriftlineError, match="under-a-file"):
        blocked.write([Rejected(b"1", "not_an_object", "")])


def test_decoder_rejects_flow_into_the_sinks(tmp_path: Path) -> None:
    model = ModelConfig(name="m", task="regression", features=[{"name": "x", "kind": "numeric"}])
    messages = [b"", b"{", b"[]", orjson.dumps({"model": "other"})]
    batches, rejected = decode_predictions(messages, {"m": model})
    memory = MemoryDeadLetters()
    with JsonlDeadLetters(tmp_path / "dl.jsonl") as jsonl:
        for sink in (memory, jsonl):
            sink.write(rejected)
    assert batches == {} and len(memory) == len(messages)
    stored = [
        rejected_from_record(orjson.loads(x)) for x in (tmp_path / "dl.jsonl").read_bytes().splitlines()
    ]
    assert [r.raw for r in stored] == messages[1:]  # all but the empty one, bytes intact
