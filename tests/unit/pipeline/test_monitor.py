"""Golden and exactly-once tests of the streaming core (Monitor), on seeded streams."""

from datetime import UTC, datetime

import numpy as np
import pytest

from monitor.baselines.store import BaselineStore
from monitor.pipeline.monitor import Batch, Monitor
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from monitor.state.partitions import restore_partition, save_partitions
from monitor.state.sqlite import SqliteStateStore
from tests.unit import stream_world as world

NOW = datetime(2026, 1, 1, tzinfo=UTC)
H = world.HOUR_MS


def _window_batch(
    index: int,
    n: int,
    rng: np.random.Generator,
    shift: float = 0.0,
    concept: bool = False,
    outcome_delay_ms: int | None = 30 * 60_000,
):
    frame = world.rows(n, rng, shift, concept)
    ids = [f"{index}-{j}" for j in range(n)]
    ts = index * H + np.sort(rng.integers(0, H, n))
    preds = world.predictions(frame, ids, ts)
    outs = None if outcome_delay_ms is None else world.outcomes(frame, ids, ts + outcome_delay_ms)
    return preds, outs


class Pipeline:
    """A Monitor fed columnar batches directly, evaluated by the service's evaluator."""

    def __init__(self, **model: object) -> None:
        cfg = world.config(**model)
        self.service = Service(cfg, {("m", "1"): world.baseline(cfg)}, MemoryDeadLetters(), clock=lambda: NOW)
        self.monitor: Monitor = self.service.monitor
        self.streams = self.monitor.streams
        self.counters = self.monitor.counters

    def ingest(self, batch: Batch) -> None:
        self.monitor.ingest(batch)
        self.counters = self.monitor.counters

    def evaluate_due(self, now: object = None, flush: bool = False) -> list:
        return self.service.evaluate(flush=flush)


def _monitor(**model: object) -> Pipeline:
    return Pipeline(**model)


def _run(monitor: Pipeline, windows: list[tuple]) -> list:
    results = []
    for preds, outs in windows:
        monitor.ingest(Batch(predictions={("m", "1"): preds}))
        if outs is not None:
            monitor.ingest(Batch(outcomes={"m": outs}))
        results += monitor.evaluate_due(NOW)
    return results + monitor.evaluate_due(NOW, flush=True)


