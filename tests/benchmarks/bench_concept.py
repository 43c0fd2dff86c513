"""Benchmark: the concept-drift detector's false alarms and detection delay, by where its reference
comes from and over how many input partitions the error stream is split.

    .venv/bin/python tests/benchmarks/bench_concept.py [--streams 500] [--pairs 1000000]
                                                       [--out bench-concept.json]

Models: a logistic regression on 80 features (10 informative) fitted to 2,000 rows, and a linear
regression on 150 features (10 informative, Student-t noise) fitted to 1,500 rows: mildly overfit,
so their training error is below their production error (measured on 200,000 fresh rows, which
also give the production errors the streams are drawn from). References, each from
`build_baseline` as `driftline baseline build` makes it:

  held_out     --performance-data: 10,000 held-out rows
  in_sample    the training data, inflated by the documented margin (the default without held-out rows)
  warmup       no target (--no-target): the detector estimates it from its first 5,000 pairs
  in_sample, not inflated   what the detector used before (shown for comparison; no longer offered)

Part 1, per pair (the bound): S stationary streams of N pairs each, the CUSUM on every pair (a
bucket of one pair: the most sensitive the service's bucketed detector can be). Reported: streams
with any alarm (the design: at most 1 % within 1,000,000 pairs) and alarms per 100,000 pairs
(restarting after each; the design allows 100,000 / ARL0 = 0.001).

Part 2, the service's path: Monitors as input partitions (pairs routed by id, as Kafka keys them)
and the evaluator's concept-drift detector over them (monitor.evaluation.concept: buckets merged
across partitions), 6,000 predictions an hour, outcomes 30-50 min later, a pass every hour.
Stationary streams count false alarms; streams whose error rate rises by 0.10 (MAE by 40 %: twice
the default minimum increase) from hour 4 on (followed for 4 hours) give the delay: pairs of the
new concept whose outcome came by the alarm, and minutes from the first such outcome to the alarm
(the alarm's date, in event time). With 4 partitions the same streams also run a detector per
partition on its own pairs (the design before: a model alarmed when any partition's did).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression, LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from monitor.baselines.baseline import Baseline, build_baseline
from monitor.config import DriftlineConfig, parse_config
from monitor.core.detectors import (
    Design,
    DetectorSettings,
    cusum_alarms,
    design_from_reference,
    design_from_warmup,
)
from monitor.core.error_summary import ErrorSummary
from monitor.evaluation.concept import ConceptEvaluator
from monitor.pipeline.events import OutcomeBatch, PredictionBatch
from monitor.pipeline.monitor import Batch, Monitor

NOW = datetime(2026, 1, 1, tzinfo=UTC)
H, MINUTE = 3_600_000, 60_000
PER_HOUR, CHANGE_HOUR, AFTER_HOURS = 6000, 4, 4
SHIFT = {"classification": 0.10, "regression": 1.4}  # error rate + 0.10; MAE x 1.4
WARMUP = 5000
BOUND_PER_100K = 100_000 * -np.log1p(-0.01) / 1_000_000  # 0.001: a = 1 % within 1,000,000 pairs


# ---------------------------------------------------------------- models and their errors


@dataclass
class World:
    task: str
    config: DriftlineConfig
    train: pd.DataFrame  # x, prediction, y: the model on its own training rows
    held_out: pd.DataFrame
    production: np.ndarray  # errors on 200,000 fresh rows: 0/1, or absolute errors

    def errors(self, rng: np.random.Generator, n: int, degraded: bool = False) -> np.ndarray:
        if self.task == "classification":
            rate = self.production.mean() + (SHIFT["classification"] if degraded else 0.0)
            return (rng.random(n) < rate).astype(np.float64)
        return self.production[rng.integers(0, self.production.size, n)] * (
            SHIFT["regression"] if degraded else 1.0
        )

    def baselines(self) -> dict[str, Baseline]:
        model = self.config.models[0]
        base = build_baseline(self.train, model, self.config.baselines, "1", "train", NOW)
        held = build_baseline(
            self.train, model, self.config.baselines, "1", "train", NOW, performance=self.held_out
        )
        origin = base.reference_origin or {}
        return {
            "held_out": held,
            "in_sample": base,
            "warmup": replace(base, reference_performance=None, reference_origin=None),
            "in_sample, not inflated": replace(base, reference_performance=origin.get("in_sample")),
        }


def world(task: str) -> World:
    rng = np.random.default_rng(11)
    d, n = (80, 2000) if task == "classification" else (150, 1500)
    beta = np.zeros(d)
    beta[:10] = np.linspace(1.2, 0.2, 10) * (1 if task == "classification" else 2)

    def draw(rows: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(rows, d))
        if task == "classification":
            return x, (rng.random(rows) < 1 / (1 + np.exp(-(x @ beta)))).astype(int)
        return x, x @ beta + rng.standard_t(5, rows)

    x, y = draw(n)
    model = (LogisticRegression(C=10, max_iter=2000) if task == "classification" else LinearRegression()).fit(
        x, y
    )

    def frame(x: np.ndarray, y: np.ndarray) -> pd.DataFrame:
        predicted = model.predict(x)
        return pd.DataFrame({"x": x[:, 0], "prediction": predicted, "y": y})

    fresh_x, fresh_y = draw(200_000)
    predicted = model.predict(fresh_x)
    production = (
        (predicted != fresh_y).astype(float) if task == "classification" else np.abs(predicted - fresh_y)
    )
    features = [{"name": "x", "kind": "numeric"}]
    config = parse_config(
        {
            "models": [
                {
                    "name": "m",
                    "task": task,
                    "features": features,
                    "target": "y",
                    "window_sample": 0,
                    "outcome_ttl": "6h",
                }
            ]
        }
    )
    return World(task, config, frame(x, y), frame(*draw(10_000)), production)


def true_reference(w: World) -> float:
    return float(w.production.mean())


def used_reference(w: World, baseline: Baseline) -> float | None:
    perf = baseline.reference_performance
    if perf is None:
        return None
    return 1 - perf["accuracy"] if w.task == "classification" else perf["mae"]  # type: ignore[operator]


# ---------------------------------------------------------------- part 1: per pair


def design_for(w: World, baseline: Baseline, rng: np.random.Generator) -> Design:
    settings = DetectorSettings(w.task)
    design = design_from_reference(settings, baseline.reference_performance)
    if design is None:
        warm = w.errors(rng, WARMUP)
        design = design_from_warmup(settings, ErrorSummary.of(warm, np.zeros(WARMUP, np.int64)))
    return design


def per_pair(w: World, baseline: Baseline, streams: int, pairs: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    any_alarm = alarms = 0
    started = time.perf_counter()
    for _ in range(streams):
        design, statistic, found = design_for(w, baseline, rng), 0.0, 0
        for lo in range(0, pairs, 250_000):
            x = w.errors(rng, min(250_000, pairs - lo))
            statistic, hits = cusum_alarms(statistic, design.increments(x), design.threshold)
            found += len(hits)
        alarms += found
        any_alarm += found > 0
    found_delays = []
    for _ in range(300):  # from the change on, until the first alarm (at most 200,000 pairs)
        design, statistic = design_for(w, baseline, rng), 0.0
        for seen in range(0, 200_000, 10_000):
            x = w.errors(rng, 10_000, degraded=True)
            statistic, hits = cusum_alarms(statistic, design.increments(x), design.threshold)
            if hits:
                found_delays.append(seen + hits[0] + 1)
                break
    return {
        "streams": streams,
        "pairs": pairs,
        "streams_with_alarm": any_alarm,
        "alarms": alarms,
        "alarms_per_100k": alarms / (streams * pairs) * 100_000,
        "delay_detected": len(found_delays),
        "delay_mean_pairs": float(np.mean(found_delays)) if found_delays else None,
        "delay_p95_pairs": float(np.percentile(found_delays, 95)) if found_delays else None,
        "seconds": time.perf_counter() - started,
    }


# ---------------------------------------------------------------- part 2: partitions and the evaluator


@dataclass
class Hour:
    """One hour of one partition: its predictions, and its outcomes in arrival order with their errors."""

    predictions: PredictionBatch
    outcomes: OutcomeBatch
    errors: np.ndarray


def hour(w: World, i: int, rng: np.random.Generator, degraded: bool, partitions: int) -> list[Hour]:
    n = PER_HOUR
    ts = i * H + np.sort(rng.integers(0, H, n))
    arrival = ts + 30 * MINUTE + rng.integers(0, 20 * MINUTE, n)
    errors = w.errors(rng, n, degraded)
    ids = np.asarray([f"{i}-{j}" for j in range(n)], dtype=object)
    if w.task == "classification":
        prediction = rng.choice(np.asarray(["0", "1"], dtype=object), n)
        truth = np.where(errors == 1.0, np.where(prediction == "1", "0", "1"), prediction).astype(object)
    else:
        prediction = np.zeros(n)
        truth = errors * rng.choice([-1.0, 1.0], n)
    out = []
    for p in range(partitions):
        rows = np.flatnonzero(np.arange(n) % partitions == p)
        order = rows[np.argsort(arrival[rows], kind="stable")]
        none = np.full(rows.size, None, dtype=object)
        batch = PredictionBatch(
            "m",
            "1",
            ids[rows],
            ts[rows],
            {"x": np.zeros(rows.size)},
            prediction[rows],
            np.full(rows.size, np.nan),
            none,
        )
        out.append(Hour(batch, OutcomeBatch("m", ids[order], arrival[order], truth[order]), errors[order]))
    return out


def _part(outcomes: OutcomeBatch, rows: np.ndarray) -> OutcomeBatch:
    return OutcomeBatch("m", outcomes.prediction_id[rows], outcomes.timestamp[rows], outcomes.outcome[rows])


def run_stream(
    w: World, baseline: Baseline, partitions: int, hours: int, change: int | None, seed: int
) -> dict[str, Any]:
    """One stream through `partitions` Monitors and the evaluator's detector over them; with a
    change, also a per-pair detector per partition on its own pairs (the former design)."""
    rng = np.random.default_rng(seed)
    monitors = [Monitor(w.config, {("m", "1"): baseline}, p) for p in range(partitions)]
    evaluator = ConceptEvaluator(w.config, {("m", "1"): baseline})
    local = [design_for(w, baseline, np.random.default_rng([seed, p])) for p in range(partitions)]
    read: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(partitions)]  # (times, errors)
    degraded_outcomes: list[np.ndarray] = []
    pending: list[tuple[int, Hour]] = []
    for i in range(hours):
        degraded = change is not None and i >= change
        for p, part in enumerate(hour(w, i, rng, degraded, partitions)):
            monitors[p].ingest(Batch(predictions={("m", "1"): part.predictions}))
            pending.append((p, part))
            if degraded:
                degraded_outcomes.append(part.outcomes.timestamp)
        keep = []
        for p, part in pending:
            due = part.outcomes.timestamp < (i + 1) * H
            if due.any():
                monitors[p].ingest(Batch(outcomes={"m": _part(part.outcomes, due)}))
                read[p].append((part.outcomes.timestamp[due], part.errors[due]))
            if (~due).any():
                keep.append((p, Hour(part.predictions, _part(part.outcomes, ~due), part.errors[~due])))
        pending = keep
        evaluator.advance(evaluator.collect(monitors))
    episodes = evaluator.episodes("m", "1")
    status = evaluator.status("m", "1") or {}
    result: dict[str, Any] = {"pairs": status.get("pairs", 0), "alarms": sum(e.alarms for e in episodes)}
    if change is None:
        return result
    first = change * H + 30 * MINUTE
    arrivals = np.sort(np.concatenate(degraded_outcomes))
    result["false_before_change"] = sum(e.start < first for e in episodes)
    warm = WARMUP if baseline.reference_performance is None else 0
    result["pairs_before_change"] = CHANGE_HOUR * PER_HOUR - warm
    after = [e.start for e in episodes if e.start >= first]
    result["delay"] = _delay(after[0] if after else None, first, arrivals)
    local_alarms = []
    for p in range(partitions):
        times = np.concatenate([t for t, _ in read[p]])
        errors = np.concatenate([e for _, e in read[p]])
        order = np.argsort(times, kind="stable")
        times, errors = times[order], errors[order]
        mine = times >= first
        _, hits = cusum_alarms(0.0, local[p].increments(errors[mine]), local[p].threshold)
        if hits:
            local_alarms.append(int(times[mine][hits[0]]))
    result["local_delay"] = _delay(min(local_alarms) if local_alarms else None, first, arrivals)
    return result


def _delay(alarm: int | None, first: int, arrivals: np.ndarray) -> dict[str, float] | None:
    if alarm is None:
        return None
    return {"pairs": int(np.searchsorted(arrivals, alarm, side="right")), "minutes": (alarm - first) / MINUTE}


def pipeline(
    w: World,
    baseline: Baseline,
    partitions: int,
    stationary: int,
    stationary_hours: int,
    changes: int,
    seed: int,
) -> dict[str, Any]:
    started = time.perf_counter()
    quiet = [run_stream(w, baseline, partitions, stationary_hours, None, seed + k) for k in range(stationary)]
    moved = [
        run_stream(w, baseline, partitions, CHANGE_HOUR + AFTER_HOURS, CHANGE_HOUR, seed + 1000 + k)
        for k in range(changes)
    ]
    # Stationary: the stationary streams, and the hours before the change of the others (their
    # pairs up to the first outcome of the new concept, less a warm-up, which cannot alarm).
    pairs = sum(r["pairs"] for r in quiet) + sum(r["pairs_before_change"] for r in moved)
    out: dict[str, Any] = {
        "stationary_pairs": pairs,
        "false_alarms": sum(r["alarms"] for r in quiet) + sum(r["false_before_change"] for r in moved),
        "change_streams": changes,
    }
    out["false_alarms_per_100k"] = out["false_alarms"] / pairs * 100_000
    for key in ("delay", "local_delay"):
        found = [r[key] for r in moved if r[key] is not None]
        out[f"{key}_detected"] = len(found)
        out[f"{key}_mean_pairs"] = float(np.mean([d["pairs"] for d in found])) if found else None
        out[f"{key}_p95_pairs"] = float(np.percentile([d["pairs"] for d in found], 95)) if found else None
        out[f"{key}_mean_minutes"] = float(np.mean([d["minutes"] for d in found])) if found else None
    out["seconds"] = time.perf_counter() - started
    return out


# ---------------------------------------------------------------- main


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _row(*cells: object) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)


PART1 = (
    "task",
    "reference",
    "error used (true)",
    "streams x pairs",
    "streams with an alarm",
    "alarms per 100k",
    "delay mean (p95) pairs",
)
PART2 = (
    "task",
    "reference",
    "partitions",
    "stationary pairs",
    "false alarms",
    "per 100k",
    "detected",
    "delay mean (p95) pairs",
    "delay mean min",
    "detector per partition: pairs",
    "min",
)


def part1(worlds: dict[str, World], args: argparse.Namespace, report: dict[str, Any]) -> None:
    print(
        "part 1, per pair: the design allows 1 % of streams an alarm within 1,000,000 pairs, 0.001 per 100k"
    )
    _row(*PART1)
    _row(*["---"] * 2, *["---:"] * (len(PART1) - 2))
    for task, w in worlds.items():
        for k, (name, baseline) in enumerate(w.baselines().items()):
            streams = max(args.streams // 20, 10) if name.endswith("not inflated") else args.streams
            row = per_pair(w, baseline, streams, args.pairs, seed=100 + k)
            used = used_reference(w, baseline)
            row |= {"task": task, "reference": name, "used": used, "true": true_reference(w)}
            report["per_pair"].append(row)
            share = row["streams_with_alarm"] / streams
            _row(
                task,
                name,
                f"{_fmt(used, 4)} ({true_reference(w):.4f})",
                f"{streams:,} x {args.pairs:,}",
                f"{row['streams_with_alarm']} ({share:.2%})",
                f"{row['alarms_per_100k']:.4f}",
                f"{_fmt(row['delay_mean_pairs'])} ({_fmt(row['delay_p95_pairs'])})",
            )


def part2(worlds: dict[str, World], args: argparse.Namespace, report: dict[str, Any]) -> None:
    print(f"\npart 2: partitions merged by the evaluator ({PER_HOUR:,} pairs an hour, a pass an hour)")
    _row(*PART2)
    _row(*["---"] * 2, *["---:"] * (len(PART2) - 2))
    for task, w in worlds.items():
        for k, (name, baseline) in enumerate(w.baselines().items()):
            if name.endswith("not inflated"):
                continue
            for partitions in (1, 4):
                row = pipeline(
                    w, baseline, partitions, args.stationary, args.hours, args.changes, seed=1000 * k
                )
                row |= {"task": task, "reference": name, "partitions": partitions}
                report["pipeline"].append(row)
                several = partitions > 1
                _row(
                    task,
                    name,
                    partitions,
                    f"{row['stationary_pairs']:,}",
                    row["false_alarms"],
                    f"{row['false_alarms_per_100k']:.4f}",
                    f"{row['delay_detected']}/{args.changes}",
                    f"{_fmt(row['delay_mean_pairs'])} ({_fmt(row['delay_p95_pairs'])})",
                    _fmt(row["delay_mean_minutes"], 1),
                    _fmt(row["local_delay_mean_pairs"]) if several else "-",
                    _fmt(row["local_delay_mean_minutes"], 1) if several else "-",
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=500, help="part 1: stationary streams per row")
    parser.add_argument("--pairs", type=int, default=1_000_000, help="part 1: pairs per stream")
    parser.add_argument("--stationary", type=int, default=5, help="part 2: stationary streams per row")
    parser.add_argument("--hours", type=int, default=24, help="part 2: hours per stationary stream")
    parser.add_argument("--changes", type=int, default=30, help="part 2: streams with a change per row")
    parser.add_argument("--out", type=Path, default=Path("bench-concept.json"))
    args = parser.parse_args()
    report: dict[str, Any] = {"args": vars(args) | {"out": str(args.out)}, "per_pair": [], "pipeline": []}
    worlds = {task: world(task) for task in ("classification", "regression")}
    part1(worlds, args, report)
    part2(worlds, args, report)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
