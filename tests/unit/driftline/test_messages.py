"""The client's messages: what the service will decode, from DataFrames, records or columns."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftline import messages as m
from driftline.client import Client
from monitor.config import parse_config
from monitor.pipeline.events import decode_outcomes, decode_predictions

NOW = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)


class Recorder:
    """A transport that keeps what it was given (the client's own seam, not the service's code)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str], list[bytes]]] = []

    def send(self, topic: str, keys: list[str], messages: list[bytes]) -> list[Any]:
        self.sent.append((topic, keys, messages))
        return []

    def close(self) -> None:
        pass


def client(**kwargs: Any) -> tuple[Client, Recorder]:
    c = Client(url="http://127.0.0.1:1", clock=lambda: NOW, **kwargs)
    c.transport = recorder = Recorder()
    return c, recorder


def decoded(recorder: Recorder) -> list[dict[str, Any]]:
    return [orjson.loads(x) for _, _, batch in recorder.sent for x in batch]


def test_a_dataframe_becomes_messages_with_missing_values_as_null() -> None:
    frame = pd.DataFrame(
        {
            "age": np.array([41.0, np.nan, np.inf]),
            "plan": pd.Series(["pro", None, "basic"], dtype=object),
            "n": np.array([1, 2, 3], dtype=np.int32),
            "vip": np.array([True, False, True]),
            "pred": np.array([1, 0, 1]),
            "proba": np.array([0.9, np.nan, 0.2]),
        }
    )
    c, sent = client()
    ids = c.log_predictions(frame, model="churn", version=3, prediction="pred", score="proba")
    assert len(set(ids)) == 3 and all(uuid.UUID(i).version == 4 for i in ids)
    found = decoded(sent)
    assert found[0] == {
        "prediction_id": ids[0],
        "model": "churn",
        "model_version": "3",
        "timestamp": "2026-05-04T03:02:01Z",
        "features": {"age": 41.0, "plan": "pro", "n": 1, "vip": True},
        "prediction": 1,
        "score": 0.9,
    }
    assert found[1]["features"] == {"age": None, "plan": None, "n": 2, "vip": False}
    assert "score" not in found[1]  # NaN score: absent
    assert found[2]["features"]["age"] is None  # JSON has no infinity


def test_the_service_decodes_what_the_client_builds() -> None:
    cfg = parse_config(
        {
            "models": [
                {
                    "name": "churn",
                    "task": "classification",
                    "features": [{"name": "age", "kind": "numeric"}, {"name": "plan", "kind": "categorical"}],
                },
                {"name": "price", "task": "regression", "features": [{"name": "rooms", "kind": "numeric"}]},
            ]
        }
    )
    models = {x.name: x for x in cfg.models}
    c, sent = client()
    frame = pd.DataFrame({"age": [30.5, np.nan], "plan": ["a", None], "p": [1, 0], "s": [0.7, 0.1]})
    ids = c.log_predictions(frame, model="churn", version="1", prediction="p", score="s")
    c.log_predictions({"rooms": [3, 4]}, model="price", version="1", prediction=np.array([1.5e5, 2e5]))
    c.log_outcomes(ids, np.array([1, 1]), model="churn", timestamps=NOW + timedelta(days=2))
    predictions = [x for topic, _, batch in sent.sent if topic == "predictions" for x in batch]
    outcomes = [x for topic, _, batch in sent.sent if topic == "outcomes" for x in batch]
    batches, rejected = decode_predictions(predictions, models, {"churn": {"1"}, "price": {"1"}})
    assert rejected == []
    churn = batches[("churn", "1")]
    assert list(churn.prediction_id) == ids and list(churn.prediction) == ["1", "0"]
    assert np.isnan(churn.features["age"][1]) and churn.features["plan"][1] is None
    assert list(batches[("price", "1")].prediction) == [1.5e5, 2e5]
    found, rejected = decode_outcomes(outcomes, models)
    assert rejected == [] and list(found["churn"].outcome) == ["1", "1"]
    assert found["churn"].timestamp[0] == int((NOW + timedelta(days=2)).timestamp() * 1000)


