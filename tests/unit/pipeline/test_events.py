"""Decoding of prediction and outcome messages: every rule, on both parsers.

Every test runs twice: once with the native (C) fast path and once on the orjson reference
path alone (the `path` fixture), so the two must agree rule by rule. A hypothesis test also
checks that they agree on random message-like input, and that arbitrary bytes never raise.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import ModelConfig
from monitor.pipeline import events
from monitor.pipeline.events import REJECT_REASONS, Rejected, decode_outcomes, decode_predictions

CHURN = ModelConfig(
    name="churn",
    task="classification",
    features=[
        {"name": "age", "kind": "numeric"},
        {"name": "plan", "kind": "categorical"},
        {"name": "monthly_spend", "kind": "numeric"},
        {"name": "region", "kind": "categorical"},
    ],
)
PRICE = ModelConfig(name="price", task="regression", features=[{"name": "rooms", "kind": "numeric"}])
MODELS = {"churn": CHURN, "price": PRICE}
T0 = "2026-11-21T10:00:00Z"
T0_MS = int(datetime(2026, 11, 21, 10, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(params=["native", "reference"], autouse=True)
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(events, "USE_NATIVE_DECODER", request.param == "native")
    return str(request.param)


def prediction(**change: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "prediction_id": "p-1",
        "model": "churn",
        "model_version": "3",
        "timestamp": T0,
        "features": {"age": 42, "plan": "pro", "monthly_spend": 31.5, "region": "eu"},
        "prediction": 1,
        "score": 0.83,
        "segment": "eu",
    }
    for key, value in change.items():
        if value is _DROP:
            message.pop(key)
        else:
            message[key] = value
    return message


def with_features(**change: Any) -> dict[str, Any]:
    features = prediction()["features"]
    for key, value in change.items():
        if value is _DROP:
            features.pop(key)
        else:
            features[key] = value
    return prediction(features=features)


_DROP = object()


def encode(*messages: dict[str, Any]) -> list[bytes]:
    return [orjson.dumps(m) for m in messages]


def decode_one(message: dict[str, Any] | bytes, **kwargs: Any) -> tuple[Any, list[Rejected]]:
    raw = message if isinstance(message, bytes) else orjson.dumps(message)
    batches, rejected = decode_predictions([raw], MODELS, **kwargs)
    assert sum(len(b) for b in batches.values()) + len(rejected) == 1
    batch = next(iter(batches.values())) if batches else None
    return batch, rejected


def reject_of(message: dict[str, Any] | bytes, **kwargs: Any) -> Rejected:
    batch, rejected = decode_one(message, **kwargs)
    assert batch is None, "expected a reject"
    (reject,) = rejected
    assert reject.reason in REJECT_REASONS
    return reject


# --------------------------------------------------------------------------------- valid messages


def test_a_valid_prediction_becomes_typed_columns() -> None:
    batch, rejected = decode_one(prediction(model_version=7))
    assert rejected == []
    assert (batch.model, batch.model_version, len(batch)) == ("churn", "7", 1)
    assert batch.prediction_id.dtype == object and batch.prediction_id.tolist() == ["p-1"]
    assert batch.timestamp.dtype == np.int64 and batch.timestamp.tolist() == [T0_MS]
    assert batch.features["age"].dtype == np.float64 and batch.features["age"].tolist() == [42.0]
    assert batch.features["monthly_spend"].tolist() == [31.5]
    assert batch.features["plan"].dtype == object and batch.features["plan"].tolist() == ["pro"]
    assert batch.prediction.tolist() == ["1"]
    assert batch.score.tolist() == [0.83]
    assert batch.segment.tolist() == ["eu"]
    assert all(a.flags.writeable for a in (batch.timestamp, batch.score, *batch.features.values()))


def test_no_messages_and_no_models() -> None:
    assert decode_predictions([], MODELS) == ({}, [])
    assert decode_outcomes([], MODELS) == ({}, [])
    batches, rejected = decode_predictions(encode(prediction()), {})
    assert batches == {} and [r.reason for r in rejected] == ["unknown_model"]


def test_optional_fields_absent_or_null_become_nan_and_none() -> None:
    for message in (prediction(score=_DROP, segment=_DROP), prediction(score=None, segment=None)):
        batch, _ = decode_one(message)
        assert np.isnan(batch.score[0]) and batch.segment[0] is None


def test_missing_and_null_features_are_missing_values_not_rejects() -> None:
    messages = encode(
        with_features(age=_DROP, plan=_DROP),
        with_features(age=None, plan=None),
        with_features(extra=[1, {"deep": "junk"}], other="ignored"),
    )
    batches, rejected = decode_predictions(messages, MODELS)
    batch = batches[("churn", "3")]
    assert rejected == [] and len(batch) == 3
    assert np.isnan(batch.features["age"][:2]).all() and batch.features["age"][2] == 42.0
    assert batch.features["plan"].tolist() == [None, None, "pro"]
    assert set(batch.features) == {"age", "plan", "monthly_spend", "region"}


def test_booleans_are_numbers_for_numeric_features() -> None:
    batch, _ = decode_one(with_features(age=True, monthly_spend=False))
    assert batch.features["age"].tolist() == [1.0] and batch.features["monthly_spend"].tolist() == [0.0]


@pytest.mark.parametrize(
    ("value", "label"), [(3, "3"), (-2, "-2"), (True, "1"), (False, "0"), (3.0, "3"), ("x", "x")]
)
def test_class_labels_are_normalised_to_strings(value: Any, label: str) -> None:
    batch, _ = decode_one(with_features(plan=value))
    assert batch.features["plan"].tolist() == [label]
    batch, _ = decode_one(prediction(prediction=value))
    assert batch.prediction.tolist() == [label]


def test_mixed_label_types_in_one_column() -> None:
    messages = encode(*(prediction(prediction=p) for p in (1, True, "1", 0, False, 1.0, "yes")))
    batches, rejected = decode_predictions(messages, MODELS)
    assert rejected == []
    assert batches[("churn", "3")].prediction.tolist() == ["1", "1", "1", "0", "0", "1", "yes"]


def test_regression_prediction_is_a_float() -> None:
    message = prediction(model="price", features={"rooms": 3}, prediction=250_000)
    batch, _ = decode_one(message)
    assert batch.prediction.dtype == np.float64 and batch.prediction.tolist() == [250_000.0]


def test_large_integers_do_not_crash() -> None:
    raw = orjson.dumps(with_features(age=2**64 - 1, monthly_spend=123)).replace(b"123", str(10**30).encode())
    batch, _ = decode_one(raw)
    assert batch.features["age"].tolist() == [float(2**64 - 1)]
    assert batch.features["monthly_spend"].tolist() == [1e30]
    raw = orjson.dumps(with_features(plan=123)).replace(b"123", str(2**70).encode())
    assert reject_of(raw).reason == "wrong_type"  # a label beyond 64 bits
    assert reject_of(prediction(prediction=2.0**60)).reason == "wrong_type"  # a float beyond 2**53


# ------------------------------------------------------------------------------------- rejects


@pytest.mark.parametrize(
    "field", ["prediction_id", "model", "model_version", "timestamp", "features", "prediction"]
)
def test_a_required_field_absent_or_null_is_missing_field(field: str) -> None:
    for message in (prediction(**{field: _DROP}), prediction(**{field: None})):
        reject = reject_of(message)
        assert reject.reason == "missing_field" and field in reject.detail


def test_an_empty_prediction_id_is_missing() -> None:
    assert reject_of(prediction(prediction_id="")).reason == "missing_field"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"prediction_id": 5}, "prediction_id"),
        ({"model": ["churn"]}, "model"),
        ({"model_version": 3.5}, "model_version"),
        ({"model_version": True}, "model_version"),
        ({"features": [1, 2]}, "features"),
        ({"score": "0.5"}, "score"),
        ({"score": True}, "score"),
        ({"segment": 5}, "segment"),
        ({"prediction": 0.5}, "prediction"),
        ({"prediction": [1]}, "prediction"),
        ({"timestamp": True}, "timestamp"),
        ({"timestamp": {"t": 1}}, "timestamp"),
    ],
)
def test_wrong_types_are_rejected_naming_the_field(change: dict[str, Any], field: str) -> None:
    reject = reject_of(prediction(**change))
    assert reject.reason == "wrong_type" and reject.detail.startswith(f"{field}:")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"prediction_id": "p\x00-1"}, "prediction_id"),
        ({"model_version": "3\x00"}, "model_version"),
        ({"prediction": "yes\x00"}, "prediction"),
        ({"segment": "\x00"}, "segment"),
        (
            {"features": {"age": 42, "plan": "pro\x00", "monthly_spend": 31.5, "region": "eu"}},
            "features.plan",
        ),
    ],
)
def test_a_nul_character_in_an_id_version_or_label_is_refused(change: dict[str, Any], field: str) -> None:
    # JSON's \u0000: PostgreSQL's text columns cannot hold it, so it would fail every checkpoint.
    raw = orjson.dumps(prediction(**change))
    assert b"\\u0000" in raw
    reject = reject_of(raw)
    assert (reject.reason, reject.detail) == ("nul_character", f"{field}: holds a NUL character (U+0000)")
    # Elsewhere (a feature nobody configured) it is data like any other; so is a literal backslash-u.
    assert decode_one(with_features(extra="\x00"))[1] == []
    assert decode_one(prediction(prediction_id="p\\u0000"))[1] == []


def test_an_id_over_512_characters_is_too_long_on_both_topics() -> None:
    # The join's stores key rows by id; PostgreSQL cannot index a key over ~2,700 bytes.
    assert decode_one(prediction(prediction_id="é" * 512))[1] == []  # 1,024 bytes: still fine
    reject = reject_of(prediction(prediction_id="x" * 513))
    assert (reject.reason, reject.detail) == (
        "too_long",
        "prediction_id: 513 characters, over the 512 allowed",
    )
    long_one = {"prediction_id": "y" * 100_000, "model": "churn", "timestamp": T0, "outcome": 1}
    fine = {**long_one, "prediction_id": "p-1"}
    batches, (reject,) = decode_outcomes([orjson.dumps(fine), orjson.dumps(long_one)], MODELS)
    assert (reject.reason, reject.position) == ("too_long", 1)
    assert sum(len(b) for b in batches.values()) == 1


def test_a_nul_character_in_an_outcome_id_or_label_is_refused() -> None:
    outcome = {"prediction_id": "p-1", "model": "churn", "timestamp": T0, "outcome": 1}
    for field, value in (("prediction_id", "p\x00"), ("outcome", "\x00")):
        raw = orjson.dumps({**outcome, field: value})
        batches, (reject,) = decode_outcomes([raw, orjson.dumps(outcome)], MODELS)
        assert (reject.reason, reject.position) == ("nul_character", 0)
        assert reject.detail == f"{field}: holds a NUL character (U+0000)"
        assert sum(len(b) for b in batches.values()) == 1  # the other message goes in


def test_a_string_for_a_numeric_feature_is_a_wrong_type() -> None:
    reject = reject_of(with_features(age="forty"))
    assert reject == Rejected(reject.raw, "wrong_type", "features.age: expected a number, got 'forty'", 0)
    for value in ("42", [42], {"v": 42}):  # numeric-looking strings too: no silent coercion
        assert reject_of(with_features(age=value)).reason == "wrong_type"


@pytest.mark.parametrize("value", [2.5, [1], {"a": 1}])
def test_a_categorical_feature_needs_a_label(value: Any) -> None:
    reject = reject_of(with_features(region=value))
    assert reject.reason == "wrong_type" and reject.detail.startswith("features.region:")


def test_regression_predictions_must_be_numbers() -> None:
    for value in ("250000", True, [1.0]):
        message = prediction(model="price", features={"rooms": 3}, prediction=value)
        assert reject_of(message).reason == "wrong_type"


@pytest.mark.parametrize("score", [1.5, -0.01])
def test_scores_outside_the_unit_interval(score: float) -> None:
    reject = reject_of(prediction(score=score))
    assert reject.reason == "out_of_range" and "score" in reject.detail


def test_unknown_model_and_version() -> None:
    assert reject_of(prediction(model="fraud")).reason == "unknown_model"
    versions = {"churn": {"3", "4"}}
    assert decode_one(prediction(), known_versions=versions)[0] is not None
    assert reject_of(prediction(model_version="5"), known_versions=versions).reason == "unknown_version"
    # a model absent from known_versions has no known version
    message = prediction(model="price", features={"rooms": 1}, prediction=1.0)
    assert reject_of(message, known_versions=versions).reason == "unknown_version"


def test_a_model_named_like_the_internal_sentinel_is_unknown() -> None:
    assert reject_of(prediction(model="\x00")).reason == "unknown_model"


# ---------------------------------------------------------------------------------- non-finite


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_tokens_are_non_finite_naming_the_field(token: bytes) -> None:
    raw = orjson.dumps(with_features(age=12345)).replace(b"12345", token)
    reject = reject_of(raw)
    assert reject.reason == "non_finite" and reject.detail.startswith("features.age:")
    assert reject.raw == raw


def test_numbers_beyond_float_range_are_non_finite_where_used() -> None:
    raw = orjson.dumps(with_features(age=12345)).replace(b"12345", b"1e999")
    assert reject_of(raw).reason == "non_finite"
    raw = orjson.dumps(prediction(score=0.5)).replace(b"0.5", b"-1e999")
    assert reject_of(raw).reason == "non_finite"
    raw = orjson.dumps(with_features(unused=12345)).replace(b"12345", b"1e999")
    batch, _ = decode_one(raw)  # an unconfigured field is ignored, overflow or not
    assert batch is not None and batch.features["age"].tolist() == [42.0]


@pytest.mark.parametrize("token", [b"1e200", b"-1e308", b"1.0000000000000002e100", str(10**101).encode()])
def test_numbers_past_the_accepted_range_are_value_out_of_range(token: bytes) -> None:
    # Finite, but past monitor.core.limits.MAX_ABS_VALUE: an accumulator could overflow on them.
    raw = orjson.dumps(with_features(age=12345)).replace(b"12345", token)
    reject = reject_of(raw)
    assert reject.reason == "value_out_of_range" and reject.detail.startswith("features.age:")
    assert "1e+100" in reject.detail and "np." not in reject.detail and reject.raw == raw
    regression = orjson.dumps(prediction(model="price", features={"rooms": 3}, prediction=12345))
    reject = reject_of(regression.replace(b"12345", token))
    assert reject.reason == "value_out_of_range" and reject.detail.startswith("prediction:")
    outcome = orjson.dumps({"prediction_id": "p-1", "model": "price", "timestamp": T0, "outcome": 12345})
    _, rejected = decode_outcomes([outcome.replace(b"12345", token)], MODELS)
    assert [(r.reason, r.detail.split(":")[0]) for r in rejected] == [("value_out_of_range", "outcome")]


def test_the_accepted_range_is_inclusive_and_unconfigured_fields_are_free() -> None:
    batch, _ = decode_one(with_features(age=1e100, monthly_spend=-1e100))
    assert batch is not None and batch.features["age"].tolist() == [1e100]
    assert batch.features["monthly_spend"].tolist() == [-1e100]
    batch, _ = decode_one(with_features(unused=1e300))
    assert batch is not None
    regression = prediction(model="price", features={"rooms": 3}, prediction=-1e100)
    assert decode_one(regression)[0].prediction.tolist() == [-1e100]
    assert reject_of(prediction(score=1e200)).reason == "out_of_range"  # the score's own rule first
    assert reject_of(prediction(prediction=1e200)).reason == "wrong_type"  # not a class label


def test_one_value_out_of_range_rejects_only_its_row() -> None:
    messages = encode(
        with_features(age=1.0),
        prediction(prediction_id="p-2", features={"age": 1e200, "plan": "pro"}),
        prediction(prediction_id="p-3"),
    )
    batches, rejected = decode_predictions(messages, MODELS)
    assert batches[("churn", "3")].prediction_id.tolist() == ["p-1", "p-3"]
    assert [(r.reason, r.position) for r in rejected] == [("value_out_of_range", 1)]


# ---------------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("timestamp", "expected_ms"),
    [
        ("2026-11-21T10:00:00Z", T0_MS),
        ("2026-11-21T10:00:00.123Z", T0_MS + 123),
        ("2026-11-21T10:00:00.1239Z", T0_MS + 123),  # truncated to the millisecond
        ("2026-11-21T12:00:00+02:00", T0_MS),
        ("2026-11-21T05:30:00-04:30", T0_MS),
        ("2026-11-21T10:00:00.5+00:00", T0_MS + 500),
        (T0_MS / 1000, T0_MS),
        (T0_MS // 1000, T0_MS),
        (T0_MS / 1000 + 0.0004, T0_MS),  # epoch seconds are rounded to the millisecond
    ],
)
def test_timestamps_become_utc_epoch_milliseconds(timestamp: Any, expected_ms: int) -> None:
    batch, _ = decode_one(prediction(timestamp=timestamp))
    assert batch.timestamp.tolist() == [expected_ms]


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-11-21T10:00:00",  # naive: ambiguous
        "2026-11-21",
        "2026-02-30T10:00:00Z",
        "2026-11-21T24:00:00Z",
        "yesterday",
        "now",
        "",
        "1969-12-31T23:59:59Z",
        "2200-01-01T00:00:00Z",
        T0_MS,  # milliseconds sent as seconds: year 58000
        -1,
    ],
)
def test_bad_timestamps(timestamp: Any) -> None:
    reject = reject_of(prediction(timestamp=timestamp))
    assert reject.reason == "bad_timestamp" and reject.detail.startswith("timestamp:")


def test_a_bad_timestamp_rejects_only_its_row() -> None:
    stamps = [T0, "2026-11-21T10:00:01Z", "2026-02-30T10:00:00Z", "2026-11-21T10:00:03Z"]
    messages = encode(*(prediction(prediction_id=f"p-{i}", timestamp=t) for i, t in enumerate(stamps)))
    batches, rejected = decode_predictions(messages, MODELS)
    batch = batches[("churn", "3")]
    assert [r.reason for r in rejected] == ["bad_timestamp"] and rejected[0].raw == messages[2]
    assert batch.prediction_id.tolist() == ["p-0", "p-1", "p-3"]
    assert batch.timestamp.tolist() == [T0_MS, T0_MS + 1000, T0_MS + 3000]


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-11-21T10:00:00.001Z",
        "2026-11-21T11:00:01+01:00",
        "2199-12-31T23:59:59Z",  # accepted before: it moved the watermark for good
        T0_MS / 1000 + 0.001,
        T0_MS // 1000 + 3600,
    ],
)
def test_timestamps_after_the_bound_are_future_timestamp(timestamp: Any) -> None:
    reject = reject_of(prediction(timestamp=timestamp), not_after_ms=T0_MS)
    assert reject.reason == "future_timestamp" and reject.detail.startswith("timestamp:")
    assert "2026-11-21T10:00:00Z" in reject.detail  # names the bound
    outcome = orjson.dumps({"prediction_id": "p-1", "model": "churn", "timestamp": timestamp, "outcome": 1})
    _, rejected = decode_outcomes([outcome], MODELS, not_after_ms=T0_MS)
    assert [r.reason for r in rejected] == ["future_timestamp"]


@pytest.mark.parametrize(
    "timestamp", [T0, T0_MS / 1000, "2026-11-21T11:00:00+01:00", "1970-01-01T00:00:00Z", 0]
)
def test_the_bound_is_inclusive_and_the_past_stays_open(timestamp: Any) -> None:
    batch, _ = decode_one(prediction(timestamp=timestamp), not_after_ms=T0_MS)
    assert batch is not None
    outcome = orjson.dumps({"prediction_id": "p-1", "model": "churn", "timestamp": timestamp, "outcome": 1})
    batches, _ = decode_outcomes([outcome], MODELS, not_after_ms=T0_MS)
    assert len(batches["churn"]) == 1


def test_past_the_representable_range_is_still_a_bad_timestamp() -> None:
    assert (
        reject_of(prediction(timestamp="2200-01-01T00:00:00Z"), not_after_ms=T0_MS).reason == "bad_timestamp"
    )


def test_a_future_timestamp_rejects_only_its_row() -> None:
    stamps = [T0, "2199-01-01T00:00:00Z", "2026-11-21T09:00:00Z", T0_MS / 1000 + 60]
    messages = encode(*(prediction(prediction_id=f"p-{i}", timestamp=t) for i, t in enumerate(stamps)))
    batches, rejected = decode_predictions(messages, MODELS, not_after_ms=T0_MS)
    assert batches[("churn", "3")].prediction_id.tolist() == ["p-0", "p-2"]
    assert [(r.reason, r.position) for r in rejected] == [("future_timestamp", 1), ("future_timestamp", 3)]


def test_mixed_timestamp_forms_in_one_batch() -> None:
    stamps: list[Any] = [T0, "2026-11-21T11:00:00+01:00", T0_MS / 1000, "2026-11-21T10:00:00.000Z"]
    batches, rejected = decode_predictions(encode(*(prediction(timestamp=t) for t in stamps)), MODELS)
    assert rejected == [] and batches[("churn", "3")].timestamp.tolist() == [T0_MS] * 4


# ------------------------------------------------------------------------------ unparsable input


def test_unparsable_messages() -> None:
    cases = {
        b'{"prediction_id": "p-1", "model": "ch': "invalid_json",
        b"\xff\xfe{}": "invalid_utf8",
        orjson.dumps(prediction()).replace(b"eu", b"\xe9u"): "invalid_utf8",
        b"": "empty",
        b"  \r\n\t ": "empty",
        b"[1, 2]": "not_an_object",
        b'"a string"': "not_an_object",
        b"42": "not_an_object",
        b"null": "not_an_object",
        b"[" * 5000 + b"]" * 5000: "invalid_json",
        b'{"a": ' * 3000 + b"1" + b"}" * 3000: "invalid_json",
        b"\xef\xbb\xbf" + orjson.dumps(prediction()): "invalid_json",
        b'{"prediction_id": "\\ud800"}': "invalid_json",
    }
    raws = list(cases)
    batches, rejected = decode_predictions(raws, MODELS)
    assert batches == {}
    assert [(r.raw, r.reason) for r in rejected] == list(cases.items())


def test_oversize_messages_are_rejected_without_parsing_and_kept_intact() -> None:
    big = b'{"x": "' + b"a" * 10_000_000 + b'"}'
    batch, rejected = decode_one(big)
    assert batch is None and rejected[0].reason == "oversize" and rejected[0].raw is big
    message = orjson.dumps(with_features(padding="b" * 2_000_000))
    assert decode_one(message, max_bytes=3_000_000)[0] is not None
    assert reject_of(message, max_bytes=1_000_000).reason == "oversize"


def test_other_input_types_are_accepted() -> None:
    raw = orjson.dumps(prediction())
    for messages in ([bytearray(raw)], [memoryview(raw)], [raw.decode()], (raw,), (m for m in [raw])):
        batches, rejected = decode_predictions(messages, MODELS)
        assert rejected == [] and len(batches[("churn", "3")]) == 1
    _, rejected = decode_predictions([bytearray(b"[1]")], MODELS)
    assert rejected[0].raw == b"[1]" and type(rejected[0].raw) is bytes
    text = orjson.dumps(prediction()).decode().replace("eu", "\udcff")
    (reject,) = decode_predictions([text], MODELS)[1]
    assert reject.reason == "invalid_utf8" and reject.raw == text.encode("utf-8", "surrogatepass")


# ----------------------------------------------------------------------------- batches and order


def test_groups_by_model_and_version_in_input_order() -> None:
    plan = [("churn", "3"), ("price", "1"), ("churn", "4"), ("churn", "3"), ("price", "1")]
    messages = []
    for i, (model, version) in enumerate(plan):
        if model == "churn":
            messages.append(prediction(prediction_id=f"p-{i}", model_version=version))
        else:
            messages.append(
                prediction(prediction_id=f"p-{i}", model=model, model_version=version, features={"rooms": i})
            )
    batches, rejected = decode_predictions(encode(*messages), MODELS)
    assert rejected == []
    assert {k: v.prediction_id.tolist() for k, v in batches.items()} == {
        ("churn", "3"): ["p-0", "p-3"],
        ("price", "1"): ["p-1", "p-4"],
        ("churn", "4"): ["p-2"],
    }
    assert batches[("price", "1")].features["rooms"].tolist() == [1.0, 4.0]


def test_a_seeded_stream_with_injected_faults_accounts_for_every_message() -> None:
    rng = random.Random(7)
    faults = {
        "wrong_type": lambda m: m["features"].update(age="old"),
        "unknown_model": lambda m: m.update(model="nope"),
        "bad_timestamp": lambda m: m.update(timestamp="2026-11-21T10:00:00"),
        "missing_field": lambda m: m.pop("prediction"),
        "out_of_range": lambda m: m.update(score=2.0),
    }
    messages, expected, kept, faulty = [], [], [], []
    for i in range(2000):  # several chunks, so faults land in many of them
        message = prediction(prediction_id=f"p-{i}", prediction=i % 2, timestamp=T0_MS / 1000 + i)
        message["features"] = {
            "age": rng.uniform(18, 90),
            "plan": rng.choice(["a", "b"]),
            "monthly_spend": True,
        }
        if rng.random() < 0.05:
            reason = rng.choice(sorted(faults))
            faults[reason](message)
            expected.append(reason)
            faulty.append(i)
        else:
            kept.append(message)
        messages.append(orjson.dumps(message))
    batches, rejected = decode_predictions(messages, MODELS)
    batch = batches[("churn", "3")]
    assert [r.reason for r in rejected] == expected
    assert [r.position for r in rejected] == faulty  # each names its message's index in the batch
    assert all(messages[r.position] == r.raw for r in rejected)
    assert batch.prediction_id.tolist() == [m["prediction_id"] for m in kept]
    assert batch.features["age"].tolist() == [m["features"]["age"] for m in kept]
    assert batch.timestamp.tolist() == [round(m["timestamp"] * 1000) for m in kept]
    assert batch.prediction.tolist() == [str(m["prediction"]) for m in kept]
    assert set(batch.features["region"].tolist()) == {None}  # never sent: missing everywhere


def test_native_and_reference_rows_of_one_batch_keep_input_order() -> None:
    # A duplicated key is left to the reference path by the native scanner; the reference path
    # keeps the last value (as orjson does) and accepts it. Rows of both kinds interleave in one
    # batch and must come out in input order.
    raws = encode(*(prediction(prediction_id=f"p-{i}") for i in range(10)))
    for i in (1, 2, 6):
        raws[i] = raws[i].replace(b'"age":42', b'"age":"x","age":42')
    raws[4] = raws[4].replace(b'"age":42', b'"age":"bad"')
    batches, rejected = decode_predictions(raws, MODELS)
    assert batches[("churn", "3")].prediction_id.tolist() == [f"p-{i}" for i in range(10) if i != 4]
    assert [r.raw for r in rejected] == [raws[4]]


def test_invalid_utf8_in_an_ignored_field_is_rejected() -> None:
    # orjson (the reference) validates the whole document; the native scanner checks the bytes
    # of every string it skips and leaves invalid ones to the reference path.
    raw = orjson.dumps(with_features(note="AB")).replace(b"AB", b"\xff")
    batch, rejected = decode_one(raw)
    assert batch is None
    assert rejected[0].reason == "invalid_utf8"


# -------------------------------------------------------------------------------------- outcomes


def test_outcomes_decode_by_model_with_the_model_task() -> None:
    messages = [
        {"prediction_id": "p-1", "model": "churn", "timestamp": T0, "outcome": 0},
        {"prediction_id": "p-2", "model": "price", "timestamp": T0, "outcome": 199_000.5},
        {"prediction_id": "p-3", "model": "churn", "timestamp": T0_MS / 1000, "outcome": "1"},
        {"prediction_id": "p-4", "model": "price", "timestamp": T0, "outcome": "high"},
        {"prediction_id": "p-5", "model": "fraud", "timestamp": T0, "outcome": 1},
        {"prediction_id": "p-6", "model": "churn", "timestamp": T0},
        {"prediction_id": "p-7", "model": "churn", "timestamp": T0, "outcome": None},
    ]
    batches, rejected = decode_outcomes(encode(*messages), MODELS)
    churn, price = batches["churn"], batches["price"]
    assert churn.prediction_id.tolist() == ["p-1", "p-3"] and churn.outcome.tolist() == ["0", "1"]
    assert churn.timestamp.tolist() == [T0_MS, T0_MS]
    assert price.outcome.dtype == np.float64 and price.outcome.tolist() == [199_000.5]
    assert [r.reason for r in rejected] == ["wrong_type", "unknown_model", "missing_field", "missing_field"]


# ---------------------------------------------------------------------------- corpus, properties


def bad_input_corpus() -> list[bytes]:
    good = orjson.dumps(prediction())
    return [
        good,
        good[: len(good) // 2],
        good[:-1],
        b"",
        b"\n",
        b"   ",
        b"\xff" * 10,
        b"\x00",
        good.replace(b"42", b"NaN"),
        good.replace(b"42", b"1e999"),
        good.replace(b"42", b"1" * 400),
        good.replace(b"42", b"-" + b"9" * 30),
        good.replace(b"0.83", b"Infinity"),
        b"[" + good + b"]",
        b"{}",
        b'{"model": "churn"}',
        orjson.dumps(prediction(model="unknown")),
        orjson.dumps(prediction(model_version="999")),
        orjson.dumps(with_features(age={"a": [1, {"b": None}]})),
        b'{"x": ' + b"[" * 2000 + b"]" * 2000 + b"}",
        b'{"x": "' + b"z" * 10_000_000 + b'"}',
        good + b"trailing",
        good.replace(b"{", b"{,", 1),
        b'{"prediction_id": 1e5, "model": null}',
        orjson.dumps(prediction(timestamp="2026-99-99T99:99:99Z")),
        orjson.dumps(prediction(features={"age": [[[[]]]]})),
    ]


def test_the_bad_input_corpus_is_fully_accounted_for() -> None:
    corpus = bad_input_corpus()
    batches, rejected = decode_predictions(corpus, MODELS, known_versions={"churn": {"3"}})
    assert sum(len(b) for b in batches.values()) + len(rejected) == len(corpus)
    assert {r.reason for r in rejected} <= REJECT_REASONS
    assert all(r.detail for r in rejected)
    rejected_raws = {id(r.raw) for r in rejected}
    accepted = [i for i, raw in enumerate(corpus) if id(raw) not in rejected_raws]
    assert accepted == [0, 11]  # the good message, and a 30-digit integer (a float, but finite)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_arbitrary_bytes_never_raise(messages: list[bytes]) -> None:
    batches, rejected = decode_predictions(messages, MODELS, max_bytes=200)
    assert sum(len(b) for b in batches.values()) + len(rejected) == len(messages)
    assert {r.reason for r in rejected} <= REJECT_REASONS
    assert [r.raw for r in rejected] == [m for m in messages if m in {r.raw for r in rejected}]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=()), max_size=50), max_size=10))
def test_arbitrary_text_never_raises(messages: list[str]) -> None:
    # str messages are accepted too; lone surrogates cannot be encoded and are invalid_utf8
    batches, rejected = decode_predictions(messages, MODELS)
    assert sum(len(b) for b in batches.values()) + len(rejected) == len(messages)
    assert {r.reason for r in rejected} <= REJECT_REASONS


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),  # what orjson can write
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.sampled_from(["churn", "price", "3", T0, "2026-11-21T10:00:00+01:00", "2026-11-21T10:00:00"]),
)
_values = st.one_of(
    _scalars, st.lists(_scalars, max_size=2), st.dictionaries(st.text(max_size=3), _scalars, max_size=2)
)
_features = st.dictionaries(
    st.sampled_from(["age", "plan", "monthly_spend", "region", "rooms", "x"]), _values
)
_messages = st.fixed_dictionaries(
    {},
    optional={
        "prediction_id": st.one_of(st.sampled_from(["p-1", ""]), _scalars),
        "model": st.one_of(st.sampled_from(["churn", "price", "fraud"]), _scalars),
        "model_version": st.one_of(st.sampled_from(["3", 3]), _scalars),
        "timestamp": st.one_of(st.sampled_from([T0, T0_MS / 1000, "2026-11-21T10:00:00.5Z"]), _values),
        "features": st.one_of(_features, _values),
        "prediction": _values,
        "score": st.one_of(st.floats(0, 1), _values),
        "segment": _values,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_messages, max_size=12))
def test_native_and_reference_paths_agree(path: str, messages: list[dict[str, Any]]) -> None:
    if path == "reference":
        pytest.skip("the native run compares both paths")
    raws = [orjson.dumps(m) for m in messages]
    results = {}
    for native in (True, False):
        events.USE_NATIVE_DECODER = native
        batches, rejected = decode_predictions(raws, MODELS)
        results[native] = (
            {k: _comparable(b) for k, b in batches.items()},
            [(r.raw, r.reason) for r in rejected],
        )
    assert results[True] == results[False]
    batches_count = sum(len(v["prediction_id"]) for v in results[True][0].values())
    assert batches_count + len(results[True][1]) == len(raws)


def _comparable(batch: Any) -> dict[str, Any]:
    def plain(values: np.ndarray) -> list[Any]:
        return [None if isinstance(v, float) and np.isnan(v) else v for v in values.tolist()]

    out = {
        name: plain(getattr(batch, name))
        for name in ("prediction_id", "timestamp", "prediction", "score", "segment")
    }
    out.update({f"features.{k}": plain(v) for k, v in batch.features.items()})
    return out
