"""No single message can stop the service (monitor/service.py): the issue's poison messages on a
classifier with scores and on a regressor, an ingest that fails and is undone, a window that
cannot be evaluated, and a Hypothesis run of the whole service (decode, ingest, evaluate, export)
with extreme values mixed into valid traffic."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest

from monitor.pipeline.events import PredictionBatch
from monitor.pipeline.monitor import Batch
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from monitor.sinks.prometheus import registry_for
from tests.unit import poison_world as world

CONFIG = world.config()
BASELINES = world.baselines(CONFIG)


def fresh() -> Service:
    return Service(CONFIG, BASELINES, MemoryDeadLetters(), clock=lambda: world.NOW)


def traffic(service: Service, hours: range, n: int = 120, seed: int = 0) -> int:
    """Valid predictions and outcomes of both models in `hours`; returns how many messages."""
    rng = np.random.default_rng(seed)
    sent = 0
    for hour in hours:
        for model in world.MODELS:
            predictions, outcomes = world.messages(model, hour, n, rng)
            assert service.handle(RawBatch(predictions=predictions, outcomes=outcomes)) == []
            sent += len(predictions) + len(outcomes)
    return sent


def accepted(service: Service) -> int:
    counters = service.counters
    return counters.total("predictions") + counters.total("outcomes")


def evaluated(service: Service) -> dict[str, set[int]]:
    """Hours of the traffic with a result, per model."""
    hours: dict[str, set[int]] = {model: set() for model in world.MODELS}
    for model, version in service.results.streams():
        for result in service.results.windows(model, version):
            hours[model].add((int(result.window_start.timestamp()) - world.START_S) // world.HOUR_S)
    return hours


def test_the_issue_messages_are_dead_lettered_and_nothing_else_changes() -> None:
    service = fresh()
    sent = traffic(service, range(0, 3))
    poison = {model: world.poison(model, 1) for model in world.MODELS}
    # One batch each, after the window already holds rows: 1e200 raised OverflowError in the
    # moments merge, and +-1e308 made the window impossible to evaluate.
    for model in world.MODELS:
        for kind, message in poison[model].items():
            (reject,) = service.handle(RawBatch(predictions=[message]))
            expected = {"future": "future_timestamp", "inf_text": "wrong_type"}.get(
                kind, "value_out_of_range"
            )
            assert (reject.reason, reject.raw, reject.topic) == (expected, message, "predictions")
            sent += 1
    # The year-2199 prediction did not move the watermark: the next hours are on time.
    sent += traffic(service, range(3, 6), seed=1)
    assert service.counters.total("late_predictions") == 0
    service.evaluate(flush=True)
    assert evaluated(service) == {model: set(range(6)) for model in world.MODELS}
    assert service.evaluation_errors.counts() == {}
    rejected = service.counters.total("rejected")
    assert rejected == len(service.dead_letters) == 10
    assert accepted(service) + rejected == sent


@pytest.mark.parametrize("model", world.MODELS)
def test_an_ingest_that_fails_is_undone_dead_lettered_and_replayable(model: str, caplog: Any) -> None:
    # No value the decoder admits makes ingest fail, so a failure is a bug: here a window's
    # state is corrupted by hand (the last feature's counts lose a slot), which makes the
    # group's update raise after the other features were updated.
    service = fresh()
    sent = traffic(service, range(0, 2))
    stream = service.monitor.streams[(model, "1")]
    window = stream.windows[world.START_S * 1000 + 3_600_000]
    last = list(world.FEATURES[model])[-1]
    window.sketch.features[last].counts = window.sketch.features[last].counts[:-1]
    before = orjson.dumps(stream.to_state(), option=orjson.OPT_SERIALIZE_NUMPY)
    counters_before = service.counters
    other = next(m for m in world.MODELS if m != model)
    rng = np.random.default_rng(7)
    bad, _ = world.messages(model, 1, 30, rng, prefix="again-")
    good, good_outcomes = world.messages(other, 2, 30, rng, prefix="again-")
    raw = RawBatch(predictions=bad + good, outcomes=good_outcomes)
    with caplog.at_level(logging.ERROR, logger="driftline.service"):
        rejected = service.handle(raw)
    assert [(r.reason, r.position, r.topic) for r in rejected] == [
        ("internal_error", at, "predictions") for at in range(30)
    ]
    assert all(f"model {model!r}" in r.detail and "ValueError" in r.detail for r in rejected)
    assert [r.raw for r in rejected] == bad
    assert any(model in record.getMessage() for record in caplog.records)
    # All or nothing: the failed group left its stream and its counters as they were ...
    assert orjson.dumps(stream.to_state(), option=orjson.OPT_SERIALIZE_NUMPY) == before
    counters = service.counters
    for name in ("predictions", "duplicate_predictions", "late_predictions"):
        assert counters.get(name, model=model, model_version="1") == counters_before.get(
            name, model=model, model_version="1"
        )
    # ... and the other model's messages went in.
    assert counters.get("predictions", model=other, model_version="1") == 30 + 2 * 120
    assert counters.get("rejected", reason="internal_error", topic="predictions") == 30
    assert accepted(service) + counters.total("rejected") == sent + len(raw)
    # Replayed after a restart (a checkpoint older than the batch), it fails the same way, quietly.
    again = service.handle(RawBatch(predictions=bad))
    assert [r.reason for r in again] == ["internal_error"] * 30


def test_a_window_that_cannot_be_evaluated_does_not_stop_the_others() -> None:
    # +-1e308 in one window, as the decoder let through before: fed to the monitor directly (the
    # decoder now rejects them), the window's evaluation raises; the other windows of the pass
    # are evaluated, and the failure is logged, counted and listed until the window changes.
    service = fresh()
    traffic(service, range(0, 4))  # more rows than window_sample: the binned path
    start = world.START_S + 3 * world.HOUR_S  # the open window: rows for closed ones would be late
    extreme = service.monitor.streams[("price", "1")]
    before = len(extreme.windows)
    features = {"area": np.array([1e308, -1e308]), "rooms": np.array([3.0, 2.0])}
    batch = world_prediction_batch("price", start, features)
    assert service.monitor.ingest(Batch(predictions={("price", "1"): batch})) == []
    assert len(extreme.windows) == before and service.counters.total("late_predictions") == 0
    results = service.evaluate(flush=True)
    assert {(r.model, int(r.window_start.timestamp())) for r in results} == {
        (m, world.START_S + h * world.HOUR_S) for m in world.MODELS for h in range(4)
    } - {("price", start)}
    (failed,) = service.evaluation_errors.failing("price", "1")
    assert failed.reason == "invalid_data" and failed.window_start == datetime.fromtimestamp(start, UTC)
    assert service.evaluation_errors.counts() == {("price", "invalid_data"): 1}
    registry = registry_for(service.results, service.view)
    text = generate_latest(registry).decode()
    assert 'driftline_evaluation_errors_total{model="price",reason="invalid_data"} 1.0' in text
    assert service.evaluate() == []  # unchanged: not retried every tick
    assert service.evaluation_errors.counts() == {("price", "invalid_data"): 1}
    # Changed (one more row): evaluated again, and still failing, counted again.
    more = world_prediction_batch("price", start, {"area": np.array([80.0]), "rooms": np.array([2.0])})
    more.prediction_id = np.array(["direct-more"], dtype=object)
    assert service.monitor.ingest(Batch(predictions={("price", "1"): more})) == []
    assert service.evaluate() == []
    assert service.evaluation_errors.counts() == {("price", "invalid_data"): 2}
    assert len(service.evaluation_errors.failing("price", "1")) == 1


def world_prediction_batch(model: str, start_s: int, features: dict[str, np.ndarray]) -> PredictionBatch:
    n = len(next(iter(features.values())))
    columns = dict(features)
    for name, kind in world.FEATURES[model].items():
        if name not in columns:
            columns[name] = np.full(n, np.nan) if kind == "numeric" else np.full(n, None, dtype=object)
    return PredictionBatch(
        model=model,
        model_version="1",
        prediction_id=np.array([f"direct-{i}" for i in range(n)], dtype=object),
        timestamp=np.full(n, start_s * 1000 + 1000, dtype=np.int64),
        features=columns,
        prediction=np.full(n, 100_000.0),
        score=np.full(n, np.nan),
        segment=np.full(n, None, dtype=object),
    )


# ------------------------------------------------------------------ the whole service, generated

_extreme = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),  # any finite float64, 1e308 included
    st.sampled_from([1e100, -1e100, 1.0000000000000002e100, 1e200, -1e308, 5e-324, -0.0]),
    st.sampled_from(["Infinity", "-Infinity", "NaN", "inf", "1e999", ""]),  # infinities in strings
)
_when = st.one_of(
    st.integers(0, 5),  # an hour of the normal traffic
    st.sampled_from(["2199-12-31T23:59:59Z", "2099-01-01T00:00:00+05:00", "2026-06-01T12:06:00Z"]),
    st.floats(1.8e9, 7.2e9),  # epoch seconds from 2027 to 2198
    st.sampled_from(["1970-01-01T00:00:00Z", "1999-12-31T23:00:00-01:00", 0.0, 86_400.5]),  # far past
)
_odd = st.tuples(
    st.sampled_from(world.MODELS),
    st.sampled_from(["feature", "prediction", "outcome", "score"]),
    _extreme,
    _when,
    st.floats(0, 1),  # where it goes: within its own hour's traffic if dated in one, else anywhere
)
# At most one valid prediction dated hours ahead of the traffic around it (but not of the clock):
# alone, it must not make the predictions after it late (windows.running_watermark).
_ahead = st.none() | st.tuples(st.sampled_from(world.MODELS), st.integers(0, 3), st.integers(1, 5))


def _odd_message(i: int, model: str, field: str, value: Any, when: Any) -> tuple[str, bytes]:
    t = world.START_S + when * world.HOUR_S + 30 if isinstance(when, int) else when
    row = world.rows(model, 1, np.random.default_rng(i)).to_dict("records")[0]
    message = world.prediction(model, f"odd-{i}", t, row)
    if field == "outcome":
        outcome = {"prediction_id": f"odd-{i}", "model": model, "timestamp": t, "outcome": value}
        return "outcomes", orjson.dumps(outcome)
    if field == "feature":
        message["features"][next(iter(world.FEATURES[model]))] = value
    elif field == "score" and model == "churn":
        message["score"] = value
    else:
        message["prediction"] = value
    return "predictions", orjson.dumps(message)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    odd=st.lists(_odd, max_size=25),
    ahead=_ahead,
    cuts=st.lists(st.integers(5, 300), min_size=1, max_size=4),
)
def test_generated_poison_mixed_into_valid_traffic_never_escapes(
    odd: list[Any], ahead: tuple[str, int, int] | None, cuts: list[int]
) -> None:
    service = fresh()
    rng = np.random.default_rng(len(odd))
    hours: list[list[tuple[str, bytes]]] = []
    for hour in range(6):
        messages: list[tuple[str, bytes]] = []
        for model in world.MODELS:
            predictions, outcomes = world.messages(model, hour, 60, rng)  # > window_sample
            messages += [("predictions", m) for m in predictions] + [("outcomes", m) for m in outcomes]
        hours.append(messages)
    for i, (model, field, value, when, where) in enumerate(odd):
        home = hours[when] if isinstance(when, int) else hours[int(where * 5.99)]
        home.insert(int(where * len(home)), _odd_message(i, model, field, value, when))
    if ahead is not None:
        model, hour, hours_ahead = ahead
        row = world.rows(model, 1, rng).to_dict("records")[0]
        t = world.START_S + min(hour + hours_ahead, 5) * world.HOUR_S + 120
        hours[hour].insert(1, ("predictions", orjson.dumps(world.prediction(model, "ahead", t, row))))
    stream = [message for messages in hours for message in messages]
    at, step = 0, 0
    while at < len(stream):  # batches of generated sizes
        size = cuts[step % len(cuts)]
        raw = RawBatch()
        for topic, message in stream[at : at + size]:
            raw.add([message], topic)  # type: ignore[arg-type]
        service.handle(raw)
        at, step = at + size, step + 1
        if step % 10 == 0:
            service.evaluate()
    service.evaluate(flush=True)
    generate_latest(registry_for(service.results, service.view))  # the export path too
    # Every message counted once, as accepted or dead-lettered.
    rejected = service.counters.total("rejected")
    assert accepted(service) + rejected == len(stream)
    assert rejected == len(service.dead_letters)
    assert "internal_error" not in {r.reason for r in service.dead_letters.rejected}
    # Every window of the valid traffic is evaluated, no evaluation failed, and every statistic
    # and metric is a number (values past the accepted range would make some inf or NaN).
    assert service.evaluation_errors.counts() == {}
    note(f"evaluated hours: {evaluated(service)}")
    assert all(set(range(6)) <= seen for seen in evaluated(service).values())
    for model, version in service.results.streams():
        for result in service.results.windows(model, version):
            numbers = [v for f in result.drift.features for v in f.statistics.values()]
            numbers += [v for v in result.performance.metrics.values() if v is not None]
            assert np.isfinite(numbers).all(), (model, result.window_start, numbers)