def test_names_or_values_for_every_argument() -> None:
    c, sent = client(model="m", version="2")
    at = [NOW - timedelta(hours=1), datetime(2026, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))]
    rows = [{"x": 1.0, "id": "a", "t": at[0], "seg": "eu"}, {"x": 2.0, "id": "b", "t": at[1], "seg": None}]
    ids = c.log_predictions(rows, prediction=[0.5, 0.7], ids="id", timestamps="t", segment="seg")
    assert ids == ["a", "b"]
    found = decoded(sent)
    assert [f["features"] for f in found] == [{"x": 1.0}, {"x": 2.0}]  # named columns are not features
    assert [f["timestamp"] for f in found] == ["2026-05-04T02:02:01Z", "2026-05-04T03:00:00Z"]
    assert found[0]["segment"] == "eu" and "segment" not in found[1]
    c.log_predictions(rows, prediction=[1, 2], features=["x"], timestamps=1_770_000_000)
    assert decoded(sent)[-1]["timestamp"] == 1_770_000_000 and decoded(sent)[-1]["features"] == {"x": 2.0}


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda c: c.log_predictions([{"x": 1}], model="m", version="1", prediction="p"), "no column 'p'"),
        (
            lambda c: c.log_predictions([{"x": 1}], model="m", version="1", prediction=[1, 2]),
            "2 values for 1",
        ),
        (lambda c: c.log_predictions([{"x": 1}], model="m", prediction=[1]), "version"),
        (lambda c: c.log_predictions([{"x": 1}], version="1", prediction=[1]), "model"),
        (
            lambda c: c.log_predictions(
                [{"x": 1}], model="m", version="1", prediction=[1], timestamps=[datetime(2026, 1, 1)]
            ),
            "naive datetime",
        ),
        (lambda c: c.log_predictions("x,y", model="m", version="1"), "expected a DataFrame"),
        (lambda c: c.log_outcomes(["a"], [1, 2], model="m"), "2 values for 1"),
    ],
)
def test_mistakes_are_refused_before_anything_is_sent(call: Any, words: str) -> None:
    c, sent = client()
    with pytest.raises((ValueError, KeyError, TypeError), match=words):
        call(c)
    assert sent.sent == []


def test_batches_of_batch_size_keyed_by_id() -> None:
    c, sent = client(batch_size=4)
    ids = c.log_predictions({"x": list(range(10))}, model="m", version="1", prediction=[0] * 10)
    assert [len(batch) for _, _, batch in sent.sent] == [4, 4, 2]
    assert [k for _, keys, _ in sent.sent for k in keys] == ids


rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "a": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
            "b": st.one_of(st.none(), st.text(max_size=5)),
            "c": st.integers(-(2**40), 2**40),
        }
    ),
    min_size=1,
    max_size=20,
)


@given(rows_strategy)
def test_records_columns_and_frames_give_the_same_messages(rows: list[dict[str, Any]]) -> None:
    """Whatever the input form, the same rows make the same messages (ids given)."""
    ids = [f"id-{i}" for i in range(len(rows))]
    columns = {k: [r[k] for r in rows] for k in ("a", "b", "c")}
    frame = pd.DataFrame(columns).astype({"b": object})
    made = []
    for data in (rows, columns, frame):
        c, sent = client()
        c.log_predictions(data, model="m", version="1", prediction=[1] * len(rows), ids=ids)
        made.append(decoded(sent))
    assert made[0] == made[1] == made[2]
    for message, row in zip(made[0], rows, strict=True):
        a = row["a"]
        assert message["features"]["a"] == (a if a is not None and np.isfinite(a) else None)


def test_plain_unwraps_numpy_and_pandas_missing() -> None:
    assert m.plain(np.float32(1.5)) == 1.5 and type(m.plain(np.int64(3))) is int
    assert m.plain(pd.NA) is None and m.plain(pd.NaT) is None and m.plain(np.nan) is None
    assert m.plain(np.bool_(True)) is True
