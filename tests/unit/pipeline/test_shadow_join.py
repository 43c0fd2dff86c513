"""Shadow mode in the join (monitor.pipeline.monitor): a candidate version's predictions live in
their own join namespace, so the same prediction id is not a duplicate of the baseline version's;
every outcome joins both; the counters count each outcome once; and the paired evidence
(`PairedWindow` in the candidate's windows) does not depend on batching or checkpoints."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.baselines.baseline import build_baseline
from monitor.config import DriftlineConfig, parse_config
from monitor.pipeline.events import OutcomeBatch, PredictionBatch
from monitor.pipeline.monitor import Batch, Monitor, shadow_namespace
from monitor.pipeline.windows import WindowState
from monitor.state.partitions import restore_partition, save_partitions
from monitor.state.sqlite import SqliteStateStore

H = 3_600_000
M = 60_000


def _config() -> DriftlineConfig:
    return parse_config(
        {
            "models": [
                {
                    "name": "m",
                    "task": "classification",
                    "features": [{"name": "x", "kind": "numeric"}],
                    "target": "y",
                    "window": "1h",
                    "allowed_lateness": "1m",
                    "outcome_ttl": "3h",
                    "read_ahead": "3h",
                    "dedup_horizon": "4h",
                    "comparison": {"baseline": "1", "candidates": ["2"], "mode": "shadow"},
                }
            ]
        }
    )


def _baselines(cfg: DriftlineConfig) -> dict[tuple[str, str], Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    frame = pd.DataFrame({"x": x, "prediction": np.where(x > 0, "1", "0")})
    frame["y"] = frame["prediction"]
    made = datetime(2026, 1, 1, tzinfo=UTC)
    return {
        ("m", v): build_baseline(frame, cfg.models[0], cfg.baselines, v, "test", made) for v in ("1", "2")
    }


def _predictions(version: str, rows: list[tuple[str, int, str]]) -> PredictionBatch:
    return PredictionBatch(
        model="m",
        model_version=version,
        prediction_id=np.asarray([r[0] for r in rows], dtype=object),
        timestamp=np.asarray([r[1] for r in rows], dtype=np.int64),
        features={"x": np.zeros(len(rows))},
        prediction=np.asarray([r[2] for r in rows], dtype=object),
        score=np.full(len(rows), np.nan),
        segment=np.full(len(rows), None, dtype=object),
    )


def _outcomes(rows: list[tuple[str, int, str]]) -> OutcomeBatch:
    return OutcomeBatch(
        model="m",
        prediction_id=np.asarray([r[0] for r in rows], dtype=object),
        timestamp=np.asarray([r[1] for r in rows], dtype=np.int64),
        outcome=np.asarray([r[2] for r in rows], dtype=object),
    )


def _counters(monitor: Monitor) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(n, tuple(sorted(lb.items()))): v for n, lb, v in monitor.counters.items() if v}


def _candidate_window(monitor: Monitor, start: int = 0) -> WindowState:
    return monitor.streams[("m", "2")].windows[start]


def test_a_shadow_prediction_is_not_a_duplicate_and_an_outcome_joins_both() -> None:
    cfg = _config()
    monitor = Monitor(cfg, _baselines(cfg))
    assert set(monitor.joins) == {"m", shadow_namespace("m", "2")}
    monitor.ingest(Batch({("m", "1"): _predictions("1", [("a", M, "1"), ("b", M, "0"), ("c", M, "1")])}))
    monitor.ingest(Batch({("m", "2"): _predictions("2", [("a", 2 * M, "1"), ("b", 2 * M, "1")])}))
    monitor.ingest(
        Batch(outcomes={"m": _outcomes([("a", 3 * M, "1"), ("b", 3 * M, "1"), ("zz", 3 * M, "1")])})
    )
    counters = _counters(monitor)
    assert ("duplicate_predictions", (("model", "m"), ("model_version", "2"))) not in counters
    assert counters[("outcomes", (("model", "m"),))] == 3
    assert counters[("joined", (("model", "m"), ("model_version", "1")))] == 2
    assert counters[("joined", (("model", "m"), ("model_version", "2")))] == 2
    paired = _candidate_window(monitor).paired
    assert paired is not None
    assert (paired.n_shared, paired.n_agree) == (2, 1)  # a agrees, b does not; c has no partner
    assert (paired.n_joined, paired.only_a_right, paired.only_b_right) == (2, 0, 1)  # b: only B right
    # A duplicate of either version is still a duplicate within its namespace.
    monitor.ingest(Batch({("m", "2"): _predictions("2", [("a", 2 * M, "1")])}))
    assert _counters(monitor)[("duplicate_predictions", (("model", "m"), ("model_version", "2")))] == 1


def test_outcomes_unknown_expired_or_duplicate_count_once() -> None:
    """An outcome for an id only the baseline version logged is held in the shadow namespace and
    let go there uncounted; a second outcome, or one past the TTL, counts once."""
    cfg = _config()
    monitor = Monitor(cfg, _baselines(cfg))
    monitor.ingest(Batch({("m", "1"): _predictions("1", [("a", M, "1"), ("b", M, "1")])}))
    monitor.ingest(Batch({("m", "2"): _predictions("2", [("a", M, "1"), ("b", M, "1")])}))
    monitor.ingest(
        Batch(
            outcomes={
                "m": _outcomes(
                    [("a", 2 * M, "1"), ("a", 2 * M, "1"), ("nobody", 2 * M, "0"), ("b", 5 * H, "1")]
                )
            }
        )
    )
    # Far enough on for the held outcome of "nobody" to be let go everywhere.
    monitor.ingest(Batch({("m", "1"): _predictions("1", [("late", 12 * H, "1"), ("late2", 12 * H, "1")])}))
    monitor.ingest(Batch(outcomes={"m": _outcomes([("late", 12 * H, "1")])}))
    counters = _counters(monitor)
    unmatched = {k[1]: v for k, v in counters.items() if k[0] == "unmatched_outcomes"}
    assert unmatched == {
        (("model", "m"), ("reason", "duplicate_outcome")): 1,
        (("model", "m"), ("reason", "unknown_prediction")): 1,
        (("model", "m"), ("reason", "expired_prediction")): 1,
    }
    # "nobody" was let go in both namespaces; "late", which the candidate never logged, still
    # waits in the shadow namespace (and will be let go there uncounted too).
    assert (monitor.joins["m"].held, monitor.joins[shadow_namespace("m", "2")].held) == (0, 1)


def _stream(seed: int, n: int = 60) -> list[Batch]:
    """One event per batch, in a read order where both versions' predictions come before the
    outcome (the candidate's some minutes after the baseline's, in either order)."""
    rng = np.random.default_rng(seed)
    events: list[tuple[int, int, Batch]] = []
    for i in range(n):
        pid, t = f"p{i}", int(i * 3 * M)
        a, b, y = (str(v) for v in rng.integers(0, 2, 3))
        first, second = ("1", a), ("2", b)
        if rng.random() < 0.5:
            first, second = second, first
        events.append((t, 0, Batch({("m", first[0]): _predictions(first[0], [(pid, t, first[1])])})))
        events.append((t, 1, Batch({("m", second[0]): _predictions(second[0], [(pid, t + M, second[1])])})))
        if rng.random() < 0.9:
            events.append((t + 30 * M, 2, Batch(outcomes={"m": _outcomes([(pid, t + 30 * M, y)])})))
    events.sort(key=lambda e: (e[0], e[1]))
    return [e[2] for e in events]


def _merged(batches: list[Batch]) -> Batch:
    """Consecutive batches as one (the predictions of each version, then the outcomes, in order)."""
    predictions: dict[tuple[str, str], list[PredictionBatch]] = {}
    outcomes: list[OutcomeBatch] = []
    for batch in batches:
        for key, p in batch.predictions.items():
            predictions.setdefault(key, []).append(p)
        outcomes += batch.outcomes.values()
    merged_p = {}
    for key, parts in predictions.items():
        merged_p[key] = PredictionBatch(
            model="m",
            model_version=key[1],
            prediction_id=np.concatenate([p.prediction_id for p in parts]),
            timestamp=np.concatenate([p.timestamp for p in parts]),
            features={"x": np.concatenate([p.features["x"] for p in parts])},
            prediction=np.concatenate([p.prediction for p in parts]),
            score=np.concatenate([p.score for p in parts]),
            segment=np.concatenate([p.segment for p in parts]),
        )
    merged_o = {}
    if outcomes:
        merged_o["m"] = OutcomeBatch(
            model="m",
            prediction_id=np.concatenate([o.prediction_id for o in outcomes]),
            timestamp=np.concatenate([o.timestamp for o in outcomes]),
            outcome=np.concatenate([o.outcome for o in outcomes]),
        )
    return Batch(merged_p, merged_o)


def _paired_sums(monitor: Monitor) -> dict[int, Any]:
    out = {}
    for start, window in sorted(monitor.streams[("m", "2")].windows.items()):
        assert window.paired is not None
        state = window.paired.to_state()
        out[start] = {
            k: state[k] for k in ("n_shared", "n_agree", "n_joined", "only_a_right", "only_b_right")
        }
        out[start]["sums"] = [round(v, 9) for v in state["sums"]]
    return out


def _cut(batches: list[Batch], cuts: list[int]) -> list[Batch]:
    bounds = sorted({c % (len(batches) + 1) for c in cuts} | {0, len(batches)})
    return [_merged(batches[a:b]) for a, b in itertools.pairwise(bounds) if b > a]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(0, 200), max_size=15))
def test_pairs_do_not_depend_on_batches(seed: int, cuts: list[int]) -> None:
    """Both predictions of an id precede its outcome in every cut: the same stream cut into other
    batches (merged batches keep each version's rows and the outcomes in read order, predictions
    first) gives the same paired sums, and every id with both predictions and an outcome is paired."""
    cfg = _config()
    baselines = _baselines(cfg)
    stream = _stream(seed)
    one, other = Monitor(cfg, baselines), Monitor(cfg, baselines)
    for batch in stream:
        one.ingest(batch)
    for batch in _cut(stream, cuts):
        other.ingest(batch)
    expected = _paired_sums(one)
    assert _paired_sums(other) == expected
    n_outcomes = sum(len(b.outcomes["m"]) for b in stream if b.outcomes)
    assert sum(w["n_shared"] for w in expected.values()) == 60
    assert sum(w["n_joined"] for w in expected.values()) == n_outcomes


@pytest.mark.parametrize("saves", [{5}, {10, 40, 77}, {1, 2, 3, 150}])
def test_a_restore_mid_stream_gives_the_same_pairs(tmp_path: Path, saves: set[int]) -> None:
    """Checkpoint, drop the monitor, restore it from the store (the join rows read back through
    it, the cache empty) and go on: the paired sums of an uninterrupted run."""
    cfg = _config()
    cfg = cfg.model_copy(update={"state": cfg.state.model_copy(update={"join_cache": 0})})
    baselines = _baselines(cfg)
    stream = _stream(3)
    uninterrupted = Monitor(cfg, baselines)
    for batch in stream:
        uninterrupted.ingest(batch)

    store = SqliteStateStore(tmp_path / "state.db")
    try:
        monitor = Monitor(cfg, baselines)
        for position, batch in enumerate(stream, 1):
            monitor.ingest(batch)
            if position in saves:
                save_partitions(store, "g", [(0, {"input": position}, monitor)])
                monitor = Monitor(cfg, baselines)
                restore_partition(store, "g", store.load("g", [0])[0], monitor)
        assert _paired_sums(monitor) == _paired_sums(uninterrupted)
        assert _counters(monitor) == _counters(uninterrupted)
    finally:
        store.close()


def test_windows_without_paired_state_still_load() -> None:
    cfg = _config()
    monitor = Monitor(cfg, _baselines(cfg))
    monitor.ingest(Batch({("m", "2"): _predictions("2", [("a", M, "1")])}))
    state = _candidate_window(monitor).to_state()
    assert "paired" in state
    del state["paired"]
    restored = WindowState.from_state(state)
    assert restored.paired is None
    merged = restored.merge(_candidate_window(monitor))
    assert merged.paired is not None and merged.paired.n_shared == 0


def test_a_failed_outcome_group_undoes_its_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The paired sums live in the candidate's window, so the savepoint's copy-on-write undoes them."""
    cfg = _config()
    monitor = Monitor(cfg, _baselines(cfg))
    monitor.ingest(Batch({("m", "1"): _predictions("1", [("a", M, "1"), ("b", M, "0")])}))
    monitor.ingest(Batch({("m", "2"): _predictions("2", [("a", M, "1"), ("b", M, "1")])}))
    before = _paired_sums(monitor)

    def fail(model: str) -> None:
        raise RuntimeError("after the pairs were added")

    monkeypatch.setattr(monitor, "_advance_errors", fail)
    failures = monitor.ingest(Batch(outcomes={"m": _outcomes([("a", 2 * M, "1"), ("b", 2 * M, "1")])}))
    assert [f.model_version for f in failures] == [None]
    assert before[0]["n_shared"] == 2 and before[0]["n_joined"] == 0
    assert _paired_sums(monitor) == before


