"""A WindowResult as a stored record and back: nothing the API, Prometheus or a report reads is
lost, for a classifier with scores and for a regressor, non-finite floats included."""

from __future__ import annotations

import math
from dataclasses import fields, is_dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.reservoir import RowReservoir
from monitor.errors import DataError
from monitor.evaluation.result_json import window_document
from monitor.evaluation.result_record import decode_result, decode_sample, encode_result, encode_sample
from monitor.evaluation.results import WindowResult
from tests.unit import results_world as world


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> list[WindowResult]:
    """Four hours of both models (drift from hour 2), every window evaluated once."""
    service = world.service(world.config(tmp_path_factory.mktemp("record")))
    world.feed(service, range(4), 300, drift_from=2)
    return service.evaluate(flush=True)


def same(a: Any, b: Any, path: str = "") -> list[str]:
    """Paths where `a` and `b` differ; NaN equals NaN, a float equals the same int."""
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return [] if a is b else [path]
        equal = (math.isnan(a) and math.isnan(b)) or a == b
        return [] if equal else [f"{path}: {a!r} != {b!r}"]
    if is_dataclass(a) and not isinstance(a, type):
        if type(a) is not type(b):
            return [f"{path}: {type(a).__name__} != {type(b).__name__}"]
        return [
            d
            for f in fields(a)
            if f.compare
            for d in same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
        ]
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(a)} != {sorted(b)}"]
        return [d for k in a for d in same(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in same(x, y, f"{path}.{i}")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def test_both_kinds_of_model_come_back_equal(evaluated: list[WindowResult]) -> None:
    assert {r.model for r in evaluated} == {"churn", "price"}
    assert any("roc_auc" in r.performance.metrics for r in evaluated)  # the classifier's scores
    assert any("mae" in r.performance.metrics for r in evaluated)  # the regressor
    # Both carry an estimate without outcomes (CBPE, DLE), compared with the realised metrics.
    assert {r.estimated.method for r in evaluated if r.estimated is not None} == {"cbpe", "dle"}
    assert all(r.estimated is not None and r.estimated.versus_realised for r in evaluated)
    for result in evaluated:
        back = decode_result(encode_result(result))
        assert back == result  # the dataclasses' own equality: every field but the sample
        assert window_document(back) == window_document(result)
        assert back.sample is None
        assert back.label_delay is not None and back.label_delay.count == result.performance.n_pairs


def test_a_record_is_the_api_document_plus_what_json_cannot_hold(evaluated: list[WindowResult]) -> None:
    result = evaluated[-1]
    feature = result.drift.features[0]
    odd = replace(
        result,
        drift=replace(
            result.drift,
            features=(
                replace(feature, value=math.nan, statistics={"psi": math.inf}),
                *result.drift.features[1:],
            ),
        ),
        performance=replace(result.performance, metrics={**result.performance.metrics, "r2": -math.inf}),
    )
    record = orjson.loads(encode_result(odd))
    assert record["window"] == window_document(odd)  # what the API serves, as it serves it
    assert record["window"]["drift"]["features"][0]["value"] is None
    assert record["nonfinite"] == {
        "/drift/features/0/value": "nan",
        "/drift/features/0/statistics/psi": "inf",
        "/performance/metrics/r2": "-inf",
    }
    back = decode_result(encode_result(odd))
    assert same(back, odd) == []
    assert math.isnan(back.drift.features[0].value) and back.performance.metrics["r2"] == -math.inf


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=64)


@given(
    value=finite_or_not,
    threshold=finite_or_not,
    p_value=st.none() | finite_or_not,
    statistics=st.dictionaries(st.sampled_from(["psi", "hellinger", "x.y", "a/b~c"]), finite_or_not),
    missing=finite_or_not,
    unseen=st.none() | finite_or_not,
    share=finite_or_not,
    metrics=st.dictionaries(
        st.sampled_from(["accuracy", "mae", "r2", "log_loss"]), st.none() | finite_or_not
    ),
)
def test_any_float_survives(
    evaluated: list[WindowResult],
    value: float,
    threshold: float,
    p_value: float | None,
    statistics: dict[str, float],
    missing: float,
    unseen: float | None,
    share: float,
    metrics: dict[str, float | None],
) -> None:
    result = evaluated[0]
    feature = replace(
        result.drift.features[-1], value=value, threshold=threshold, p_value=p_value, statistics=statistics
    )
    quality = replace(result.drift.quality[0], missing_ratio=missing, unseen_ratio=unseen)
    drift = replace(
        result.drift,
        features=(*result.drift.features[:-1], feature),
        quality=(quality, *result.drift.quality[1:]),
        drift_share=share,
        prediction=feature,
    )
    changed = replace(result, drift=drift, performance=replace(result.performance, reference=metrics))
    raw = encode_result(changed)
    assert same(decode_result(raw), changed) == []
    assert encode_result(decode_result(raw)) == raw


def test_later_sections_are_ignored_and_a_bad_record_is_named(evaluated: list[WindowResult]) -> None:
    record = orjson.loads(encode_result(evaluated[0]))
    record["episodes"] = [{"started_at": "2026-05-04T02:10:00Z", "ended_at": None}]
    assert decode_result(orjson.dumps(record)) == evaluated[0]
    with pytest.raises(DataError, match="window 7 has format 2; this driftline reads format 1"):
        decode_result(orjson.dumps(record | {"format": 2}), "window 7")
    del record["window"]["drift"]
    with pytest.raises(DataError, match="window 7 is corrupt: KeyError"):
        decode_result(orjson.dumps(record), "window 7")
    with pytest.raises(DataError, match="is corrupt"):
        decode_result(b"{not json", "window 7")


def test_a_record_written_before_estimates_loads_without_one(evaluated: list[WindowResult]) -> None:
    record = orjson.loads(encode_result(evaluated[0]))
    del record["window"]["estimated"]
    old = decode_result(orjson.dumps(record))
    assert old.estimated is None and old == replace(evaluated[0], estimated=None)


def test_the_row_sample_comes_back_with_missing_values_and_categories(evaluated: list[WindowResult]) -> None:
    for result in evaluated:
        assert result.sample is not None and len(result.sample) == 300
        back = decode_sample(encode_sample(result.sample))
        assert back.n_seen == result.sample.n_seen and np.array_equal(back.keys, result.sample.keys)
        for name, column in result.sample.columns.items():
            assert column.dtype == back.columns[name].dtype
            assert column.tolist() == back.columns[name].tolist() or np.allclose(
                column.astype(float), back.columns[name].astype(float), equal_nan=True
            )
    sample = RowReservoir(4)
    sample.update({"x": np.array([1.5, np.nan]), "c": np.array(["a", None], dtype=object)}, 2)
    back = decode_sample(encode_sample(sample))
    assert np.array_equal(back.columns["x"], sample.columns["x"], equal_nan=True)
    assert np.isnan(back.columns["x"]).sum() == 1 and sorted(back.columns["c"].tolist(), key=str) == [
        None,
        "a",
    ]
    assert back.columns["c"].tolist() == sample.columns["c"].tolist()
    with pytest.raises(DataError, match="sample of window 9 is corrupt"):
        decode_sample(b"garbage", "sample of window 9")


def test_times_keep_their_microseconds(evaluated: list[WindowResult], tmp_path: Path) -> None:
    at = datetime.fromisoformat("2026-05-06T01:02:03.456789+00:00")
    back = decode_result(encode_result(replace(evaluated[0], evaluated_at=at, concept_drift_at=at)))
    assert back.evaluated_at == at and back.concept_drift_at == at and back.evaluated_at.tzinfo is not None