def _by_window(results: list) -> dict[int, object]:
    latest = {}
    for r in results:
        latest[int(r.window_start.timestamp() * 1000) // H] = r
    return latest


def test_feature_drift_caught_in_first_window_after_change_and_never_before() -> None:
    rng = np.random.default_rng(11)
    windows = [_window_batch(i, 3000, rng, shift=0.6 if i >= 6 else 0.0) for i in range(10)]
    results = _by_window(_run(_monitor(), windows))
    drifted = {i: r.drift.drifted_features for i, r in results.items()}
    assert all(drifted[i] == () for i in range(6)), drifted
    assert all(drifted[i] == ("x1",) for i in range(6, 10)), drifted


def test_concept_drift_caught_by_error_stream_while_features_stay_put() -> None:
    rng = np.random.default_rng(5)
    windows = [_window_batch(i, 2000, rng, concept=i >= 5) for i in range(10)]
    monitor = _monitor()
    results = _by_window(_run(monitor, windows))
    assert all(not r.drift.drifted_features for r in results.values())
    (episode,) = monitor.service.evaluator.concept.episodes("m", "1")
    # Error rate 0.10 -> 0.30, outcomes 30 min after their prediction: a few hundred pairs of the
    # new concept (a quarter of an hour of outcomes) make the alarm, in the first drifted window.
    assert 5 * H + 30 * 60_000 <= episode.start < 6 * H and episode.open
    assert [i for i, r in sorted(results.items()) if r.concept_drift] == list(range(5, 10))
    assert all(
        r.concept_drift_at == datetime.fromtimestamp(episode.start / 1000, UTC)
        for i, r in results.items()
        if i >= 5
    )
    assert not any(r.performance.degraded for i, r in results.items() if i < 5)
    assert all(r.performance.degraded for i, r in results.items() if i >= 5)


def test_concept_alarm_date_does_not_move_with_how_inputs_interleave() -> None:
    # Outcomes come 0-4 h after their prediction. Read window by window, or with every outcome
    # read before any prediction (a consumer far ahead on the outcomes topic: all are held, then
    # join in prediction order), the alarm gets the same date: pairs are dated by their outcome
    # time, and buckets are complete only once the input read least far has passed them. Folded
    # as soon as the outcomes' own watermark passed them, every pair of the second order would
    # have been read as late and dated at the end of the stream.
    starts = []
    for outcomes_first in (False, True):
        rng = np.random.default_rng(8)
        pipeline = _monitor()
        predictions, outcomes = [], []
        for i in range(10):
            frame = world.rows(2000, rng, concept=i >= 5)
            ids = [f"{i}-{j}" for j in range(2000)]
            ts = i * H + np.sort(rng.integers(0, H, 2000))
            predictions.append(world.predictions(frame, ids, ts))
            outcomes.append(world.outcomes(frame, ids, ts + rng.integers(0, 4 * H, 2000)))
        if outcomes_first:
            for outs in outcomes:
                pipeline.ingest(Batch(outcomes={"m": outs}))
                pipeline.evaluate_due(NOW)  # the service evaluates every few seconds as it reads
            for preds in predictions:
                pipeline.ingest(Batch(predictions={("m", "1"): preds}))
                pipeline.evaluate_due(NOW)
        else:
            for preds, outs in zip(predictions, outcomes, strict=True):
                pipeline.ingest(Batch(predictions={("m", "1"): preds}, outcomes={"m": outs}))
                pipeline.evaluate_due(NOW)
        pipeline.evaluate_due(NOW, flush=True)
        assert pipeline.counters.total("joined") == 20_000
        status = pipeline.service.evaluator.concept.status("m", "1")
        assert status is not None and status["pairs"] == 20_000
        episodes = pipeline.service.evaluator.concept.episodes("m", "1")
        assert len(episodes) == 1
        starts.append(episodes[0].start)
    # The degraded pairs' outcomes come from 5 h on, spread over 4 h: the alarm within 2 h of that.
    assert starts[0] == starts[1] and 5 * H <= starts[0] < 7 * H


def test_improvement_never_alarms() -> None:
    rng = np.random.default_rng(6)
    monitor = _monitor()
    frames = []
    for i in range(6):
        preds, outs = _window_batch(i, 2000, rng)
        outs.outcome = preds.prediction.copy()  # the model becomes always right
        frames.append((preds, outs))
    _run(monitor, frames)
    assert monitor.service.evaluator.concept.episodes("m", "1") == []


def test_replaying_the_same_stream_counts_nothing_twice() -> None:
    rng = np.random.default_rng(3)
    windows = [_window_batch(i, 500, rng) for i in range(3)]
    once, twice = _monitor(), _monitor()
    a = _by_window(_run(once, windows))
    for preds, outs in windows:  # the same input again, all of it duplicate
        twice.ingest(Batch(predictions={("m", "1"): preds}, outcomes={"m": outs}))
        twice.ingest(Batch(predictions={("m", "1"): preds}, outcomes={"m": outs}))
    b = _by_window(twice.evaluate_due(NOW, flush=True))
    for i in range(3):
        assert b[i].drift.n_rows == a[i].drift.n_rows == 500
        assert b[i].performance.n_pairs == a[i].performance.n_pairs == 500
    assert twice.counters.total("duplicate_predictions") == 1500
    assert twice.counters.get("unmatched_outcomes", model="m", reason="duplicate_outcome") == 1500


def test_outcomes_before_their_predictions_join_when_the_predictions_come() -> None:
    rng = np.random.default_rng(12)
    preds, outs = _window_batch(0, 300, rng)
    first, second = _monitor(), _monitor()
    first.ingest(Batch(predictions={("m", "1"): preds}))
    first.ingest(Batch(outcomes={"m": outs}))
    second.ingest(Batch(outcomes={"m": outs}))  # e.g. the outcomes topic read ahead after a restart
    second.ingest(Batch(predictions={("m", "1"): preds}))
    a, b = (_by_window(x.evaluate_due(NOW, flush=True))[0] for x in (first, second))
    assert a.performance.n_pairs == b.performance.n_pairs == 300
    assert a.performance.metrics == b.performance.metrics
    assert first.counters.total("joined") == second.counters.total("joined") == 300
    assert second.counters.total("unmatched_outcomes") == 0


def test_late_outcomes_update_their_prediction_window() -> None:
    rng = np.random.default_rng(4)
    monitor = _monitor()
    early, _ = _window_batch(0, 400, rng, outcome_delay_ms=None)
    frame = world.rows(400, rng)
    monitor.ingest(Batch(predictions={("m", "1"): early}))
    later, _ = _window_batch(2, 100, rng, outcome_delay_ms=None)  # closes window 0
    monitor.ingest(Batch(predictions={("m", "1"): later}))
    first = _by_window(monitor.evaluate_due(NOW))
    assert first[0].performance.n_pairs == 0
    # Outcomes for window 0 arrive three hours later.
    frame["prediction"] = early.prediction
    frame["y"] = early.prediction
    late = world.outcomes(frame, early.prediction_id.tolist(), early.timestamp + 3 * H)
    monitor.ingest(Batch(outcomes={"m": late}))
    second = _by_window(monitor.evaluate_due(NOW))
    assert set(second) == {0}  # only the window whose performance changed
    assert second[0].performance.n_pairs == 400
    assert second[0].performance.metrics["accuracy"] == pytest.approx(1.0)
    delay = second[0].label_delay
    assert delay.count == 400 and delay.sum == pytest.approx(400 * 3 * 3600)


def test_late_predictions_are_counted_not_added() -> None:
    rng = np.random.default_rng(8)
    monitor = _monitor()
    now_batch, _ = _window_batch(3, 50, rng, outcome_delay_ms=None)
    monitor.ingest(Batch(predictions={("m", "1"): now_batch}))
    old, _ = _window_batch(1, 20, rng, outcome_delay_ms=None)
    monitor.ingest(Batch(predictions={("m", "1"): old}))
    assert monitor.counters.get("late_predictions", model="m", model_version="1") == 20
    results = _by_window(monitor.evaluate_due(NOW, flush=True))
    assert set(results) == {3}


def test_expired_predictions_are_counted_per_window() -> None:
    rng = np.random.default_rng(9)
    monitor = _monitor()
    preds, _ = _window_batch(0, 100, rng, outcome_delay_ms=None)
    monitor.ingest(Batch(predictions={("m", "1"): preds}))
    # No outcome at all: expiry by the predictions, past 1 h window + 6 h TTL + 1 d read-ahead.
    much_later, _ = _window_batch(32, 10, rng, outcome_delay_ms=None)
    monitor.ingest(Batch(predictions={("m", "1"): much_later}))
    results = _by_window(monitor.evaluate_due(NOW))
    assert results[0].final and results[0].expired_predictions == 100
    assert monitor.counters.get("expired_predictions", model="m", model_version="1") == 100
    assert 0 not in monitor.streams[("m", "1")].windows  # dropped after its final evaluation


@pytest.mark.slow
def test_stationary_million_events_raise_no_alarm() -> None:
    rng = np.random.default_rng(2026)
    monitor = _monitor()
    results = _run(monitor, [_window_batch(i, 50_000, rng) for i in range(20)])
    assert sum(r.drift.n_rows for r in _by_window(results).values()) == 1_000_000
    assert not any(r.drift.drifted_features for r in results)
    assert not any(r.drift.prediction.drift_detected for r in results if r.drift.prediction)
    assert not any(r.performance.degraded for r in results)
    assert not any(r.concept_drift for r in results)
    assert monitor.service.evaluator.concept.episodes("m", "1") == []
    status = monitor.service.evaluator.concept.status("m", "1")
    assert status is not None and status["pairs"] == 1_000_000


def test_a_window_open_when_its_baseline_is_swapped_keeps_it_across_a_restart(tmp_path) -> None:
    # Its sketches use the old baseline's bins: evaluating it against the new one would compare
    # counts on different edges. The old baseline comes back from the store after the restart.
    cfg = world.config()
    cfg = cfg.model_copy(update={"baselines": cfg.baselines.model_copy(update={"path": tmp_path})})
    old, new = world.baseline(cfg, seed=0), world.baseline(cfg, seed=1)
    assert old.id != new.id
    store = BaselineStore(tmp_path)
    store.save(old)
    service = Service(cfg, {("m", "1"): old}, MemoryDeadLetters(), clock=lambda: NOW)
    rng = np.random.default_rng(4)
    service.monitor.ingest(Batch(predictions={("m", "1"): _window_batch(0, 2000, rng)[0]}))
    store.save(new)
    assert service.swap_baseline(new) is old
    state = SqliteStateStore(tmp_path / "state.db")
    save_partitions(state, "g", [(0, {}, service.monitor)])

    restarted = Service(cfg, {("m", "1"): store.load("m", "1")}, MemoryDeadLetters(), clock=lambda: NOW)
    restore_partition(state, "g", state.load("g", [0])[0], restarted.monitor)
    restarted.monitor.ingest(Batch(predictions={("m", "1"): _window_batch(1, 2000, rng)[0]}))
    results = _by_window(restarted.evaluate(flush=True))
    assert results[0].drift.baseline_id == old.id  # built before the swap
    assert results[1].drift.baseline_id == new.id  # opened after it
    state.close()


def test_join_watermarks_say_how_far_each_input_was_read() -> None:
    rng = np.random.default_rng(13)
    pipeline = _monitor()
    preds, outs = _window_batch(2, 100, rng)
    pipeline.ingest(Batch(predictions={("m", "1"): preds}))
    assert pipeline.monitor.join_watermarks() == {"m": (int(preds.timestamp.max()), 0)}
    pipeline.ingest(Batch(outcomes={"m": outs}))
    assert pipeline.monitor.join_watermarks() == {
        "m": (int(preds.timestamp.max()), int(outs.timestamp.max()))
    }