def test_a_regressor_pairs_absolute_errors() -> None:
    raw = _config().models[0].model_dump()
    cfg = parse_config({"models": [{**raw, "task": "regression"}]})
    rng = np.random.default_rng(1)
    x = rng.normal(size=500)
    frame = pd.DataFrame({"x": x, "prediction": 2 * x, "y": 2 * x + rng.normal(size=500)})
    made = datetime(2026, 1, 1, tzinfo=UTC)
    built = {("m", v): build_baseline(frame, cfg.models[0], cfg.baselines, v, "t", made) for v in ("1", "2")}
    monitor = Monitor(cfg, built)
    spec = monitor.paired_specs[("m", "2")]
    assert spec.task == "regression" and spec.agreement_tolerance == pytest.approx(
        0.1 * np.std(2 * x), rel=0.05
    )

    def numbers(version: str, values: list[float]) -> PredictionBatch:
        batch = _predictions(version, [(f"r{i}", M, "0") for i in range(len(values))])
        return replace(batch, prediction=np.asarray(values))

    assert monitor.ingest(Batch({("m", "1"): numbers("1", [1.0, 2.0, 3.0])})) == []
    assert monitor.ingest(Batch({("m", "2"): numbers("2", [1.0, 2.5, 9.0])})) == []
    outcomes = _outcomes([("r0", 2 * M, "0"), ("r1", 2 * M, "0"), ("r2", 2 * M, "0")])
    monitor.ingest(Batch(outcomes={"m": replace(outcomes, outcome=np.asarray([1.5, 2.0, 3.0]))}))
    paired = _candidate_window(monitor).paired
    assert paired is not None and (paired.n_shared, paired.n_agree, paired.n_joined) == (3, 1, 3)
    # d = |error of A| - |error of B|: 0.5 - 0.5, 0 - 0.5, 0 - 6
    assert paired.sums.tolist() == pytest.approx([-6.5, 36.25, 0.5, 7.0])


