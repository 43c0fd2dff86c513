"""Golden test of realised performance per segment through the real Service (prediction and
outcome messages into Service.handle, windows evaluated by its evaluator).

A classifier with ten segments, each with its own error rate, and a held-out reference of the same
rows. The outcomes of 30 % of one segment's rows flip in the later windows: that segment's
performance is flagged there, no other segment's, and no segment's in the earlier windows. The
result reaches the API's window document, `driftline show`, Prometheus, the Elasticsearch document
and the stored record (read back); a record written before performance per segment reads back
without it. Partitions merge to the result of one; predictions waiting in the join store across a
restart keep their segment, and so do outcomes held until their prediction comes, however the stream
is cut into batches; a window stored before it restores without per-segment pairs. A
regressor whose errors in one segment grow 1.6 times is flagged in that segment alone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
from rich.console import Console

from monitor.baselines.baseline import build_baseline
from monitor.config import DriftlineConfig, parse_config
from monitor.core.segments import OTHER
from monitor.evaluation.result_json import window_document
from monitor.evaluation.result_record import decode_result, encode_result
from monitor.evaluation.result_view import window_detail
from monitor.evaluation.results import WindowResult
from monitor.pipeline.raw_batch import RawBatch
from monitor.pipeline.windows import WindowState
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from monitor.sinks.elasticsearch.documents import window_actions
from monitor.sinks.elasticsearch.templates import MAPPINGS
from monitor.sinks.prometheus_segments import segment_families
from monitor.state.partitions import restore_partition, save_partitions
from monitor.state.sqlite import SqliteStateStore

HOUR_MS = 3_600_000
START_MS = int(datetime(2026, 5, 4, tzinfo=UTC).timestamp() * 1000)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
SEGMENTS = [f"s{i}" for i in range(10)]
ERROR_RATES = dict(zip(SEGMENTS, np.linspace(0.05, 0.25, 10).tolist(), strict=True))


def config(task: str = "classification") -> DriftlineConfig:
    model = {
        "name": "churn",
        "task": task,
        "target": "target",
        "features": [{"name": "x", "kind": "numeric"}],
        "window": "1h",
        "allowed_lateness": "1m",
        "segments": {"column": "region", "max_segments": 10, "alpha": 0.05},
    }
    return parse_config({"models": [model]})


def rows(
    n: int, rng: np.random.Generator, flip: str | None = None, task: str = "classification"
) -> pd.DataFrame:
    """Predictions with each segment's error rate; `flip`: 30 % of that segment's outcomes flipped
    after the prediction was made. A regressor's errors are normal with a spread per segment,
    1.6 times as large in segment `flip`."""
    region = np.asarray(SEGMENTS, dtype=object)[rng.choice(10, n)]
    if task == "regression":
        truth = rng.normal(size=n)
        spread = np.array([1.0 + 0.1 * SEGMENTS.index(r) for r in region]) * np.where(
            region == flip, 1.6, 1.0
        )
        return pd.DataFrame(
            {
                "x": rng.normal(size=n),
                "region": region,
                "prediction": truth + rng.normal(size=n) * spread,
                "target": truth,
            }
        )
    target = rng.integers(0, 2, n)
    wrong = rng.random(n) < np.array([ERROR_RATES[r] for r in region])
    prediction = np.where(wrong, 1 - target, target)
    if flip is not None:
        target = np.where((region == flip) & (rng.random(n) < 0.3), 1 - target, target)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "region": region,
            "prediction": prediction.astype(str),
            "target": target.astype(str),
        }
    )


def messages(frame: pd.DataFrame, hour: int, rng: np.random.Generator) -> tuple[list[bytes], list[bytes]]:
    ts = START_MS + hour * HOUR_MS + np.sort(rng.integers(0, HOUR_MS, len(frame)))
    predictions, outcomes = [], []
    for j, (row, t) in enumerate(zip(frame.to_dict("records"), ts.tolist(), strict=True)):
        pid = f"{hour}-{j}"
        body = {
            "prediction_id": pid,
            "model": "churn",
            "model_version": "1",
            "timestamp": t / 1000,
            "features": {"x": row["x"]},
            "prediction": row["prediction"],
            "segment": row["region"],
        }
        predictions.append(orjson.dumps(body))
        outcome = {
            "prediction_id": pid,
            "model": "churn",
            "timestamp": t / 1000 + 600,
            "outcome": row["target"],
        }
        outcomes.append(orjson.dumps(outcome))
    return predictions, outcomes


def service(seed: int, task: str = "classification") -> Service:
    cfg = config(task)
    reference = rows(20_000, np.random.default_rng(seed), task=task)
    held_out = rows(20_000, np.random.default_rng(seed + 1), task=task)
    baseline = build_baseline(
        reference,
        cfg.models[0],
        cfg.baselines,
        "1",
        "train",
        NOW,
        performance=held_out,
        performance_source="held",
    )
    return Service(cfg, {("churn", "1"): baseline}, MemoryDeadLetters(), clock=lambda: NOW)


def by_hour(results: list[WindowResult]) -> dict[int, WindowResult]:
    return {(int(r.window_start.timestamp() * 1000) - START_MS) // HOUR_MS: r for r in results}


def run(
    hours: int, flip_from: int | None, seed: int, task: str = "classification"
) -> tuple[Service, dict[int, WindowResult]]:
    live = service(seed, task)
    rng = np.random.default_rng(seed + 2)
    for hour in range(hours):
        flip = "s3" if flip_from is not None and hour >= flip_from else None
        predictions, outcomes = messages(rows(3000, rng, flip, task), hour, rng)
        live.handle(RawBatch(predictions=predictions))
        live.handle(RawBatch(outcomes=outcomes))
    return live, by_hour(live.evaluate(flush=True))


def test_flipped_outcomes_in_one_segment_flag_its_performance_alone() -> None:
    _, results = run(4, flip_from=2, seed=0)
    assert sorted(results) == [0, 1, 2, 3]
    for hour, result in results.items():
        report = result.segments
        assert report is not None
        assert report.performance_tests == 10  # ~300 pairs in each segment: all tested
        assert sorted(t.segment for t in report.performance) == sorted([*SEGMENTS, OTHER])  # other: untested
        assert sum(t.n_pairs for t in report.performance) == 3000
        flagged = [t.segment for t in report.degraded_performance]
        assert flagged == (["s3"] if hour >= 2 else []), (hour, flagged)
    s3 = next(t for t in results[3].segments.performance if t.segment == "s3")  # type: ignore[union-attr]
    assert s3.metric == "accuracy" and s3.reference is not None and s3.value is not None
    assert s3.value < s3.reference - 0.1

    result = results[3]
    document = window_document(result)
    performance = document["segments"]["performance"]
    assert [p["segment"] for p in performance if p["degraded"]] == ["s3"]
    assert decode_result(encode_result(result)) == result
    # `driftline show`: the verdict and a row per segment.
    console = Console(width=200, record=True)
    console.print(window_detail(result))
    shown = console.export_text()
    assert "performance per segment: 1 of 10 tested segments degraded" in shown
    assert [line.split()[1] for line in shown.splitlines() if line.rstrip().endswith("yes │")] == ["s3"]
    # Prometheus: a series per tested segment, the label bounded by the baseline's segments.
    *_, degraded = segment_families([result])
    assert {s.labels["segment"]: s.value for s in degraded.samples} == {s: float(s == "s3") for s in SEGMENTS}
    # Elasticsearch: the window's summary document, every field in the strict mapping.
    (summary,) = [a.source for a in window_actions(result, "driftline") if "-windows-" in a.index]
    segments = summary["segments"]
    assert segments["performance_degraded_segments"] == ["s3"] and segments["performance_tests"] == 10
    mapping = MAPPINGS["windows"]["properties"]["segments"]["properties"]
    assert set(segments) <= set(mapping)
    assert set(segments["performance"][0]) == set(mapping["performance"]["properties"])

    record = orjson.loads(encode_result(result))
    del record["window"]["segments"]["performance"], record["window"]["segments"]["performance_tests"]
    old = decode_result(orjson.dumps(record)).segments
    assert old is not None and old.performance == () and old.performance_tests == 0
    assert old.drifted == result.segments.drifted  # type: ignore[union-attr]


def test_a_stationary_stream_keeps_the_windows_with_a_performance_alarm_at_alpha() -> None:
    # 24 windows of 3,000 pairs over 10 segments, nothing changes: measured 0 of 24 windows with a
    # performance alarm (the allowance of 5 accuracy points makes the stationary null conservative).
    _, results = run(24, flip_from=None, seed=5)
    alarms = sum(bool(r.segments.degraded_performance) for r in results.values())  # type: ignore[union-attr]
    assert len(results) == 24
    print(f"windows with a performance alarm per segment: {alarms} of {len(results)}")
    assert alarms <= 1


def _hours(hours: int, seed: int) -> list[tuple[list[bytes], list[bytes]]]:
    rng = np.random.default_rng(seed)
    return [messages(rows(3000, rng, "s3" if hour else None), hour, rng) for hour in range(hours)]


def test_partitions_merge_to_the_performance_per_segment_of_one() -> None:
    whole, split = service(7), service(7)
    for predictions, outcomes in _hours(2, 8):
        whole.handle(RawBatch(predictions=predictions))
        whole.handle(RawBatch(outcomes=outcomes))
        for partition in (0, 1):  # an outcome goes to its prediction's partition
            split.handle(RawBatch(predictions=predictions[partition::2]), partition=partition)
            split.handle(RawBatch(outcomes=outcomes[partition::2]), partition=partition)
    one, two = by_hour(whole.evaluate(flush=True)), by_hour(split.evaluate(flush=True))
    assert [r.segments.performance for r in one.values()] == [r.segments.performance for r in two.values()]  # type: ignore[union-attr]
    assert [t.segment for t in one[1].segments.degraded_performance] == ["s3"]  # type: ignore[union-attr]


def test_pending_predictions_keep_their_segment_across_a_restart(tmp_path: Path) -> None:
    ((predictions, outcomes),) = _hours(2, 9)[1:]
    live = service(7)
    live.handle(RawBatch(predictions=predictions))
    store = SqliteStateStore(tmp_path / "state.db")
    save_partitions(store, "g", [(0, {}, live.monitor)])  # the predictions wait in the join store
    restarted = service(7)
    restore_partition(store, "g", store.load("g", [0])[0], restarted.monitor)
    for svc in (live, restarted):
        svc.handle(RawBatch(outcomes=outcomes))
    (after,), (before,) = restarted.evaluate(flush=True), live.evaluate(flush=True)
    assert after.segments is not None and after.segments == before.segments
    assert [t.segment for t in after.segments.degraded_performance] == ["s3"]
    store.close()


def test_a_window_stored_before_performance_per_segment_restores_without_it() -> None:
    live = service(7)
    ((predictions, outcomes),) = _hours(1, 10)
    live.handle(RawBatch(predictions=predictions))
    live.handle(RawBatch(outcomes=outcomes))
    (current,) = live.monitor.streams[("churn", "1")].windows.values()
    assert current.segment_performance is not None
    assert sum(p.n for p in current.segment_performance) == 3000
    state = orjson.loads(orjson.dumps(current.to_state(), option=orjson.OPT_SERIALIZE_NUMPY))
    del state["segment_performance"]
    old = WindowState.from_state(state)
    assert old.segment_performance is None
    # Pairs of part of the window would pass for all of them.
    assert current.merge(old).segment_performance is None
    merged = current.merge(current).segment_performance
    assert merged is not None and sum(p.n for p in merged) == 6000


def test_a_regressor_segment_with_larger_errors_is_flagged_alone() -> None:
    _, results = run(3, flip_from=1, seed=20, task="regression")
    for hour, result in results.items():
        report = result.segments
        assert report is not None and report.performance_tests == 10
        assert [t.segment for t in report.degraded_performance] == (["s3"] if hour else []), hour
    (s3,) = results[2].segments.degraded_performance  # type: ignore[union-attr]
    assert s3.metric == "mae" and s3.value > 1.2 * s3.reference  # type: ignore[operator]


def test_how_the_stream_is_cut_into_batches_does_not_change_the_result() -> None:
    whole, cut = service(7), service(7)
    hours = _hours(2, 11)
    for predictions, outcomes in hours:
        whole.handle(RawBatch(predictions=predictions))
        whole.handle(RawBatch(outcomes=outcomes))
    # Predictions and outcomes interleaved in small batches: some outcomes come before their
    # prediction (held, then joined when it comes).
    for predictions, outcomes in hours:
        for i in range(0, len(predictions), 97):
            cut.handle(RawBatch(outcomes=outcomes[i + 40 : i + 137]))
            cut.handle(RawBatch(predictions=predictions[i : i + 97]))
        cut.handle(RawBatch(outcomes=outcomes[:40]))
    one, two = by_hour(whole.evaluate(flush=True)), by_hour(cut.evaluate(flush=True))
    assert [r.segments for r in one.values()] == [r.segments for r in two.values()]
    assert sum(t.n_pairs for t in two[1].segments.performance) == 3000  # type: ignore[union-attr]
