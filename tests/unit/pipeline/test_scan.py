"""The native scanner (monitor/pipeline/decoding/_scan.c): it must take the common messages itself, leave
everything it does not vouch for to the reference path, and agree with the reference on every
message, including mangled ones. tests/unit/pipeline/test_events.py runs every decoding rule on both paths;
this file checks which path a message takes, and compares them on byte-level mutations."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import ModelConfig
from monitor.pipeline import events
from monitor.pipeline.decoding.scan import scan_outcomes, scan_predictions
from monitor.pipeline.events import decode_outcomes, decode_predictions
from tests.unit.pipeline.test_events import MODELS, T0, _comparable, prediction, with_features


def native_rest(raws: list[Any]) -> list[int]:
    """Input positions the native scanner leaves to the reference path."""
    return scan_predictions(raws, MODELS, None, 1_000_000).rest.tolist()


def both_paths(raws: list[Any], outcomes: bool = False) -> dict[bool, Any]:
    results = {}
    for native in (True, False):
        events.USE_NATIVE_DECODER = native
        try:
            if outcomes:
                batches, rejected = decode_outcomes(raws, MODELS)
                kept = {
                    k: (b.prediction_id.tolist(), b.timestamp.tolist(), b.outcome.tolist())
                    for k, b in batches.items()
                }
            else:
                batches, rejected = decode_predictions(raws, MODELS)
                kept = {k: _comparable(b) for k, b in batches.items()}
        finally:
            events.USE_NATIVE_DECODER = True
        results[native] = (kept, [(r.raw, r.reason, r.detail, r.position) for r in rejected])
    return results


def assert_paths_agree(raws: list[Any], outcomes: bool = False) -> None:
    results = both_paths(raws, outcomes)
    assert results[True] == results[False]


COMMON = [
    prediction(),
    prediction(model_version=3, prediction="1", segment=None),
    prediction(timestamp=1_763_719_200.25),
    prediction(timestamp=1_763_719_200),
    *(prediction(timestamp=f"2026-11-21T10:00:00.{'123456789'[:k]}Z") for k in range(1, 10)),
    # datetime.isoformat() of an aware datetime, as Python producers send it
    prediction(timestamp="2026-11-21T10:00:00+00:00"),
    prediction(timestamp="2026-11-21T10:00:00.123456+00:00"),
    prediction(timestamp="2026-11-21T01:30:00.5-08:30"),
    prediction(timestamp="2026-11-21T23:59:59+23:59"),
    prediction(timestamp="1970-01-01T00:30:00+00:30"),  # the epoch itself
    with_features(age=None, plan=None),
    with_features(age=True, plan=7, region="région-ÿ€𝄞"),
    with_features(monthly_spend=-0.0, age=1e-7, plan=-12),
    with_features(monthly_spend=-1e100, age=1e100),  # the bounds of the accepted range
    with_features(extra={"nested": [1, 2.5, {"deep": [None, True, "x"]}], "big": 1e300}),
    prediction(score=None, trace={"id": "abc", "spans": []}),
    {"prediction": 99.5, "features": {"rooms": 3}, "model": "price", "model_version": "1", "timestamp": T0}
    | {"prediction_id": "r-1"},
]


def test_common_messages_take_the_native_path() -> None:
    raws = [orjson.dumps(m) for m in COMMON]
    raws.append(orjson.dumps(prediction(), option=orjson.OPT_INDENT_2))  # pretty-printed
    raws.append(json.dumps(prediction(), separators=(" , ", " : ")).encode())
    # json.dumps escapes non-ASCII by default: escaped labels, ids and ignored strings
    escaped = with_features(plan='pro\u00e9 "q" \\ \t/', region="𝄞€é") | {
        "prediction_id": "p-é",
        "note": "a\nb",
    }
    raws.append(json.dumps(escaped).encode())
    raws.append(json.dumps(escaped).encode().replace(b"/", b"\\/"))  # "\/" is "/" too
    reordered = dict(reversed(list(prediction().items())))  # features (and all) before the model
    raws.append(orjson.dumps(reordered))
    raws.append(orjson.dumps(prediction(note=1)).replace(b'"note":1', b'"note":1e999'))  # unused: ignored
    # one timestamp width throughout: the reference parses these with numpy, truncating as the scanner
    raws += [
        orjson.dumps(prediction(timestamp="2026-11-21T10:00:00.1239Z", prediction_id=f"t-{i}"))
        for i in range(3)
    ]
    assert native_rest(raws) == []
    assert_paths_agree(raws)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"prediction_id":"p\\u002d1","model":"churn","model_version":"3","timestamp":"'
        + T0.encode()
        + b'"}',
        orjson.dumps(prediction()).replace(b'"model":', b'"mod\\u0065l":'),  # an escaped key
        orjson.dumps(prediction()).replace(b'"churn"', b'"chur\\u006e"'),  # an escaped model name
        orjson.dumps(prediction()).replace(b'"2026-', b'"\\u0032026-'),  # an escaped timestamp
        orjson.dumps(with_features(plan="x")).replace(b'"x"', b'"\\ud800"'),  # a lone surrogate
        orjson.dumps(with_features(plan="x")).replace(b'"x"', b'"\\udc00\\ud800"'),
        orjson.dumps(with_features(note="x")).replace(b'"x"', b'"\\ud83d\\u0041"'),  # high, then no low
        orjson.dumps(with_features(plan="x")).replace(b'"x"', b'"\\x41"'),  # not a JSON escape
        orjson.dumps(with_features(plan="x")).replace(b'"x"', b'"\\u12"'),
        orjson.dumps(prediction()).replace(b'"age":42', b'"age":1,"age":42'),  # duplicate key
        orjson.dumps(prediction()).replace(b'"model":"churn"', b'"model":"churn","model":"churn"'),
        orjson.dumps(prediction()).replace(b"42", b"NaN"),
        orjson.dumps(prediction()).replace(b"42", b"1e999"),
        orjson.dumps(prediction()).replace(b"42", b"1e200"),  # past monitor.core.limits.MAX_ABS_VALUE
        orjson.dumps(prediction()).replace(b"42", b"-1.0000000000000002e100"),
        orjson.dumps(prediction(model="price", features={"rooms": 1}, prediction=-1e101)),
        orjson.dumps(prediction()).replace(b"42", b"042"),
        orjson.dumps(prediction(model="fraud")),
        orjson.dumps(prediction(model_version=True)),
        orjson.dumps(prediction(model_version="-0")).replace(b'"-0"', b"-0"),
        orjson.dumps(prediction(prediction=3.0)),
        orjson.dumps(prediction(prediction=None)),
        orjson.dumps(with_features(plan=2.5)),
        orjson.dumps(with_features(plan=12345678901234567890)),
        orjson.dumps(with_features(age="42")),
        orjson.dumps(with_features(age=[42])),
        orjson.dumps(prediction(score=1.5)),
        orjson.dumps(prediction(score=True)),
        orjson.dumps(prediction(segment=3)),
        orjson.dumps(prediction(prediction_id="")),
        orjson.dumps(prediction(prediction_id=7)),
        orjson.dumps(prediction(timestamp="2026-11-21T10:00:00+0000")),
        orjson.dumps(prediction(timestamp="2026-11-21T10:00:00+24:00")),
        orjson.dumps(prediction(timestamp="2026-11-21T10:00:00+00:00:30")),
        orjson.dumps(prediction(timestamp="1970-01-01T00:30:00+01:00")),  # before the epoch
        orjson.dumps(prediction(timestamp="2026-11-21T10:00:00.Z")),
        orjson.dumps(prediction(timestamp="2026-11-21T10:00:00.1234567890Z")),
        orjson.dumps(prediction(timestamp="2026-11-21 10:00:00Z")),
        orjson.dumps(prediction(timestamp="2026-02-30T10:00:00Z")),
        orjson.dumps(prediction(timestamp="1969-12-31T23:59:59Z")),
        orjson.dumps(prediction(timestamp=-1)),
        orjson.dumps(prediction(timestamp=True)),
        orjson.dumps(prediction(features=[1, 2])),
        orjson.dumps(prediction()) + b" x",
        orjson.dumps(prediction())[:-1],
        orjson.dumps(with_features(note="AB")).replace(b"AB", b"\xff"),
        orjson.dumps(with_features(note="A")).replace(b'"A"', b'"\x01"'),
        orjson.dumps(
            with_features(
                deep=[
                    [
                        [
                            [
                                [
                                    [
                                        [
                                            [
                                                [
                                                    [
                                                        [
                                                            [
                                                                [
                                                                    [
                                                                        [
                                                                            [
                                                                                [
                                                                                    [
                                                                                        [
                                                                                            [
                                                                                                [
                                                                                                    [
                                                                                                        [
                                                                                                            [
                                                                                                                [
                                                                                                                    [
                                                                                                                        [
                                                                                                                            [
                                                                                                                                [
                                                                                                                                    [
                                                                                                                                        [
                                                                                                                                            [
                                                                                                                                                [
                                                                                                                                                    [
                                                                                                                                                        [
                                                                                                                                                            [
                                                                                                                                                                [
                                                                                                                                                                    [
                                                                                                                                                                        [
                                                                                                                                                                            [
                                                                                                                                                                                [
                                                                                                                                                                                    [
                                                                                                                                                                                        [
                                                                                                                                                                                            [
                                                                                                                                                                                                [
                                                                                                                                                                                                    [
                                                                                                                                                                                                        [
                                                                                                                                                                                                            [
                                                                                                                                                                                                                [
                                                                                                                                                                                                                    [
                                                                                                                                                                                                                        [
                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                [
                                                                                                                                                                                                                                    [
                                                                                                                                                                                                                                        [
                                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                                [
                                                                                                                                                                                                                                                    [
                                                                                                                                                                                                                                                        [
                                                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                                                [
                                                                                                                                                                                                                                                                    [
                                                                                                                                                                                                                                                                        [
                                                                                                                                                                                                                                                                            [
                                                                                                                                                                                                                                                                                [
                                                                                                                                                                                                                                                                                    [
                                                                                                                                                                                                                                                                                        1
                                                                                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                                                                                ]
                                                                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                                                                ]
                                                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                                                ]
                                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                                ]
                                                                                                                                                                                                                            ]
                                                                                                                                                                                                                        ]
                                                                                                                                                                                                                    ]
                                                                                                                                                                                                                ]
                                                                                                                                                                                                            ]
                                                                                                                                                                                                        ]
                                                                                                                                                                                                    ]
                                                                                                                                                                                                ]
                                                                                                                                                                                            ]
                                                                                                                                                                                        ]
                                                                                                                                                                                    ]
                                                                                                                                                                                ]
                                                                                                                                                                            ]
                                                                                                                                                                        ]
                                                                                                                                                                    ]
                                                                                                                                                                ]
                                                                                                                                                            ]
                                                                                                                                                        ]
                                                                                                                                                    ]
                                                                                                                                                ]
                                                                                                                                            ]
                                                                                                                                        ]
                                                                                                                                    ]
                                                                                                                                ]
                                                                                                                            ]
                                                                                                                        ]
                                                                                                                    ]
                                                                                                                ]
                                                                                                            ]
                                                                                                        ]
                                                                                                    ]
                                                                                                ]
                                                                                            ]
                                                                                        ]
                                                                                    ]
                                                                                ]
                                                                            ]
                                                                        ]
                                                                    ]
                                                                ]
                                                            ]
                                                        ]
                                                    ]
                                                ]
                                            ]
                                        ]
                                    ]
                                ]
                            ]
                        ]
                    ]
                ]
            )
        ),
        {k: v for k, v in prediction().items() if k != "model_version"},
        b"",
        b"[1]",
        orjson.dumps(prediction()).decode(),  # str, not bytes
    ],
)
def test_what_the_native_path_leaves_to_the_reference(raw: Any) -> None:
    raws = [raw if isinstance(raw, bytes | str) else orjson.dumps(raw)]
    assert native_rest(raws) == [0]
    assert_paths_agree(raws)


def test_an_unknown_version_is_left_to_the_reference_path() -> None:
    raws = [orjson.dumps(prediction()), orjson.dumps(prediction(model_version="9", prediction_id="p-2"))]
    scanned = scan_predictions(raws, MODELS, {"churn": {"3"}}, 1_000_000)
    assert scanned.rest.tolist() == [1]
    assert list(scanned.groups) == [("churn", "3")]


def test_oversize_messages_are_left_to_the_reference_path() -> None:
    raws = [orjson.dumps(prediction()), orjson.dumps(with_features(note="x" * 500))]
    assert scan_predictions(raws, MODELS, None, 400).rest.tolist() == [1]


def test_outcomes_of_both_tasks_take_the_native_path() -> None:
    raws = encode_outcomes(
        {"prediction_id": "p-1", "model": "churn", "timestamp": T0, "outcome": 1},
        {"outcome": "0", "timestamp": 1_763_719_200.5, "model": "churn", "prediction_id": "p-2"},
        {"prediction_id": "p-3", "model": "price", "timestamp": T0, "outcome": 210_000.5, "note": [1]},
        {"prediction_id": "p-4", "model": "price", "timestamp": T0, "outcome": "high"},
        {"prediction_id": "p-5", "model": "churn", "timestamp": T0, "outcome": None},
    )
    assert scan_outcomes(raws, MODELS, 1_000_000).rest.tolist() == [3, 4]
    assert_paths_agree(raws, outcomes=True)


def encode_outcomes(*messages: dict[str, Any]) -> list[bytes]:
    return [orjson.dumps(m) for m in messages]


def test_a_version_spelled_two_ways_is_one_group() -> None:
    raws = [orjson.dumps(prediction(prediction_id=f"p-{i}")) for i in range(3)]
    raws[1] = raws[1].replace(b'"model_version":"3"', b'"model_version":"\\u0033"')
    raws[2] = raws[2].replace(b'"model_version":"3"', b'"model_version":3')
    assert native_rest(raws) == []
    (batch,) = decode_predictions(raws, MODELS)[0].values()
    assert batch.prediction_id.tolist() == ["p-0", "p-1", "p-2"]
    assert_paths_agree(raws)


def test_labels_share_one_object_per_distinct_value() -> None:
    raws = [orjson.dumps(with_features(plan="pro", region=r)) for r in ("eu", "us", "eu", "eu")]
    (batch,) = decode_predictions(raws, MODELS)[0].values()
    regions = batch.features["region"]
    assert regions.tolist() == ["eu", "us", "eu", "eu"]
    assert regions[0] is regions[2] is regions[3]
    assert np.isnan(batch.features["age"]).sum() == 0


# Byte-level mutations of valid messages: the scanner must never crash, and whatever it decodes
# must be what the reference decodes.
_MUTATION_BYTES = [
    b'"',
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b" ",
    b"0",
    b"-",
    b"e",
    b".",
    b"\xff",
    b"\x00",
]
_mutation = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.just(b"")),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.sampled_from(_MUTATION_BYTES)),
    st.tuples(st.just("replace"), st.integers(0, 10_000), st.sampled_from(_MUTATION_BYTES)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.just(b"")),
)
_base = st.one_of(
    st.sampled_from(COMMON),
    st.builds(
        lambda ts, spend, plan: with_features(monthly_spend=spend, plan=plan) | {"timestamp": ts},
        st.one_of(
            st.sampled_from([T0, "2026-11-21T10:00:00.5Z", "2026-11-21T10:00:00.25-03:30"]), st.floats(0, 7e9)
        ),
        st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**70), 2**70), st.none()),
        st.one_of(st.text(max_size=6), st.integers(-(2**65), 2**65), st.booleans(), st.none()),
    ),
)


def _dumps(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode()  # big integers too, unlike orjson


def _mutate(raw: bytes, mutations: list[tuple[str, int, bytes]]) -> bytes:
    for kind, at, byte in mutations:
        at = at % (len(raw) + 1)
        if kind == "delete":
            raw = raw[:at] + raw[at + 1 :]
        elif kind == "insert":
            raw = raw[:at] + byte + raw[at:]
        elif kind == "replace":
            raw = raw[:at] + byte + raw[at + 1 :]
        else:
            raw = raw[:at]
    return raw


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_base, st.lists(_mutation, max_size=3)), min_size=1, max_size=8))
def test_native_and_reference_agree_on_mutated_predictions(cases: list[tuple[dict, list]]) -> None:
    raws = [_mutate(_dumps(message), mutations) for message, mutations in cases]
    assert_paths_agree(raws)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.fixed_dictionaries(
                {
                    "prediction_id": st.sampled_from(["p-1", "p-2", ""]),
                    "model": st.sampled_from(["churn", "price"]),
                    "timestamp": st.one_of(st.just(T0), st.floats(-1, 8e9)),
                    "outcome": st.one_of(st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=3)),
                }
            ),
            st.lists(_mutation, max_size=2),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_native_and_reference_agree_on_mutated_outcomes(cases: list[tuple[dict, list]]) -> None:
    raws = [_mutate(_dumps(message), mutations) for message, mutations in cases]
    assert_paths_agree(raws, outcomes=True)


def test_a_model_with_many_features_and_no_categoricals() -> None:
    wide = ModelConfig(
        name="wide", task="regression", features=[{"name": f"f{i}", "kind": "numeric"} for i in range(300)]
    )
    message = {
        "prediction_id": "w-1",
        "model": "wide",
        "model_version": "1",
        "timestamp": T0,
        "features": {f"f{i}": i / 7 for i in reversed(range(300))},
        "prediction": 1.5,
    }
    raws = [orjson.dumps(message), orjson.dumps(message | {"prediction_id": "w-2"})]
    scanned = scan_predictions(raws, {"wide": wide}, None, 1_000_000)
    assert scanned.rest.tolist() == []
    (columns,) = scanned.groups.values()
    assert columns["numeric"][1].tolist() == [i / 7 for i in range(300)]