@pytest.mark.parametrize(("saved", "crashed"), [(10, 30), (40, 41), (77, 120)])
def test_a_crash_after_a_checkpoint_replays_to_the_same_pairs(
    tmp_path: Path, saved: int, crashed: int
) -> None:
    """Checkpoint after batch `saved`, go on to `crashed`, lose everything since the checkpoint and
    read the input again from there: exactly once, the paired sums and counts of a run that never
    stopped."""
    cfg = _config()
    baselines = _baselines(cfg)
    stream = _stream(5)
    uninterrupted = Monitor(cfg, baselines)
    for batch in stream:
        uninterrupted.ingest(batch)
    store = SqliteStateStore(tmp_path / "state.db")
    try:
        monitor = Monitor(cfg, baselines)
        for batch in stream[:crashed]:
            monitor.ingest(batch)
            if batch is stream[saved - 1]:
                save_partitions(store, "g", [(0, {"input": saved}, monitor)])
        monitor = Monitor(cfg, baselines)
        stored = store.load("g", [0])[0]
        restore_partition(store, "g", stored, monitor)
        for batch in stream[stored.offsets["input"] :]:
            monitor.ingest(batch)
        assert _paired_sums(monitor) == _paired_sums(uninterrupted)
        assert _counters(monitor) == _counters(uninterrupted)
    finally:
        store.close()
