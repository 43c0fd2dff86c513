"""Benchmark: multivariate drift through the Service, off / PCA / PCA + domain classifier, in one run.

    .venv/bin/python tests/benchmarks/bench_multivariate.py [--seeds 5] [--rows 2000] [--out out.json]

The world of tests/unit/test_multivariate_golden.py (x1, x2 correlated +0.8, x3, a category; from
hour 4 the correlation is -0.8 with every marginal unchanged), 8 hourly windows per seed, a new
reference and stream per seed. Per setting: CPU seconds of ingest (Service.handle of JSON
messages) and of evaluation (Service.evaluate of the 8 windows), per window; and the decisions:
stationary windows that alarmed (false alarms) and flipped windows that did (detections), for
each detector and for the univariate tests (feature or prediction drift).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from monitor.baselines.baseline import build_baseline
from monitor.config import parse_config, resolve_paths
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from tests.unit import test_multivariate_golden as world

SETTINGS = {
    "off": {"enabled": False},
    "pca": {"enabled": True},
    "pca + domain classifier": {"enabled": True, "domain_classifier": {"enabled": True}},
}


def service(folder: Path, multivariate: dict[str, Any], seed: int) -> Service:
    data = world.config(folder, False).model_dump(mode="json")
    data["models"][0]["multivariate"] = multivariate
    cfg = resolve_paths(parse_config(data), folder)
    reference = world.rows(20_000, np.random.default_rng(1000 + seed), 0.8)
    baseline = build_baseline(reference, cfg.models[0], cfg.baselines, "1", "bench", datetime.now(UTC))
    clock = datetime.fromtimestamp(world.START_S + (world.HOURS + 1) * world.HOUR_S, UTC)
    return Service(cfg, {("corr", "1"): baseline}, MemoryDeadLetters(), clock=lambda: clock)


def run(multivariate: dict[str, Any], seed: int, messages: list[list[bytes]]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        svc = service(Path(folder), multivariate, seed)
        start = time.process_time()
        for hour in messages:
            for at in range(0, len(hour), 500):
                svc.handle(RawBatch(predictions=hour[at : at + 500]))
        ingest = time.process_time() - start
        start = time.process_time()
        results = sorted(svc.evaluate(flush=True), key=lambda r: r.window_start)
        evaluate = time.process_time() - start
    flipped = [r.window_start.timestamp() >= world.START_S + world.FLIP_FROM * world.HOUR_S for r in results]
    decisions: dict[str, list[bool]] = {"univariate": [], "pca": [], "domain classifier": []}
    for r in results:
        decisions["univariate"].append(
            bool(r.drift.drifted_features) or bool(r.drift.prediction and r.drift.prediction.drift_detected)
        )
        report = r.multivariate
        if report is not None and report.pca is not None:
            decisions["pca"].append(report.pca.drift_detected)
        if report is not None and report.domain_classifier is not None:
            decisions["domain classifier"].append(report.domain_classifier.drift_detected)
    counts = {}
    for name, ds in decisions.items():
        if ds:  # (false alarms, detections)
            pairs = list(zip(ds, flipped, strict=True))
            counts[name] = (sum(d and not f for d, f in pairs), sum(d and f for d, f in pairs))
    return {
        "ingest": ingest,
        "evaluate": evaluate,
        "windows": len(results),
        "rows": sum(map(len, messages)),
        "counts": counts,
        "stationary": flipped.count(False),
        "flipped": flipped.count(True),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=world.ROWS)
    parser.add_argument("--out", type=Path, default=Path("bench-multivariate.json"))
    args = parser.parse_args()
    world.ROWS = args.rows
    empty = {"ingest": 0.0, "evaluate": 0.0, "windows": 0, "rows": 0, "stationary": 0, "flipped": 0}
    totals: dict[str, dict[str, Any]] = {name: {**empty, "counts": {}} for name in SETTINGS}
    for seed in range(args.seeds):
        rng = np.random.default_rng(2000 + seed)
        messages = [world.messages(hour, rng) for hour in range(world.HOURS)]
        for name, multivariate in SETTINGS.items():  # interleaved: a noisy neighbour hurts all alike
            got = run(multivariate, seed, messages)
            total = totals[name]
            for key in ("ingest", "evaluate", "windows", "rows", "stationary", "flipped"):
                total[key] += got[key]
            for detector, (false, found) in got["counts"].items():
                before = total["counts"].get(detector, (0, 0))
                total["counts"][detector] = (before[0] + false, before[1] + found)
    print(f"{args.seeds} seeds x {world.HOURS} windows of {args.rows:,} rows (4 features), CPU seconds")
    print(f"{'setting':<26}{'ingest us/row':>14}{'evaluate ms/window':>20}   alarms: stationary, flipped")
    for name, total in totals.items():
        per_row = total["ingest"] / total["rows"] * 1e6
        per_window = total["evaluate"] / total["windows"] * 1e3
        alarms = "; ".join(
            f"{d} {f}/{total['stationary']}, {t}/{total['flipped']}" for d, (f, t) in total["counts"].items()
        )
        print(f"{name:<26}{per_row:>14.2f}{per_window:>20.1f}   {alarms}")
    args.out.write_text(json.dumps(totals, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
