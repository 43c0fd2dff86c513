"""All-or-nothing ingest of one group (monitor/pipeline/savepoint.py, Monitor.ingest): a group that
raises leaves its partition exactly as before, on a classifier with scores and on a regressor."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import orjson
import pytest

from monitor.core.sketch import NumericSketch, ValueCounts
from monitor.pipeline.events import decode_outcomes, decode_predictions
from monitor.pipeline.monitor import Batch, GroupFailure, Monitor
from monitor.pipeline.savepoint import fork
from tests.unit import poison_world as world
from tests.unit.partition_state import state_bytes

CONFIG = world.config()
BASELINES = world.baselines(CONFIG)


def decoded(model: str, hour: int, n: int, seed: int, prefix: str = "") -> Batch:
    predictions, outcomes = world.messages(model, hour, n, np.random.default_rng(seed), prefix)
    p, _ = decode_predictions(predictions, {m.name: m for m in CONFIG.models})
    o, _ = decode_outcomes(outcomes, {m.name: m for m in CONFIG.models})
    return Batch(p, o)


def state(monitor: Monitor) -> bytes:
    return state_bytes(monitor, join=False)  # the join is not part of a savepoint (savepoint.py)


def test_a_fork_shares_nothing_it_could_change() -> None:
    monitor = Monitor(CONFIG, BASELINES)
    assert monitor.ingest(decoded("churn", 0, 80, 1)) == []
    window = next(iter(monitor.streams[("churn", "1")].windows.values()))
    before = orjson.dumps(window.to_state(), option=orjson.OPT_SERIALIZE_NUMPY)
    copy = fork(window)
    batch = decoded("churn", 0, 40, 2, prefix="more-").predictions[("churn", "1")]
    copy.sketch.update(batch.features, batch.prediction, batch.score)
    copy.performance.update(batch.prediction, batch.prediction, batch.score)
    assert copy.estimation is not None and copy.estimation.estimator is window.estimator  # shared: fixed
    copy.estimation.update(batch.prediction, batch.score)
    copy.closed = True
    assert orjson.dumps(window.to_state(), option=orjson.OPT_SERIALIZE_NUMPY) == before
    assert copy.sketch.n_rows == window.sketch.n_rows + 40


def test_a_forked_sketch_shares_nothing_it_could_change() -> None:
    """The sketches' own forks (`__fork__`): a numeric one with its distinct values tracked, a
    categorical one with unseen keys; updating the fork leaves the original as it was."""
    numeric = NumericSketch(np.array([0.0, 1.0, 2.0]), values=ValueCounts((0.0, 1.0), max_unseen=3))
    numeric.update(np.array([0.0, 1.0, 1.0, 5.0, np.nan]))
    categorical = ValueCounts(("a", "b"), max_unseen=3)
    categorical.update(np.array(["a", "z", None], dtype=object))
    for sketch, more in (
        (numeric, np.array([2.0, 7.0, 1.0, np.nan])),
        (categorical, np.array(["b", "y", "z", None], dtype=object)),
    ):
        before = sketch.to_state()
        copy = fork(sketch)
        copy.update(more)
        assert sketch.to_state() == before
        assert copy.to_state() != before


def stream_state(monitor: Monitor, model: str) -> bytes:
    return orjson.dumps(monitor.streams[(model, "1")].to_state(), option=orjson.OPT_SERIALIZE_NUMPY)


@pytest.mark.parametrize("model", world.MODELS)
def test_a_prediction_group_that_raises_halfway_is_undone(model: str) -> None:
    monitor = Monitor(CONFIG, BASELINES)
    assert monitor.ingest(decoded(model, 0, 80, 1)) == []
    before = stream_state(monitor, model)
    bad = decoded(model, 0, 40, 2, prefix="bad-").predictions[(model, "1")]
    last = list(world.FEATURES[model])[-1]
    bad.features[last] = bad.features[last][:-1]  # one value short: fails after the other features
    other = next(m for m in world.MODELS if m != model)
    good = decoded(other, 0, 30, 3).predictions[(other, "1")]
    (failure,) = monitor.ingest(Batch({(model, "1"): bad, (other, "1"): good}))
    assert (failure.model, failure.model_version) == (model, "1")
    assert isinstance(failure, GroupFailure) and isinstance(failure.error, IndexError)
    assert stream_state(monitor, model) == before
    assert monitor.counters.get("predictions", model=model, model_version="1") == 80
    # The other group of the batch went in: a group fails alone.
    assert monitor.counters.get("predictions", model=other, model_version="1") == 30


def test_a_prediction_group_with_a_score_the_estimator_refuses_is_undone() -> None:
    # A score outside [0, 1] (the decoder rejects it): the estimation sums raise after the sketch
    # took the rows.
    monitor = Monitor(CONFIG, BASELINES)
    assert monitor.ingest(decoded("churn", 0, 80, 1)) == []
    before = state(monitor)
    batch = decoded("churn", 0, 40, 2, prefix="bad-")
    batch.predictions[("churn", "1")].score[5] = 1.5
    (failure,) = monitor.ingest(Batch(batch.predictions))
    assert "probabilities" in str(failure.error)
    assert state(monitor) == before


def test_an_outcome_group_that_raises_is_undone() -> None:
    # A score outside [0, 1] that reached the join (the decoder rejects it; a baseline without an
    # estimator lets it past the predictions): the classification accumulator raises when the
    # outcome joins, after the counters moved.
    baselines = {key: replace(b, estimator=None) for key, b in BASELINES.items()}
    monitor = Monitor(CONFIG, baselines)
    batch = decoded("churn", 0, 80, 1)
    batch.predictions[("churn", "1")].score[5] = 1.5
    assert monitor.ingest(Batch(batch.predictions)) == []
    before = state(monitor)
    (failure,) = monitor.ingest(Batch(outcomes=batch.outcomes))
    assert (failure.model, failure.model_version) == ("churn", None)
    assert "probabilities" in str(failure.error)
    assert state(monitor) == before
    assert monitor.ingest(decoded("price", 0, 30, 3)) == []  # the partition goes on
