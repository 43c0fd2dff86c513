"""The estimation sums of a window (monitor.core.estimation) in the stream: merged across
partitions like the other accumulators, checkpointed with the window and restored, on a scored
classifier (CBPE) and on a regressor (DLE)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import orjson
import pytest

from monitor.evaluation.results import WindowResult
from monitor.pipeline.partition_state import partition_delta
from monitor.pipeline.raw_batch import RawBatch
from monitor.pipeline.windows import WindowState
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from monitor.state.partitions import restore_partition, save_partitions
from monitor.state.sqlite import SqliteStateStore
from tests.unit import estimation_world as world

CONFIG = world.config()
BASELINES = world.baselines(CONFIG)
MODELS = ("churn", "price")


def service() -> Service:
    return Service(CONFIG, BASELINES, MemoryDeadLetters(), clock=lambda: world.NOW)


def hour_messages(model: str, hour: int, n: int = 600) -> list[bytes]:
    return world.messages(model, hour, n, np.random.default_rng(hour))[0]


def estimates(results: list[WindowResult], model: str) -> dict[int, dict[str, tuple[float, float, float]]]:
    out = {}
    for r in results:
        if r.model == model:
            assert r.estimated is not None, "a window of a model with an estimator carries an estimate"
            metrics = r.estimated.metrics.items()
            out[int(r.window_start.timestamp())] = {k: (m.value, m.lower, m.upper) for k, m in metrics}
    return out


@pytest.mark.parametrize("model", MODELS)
def test_partitions_merge_to_the_estimate_of_one(model: str) -> None:
    whole, split = service(), service()
    for hour in range(3):
        messages = hour_messages(model, hour)
        whole.handle(RawBatch(predictions=messages))
        split.handle(RawBatch(predictions=messages[::2]), partition=0)
        split.handle(RawBatch(predictions=messages[1::2]), partition=1)
    one, two = estimates(whole.evaluate(flush=True), model), estimates(split.evaluate(flush=True), model)
    assert len(one) == 3 and one.keys() == two.keys()
    for start, metrics in one.items():
        assert metrics.keys() == two[start].keys() and metrics
        for name, values in metrics.items():
            assert two[start][name] == pytest.approx(values, rel=1e-9), (start, name)


def window(svc: Service, model: str) -> WindowState:
    (only,) = svc.monitor.streams[(model, "1")].windows.values()
    return only


@pytest.mark.parametrize("model", MODELS)
def test_estimation_sums_are_checkpointed_with_their_window_and_restored(tmp_path: Path, model: str) -> None:
    live = service()
    messages = hour_messages(model, 0)
    live.handle(RawBatch(predictions=messages[:300]))
    store = SqliteStateStore(tmp_path / "state.db")
    save_partitions(store, "g", [(0, {}, live.monitor)])
    # More rows of the same window: its fingerprint moves, so the next checkpoint writes it again.
    live.handle(RawBatch(predictions=messages[300:]))
    key = (model, "1", window(live, model).start)
    assert key in partition_delta(live.monitor).windows
    save_partitions(store, "g", [(0, {}, live.monitor)])

    restarted = service()
    restore_partition(store, "g", store.load("g", [0])[0], restarted.monitor)
    before, after = window(live, model), window(restarted, model)
    assert before.estimation is not None and after.estimation is not None
    assert after.estimation.to_state() == before.estimation.to_state()
    assert after.estimator is BASELINES[(model, "1")].performance_estimator
    assert estimates(restarted.evaluate(flush=True), model) == estimates(live.evaluate(flush=True), model)
    store.close()


def test_a_window_stored_before_estimates_restores_without_one_and_merges_to_none() -> None:
    live = service()
    live.handle(RawBatch(predictions=hour_messages("churn", 0)))
    current = window(live, "churn")
    state = orjson.loads(orjson.dumps(current.to_state(), option=orjson.OPT_SERIALIZE_NUMPY))
    del state["estimation"]
    old = WindowState.from_state(state, BASELINES[("churn", "1")].performance_estimator)
    assert old.estimation is None
    # Merged with a share that has its sums, the window has none: an estimate over part of its
    # rows would pass for one over all of them.
    assert current.merge(old).estimation is None and old.merge(current).estimation is None
    assert current.merge(current).estimation is not None


def test_a_model_without_an_estimator_accumulates_nothing() -> None:
    baselines = {key: replace(b, estimator=None) for key, b in BASELINES.items()}
    svc = Service(CONFIG, baselines, MemoryDeadLetters(), clock=lambda: world.NOW)
    svc.handle(RawBatch(predictions=hour_messages("churn", 0)))
    assert window(svc, "churn").estimation is None
    (result,) = [r for r in svc.evaluate(flush=True) if r.model == "churn"]
    assert result.estimated is None


def test_shares_of_a_window_built_on_different_estimators_merge_to_none() -> None:
    # A window open across a baseline swap: one partition's share on the old estimator, the
    # other's on the new one. Their sums do not add up to one estimate, and do not raise either.
    other = world.baselines(CONFIG, seed=7)[("churn", "1")].performance_estimator
    assert other is not None
    live = service()
    live.handle(RawBatch(predictions=hour_messages("churn", 0)))
    current = window(live, "churn")
    swapped = WindowState.from_state(current.to_state(), other)
    assert swapped.estimation is not None and current.merge(swapped).estimation is None
