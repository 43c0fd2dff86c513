"""Benchmark: the whole ingest path against a plain orjson.loads loop, in one run.

    .venv/bin/python tests/benchmarks/bench_ingest.py [--n 200000] [--batch 10000] [--out bench-ingest.json]

Messages: the 25-feature predictions of bench_decode.py (20 numeric, 5 categorical), plus an
outcome for every second prediction. Cases, timed in CPU seconds of this process, best of
`--repeats`, interleaved so a noisy neighbour hurts all alike:

  orjson.loads loop     for m in messages: orjson.loads(m)        (parse only, discard)
  ingest                Service.handle(RawBatch) per batch: decode + validate + window
                        sketch update + join of outcomes + rejects/counters (no evaluation),
                        on a fresh service each run (building it, and its baseline, is not timed);
                        the model's defaults: PCA multivariate drift on (20 numeric features)
  ingest, multivariate off   the same with `multivariate: {enabled: false}`: the difference is what
                        each window's PCA reconstruction sums cost per event
  ingest, scored        the same as "ingest" with the score and a target configured (score drift too)
  ingest, scored + CBPE the same with the baseline's CBPE estimator kept, so every window also
                        sums calibrated probabilities: the difference from "ingest, scored" is
                        what estimating performance without labels costs per prediction

Memory: the window state (sketches, row sample) serialised after N and after 4N events,
the join buffer's pending predictions reported apart (it grows with events by design,
bounded by the outcome TTL).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from monitor.baselines.baseline import build_baseline
from monitor.config import parse_config
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from tests.benchmarks.bench_decode import CATEGORICAL, MODEL, NUMERIC, make_messages

CASES = {  # case -> (score and target configured, the baseline keeps its CBPE estimator, PCA on)
    "ingest": (False, False, True),
    "ingest, multivariate off": (False, False, False),
    "ingest, scored": (True, False, True),
    "ingest, scored + CBPE": (True, True, True),
}


def make_service(scored: bool = False, estimate: bool = False, multivariate: bool = True) -> Service:
    """`scored`: the config names the score and a target (score drift, and what an estimator is
    fitted from); `estimate`: the baseline keeps the CBPE estimator that gives, so every window
    also sums calibrated probabilities (monitor.core.estimation); `multivariate`: the model's
    default PCA multivariate drift stays on."""
    model = MODEL.model_dump(mode="json") | {"window": "1d", "outcome_ttl": "7d"}
    if scored:
        model |= {"score": "score", "target": "y"}
    config = parse_config({"models": [model | {"multivariate": {"enabled": multivariate}}]})
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({n: rng.normal(50, 20, 50_000) for n in NUMERIC})
    for i, name in enumerate(CATEGORICAL):
        reference[name] = rng.choice([f"{name}_v{k}" for k in range(3 + 9 * i)], 50_000)
    reference["score"] = rng.random(50_000)
    reference["prediction"] = (reference["score"] >= 0.5).astype(int)
    reference["y"] = (rng.random(50_000) < reference["score"]).astype(int)
    baseline = build_baseline(reference, config.models[0], config.baselines, "3", "bench", datetime.now(UTC))
    if scored and not estimate:
        baseline = replace(baseline, estimator=None)
    return Service(config, {("churn", "3"): baseline}, MemoryDeadLetters())


def outcomes_for(predictions: list[bytes]) -> list[bytes]:
    out = []
    for raw in predictions[::2]:
        message = orjson.loads(raw)
        out.append(
            orjson.dumps(
                {
                    "prediction_id": message["prediction_id"],
                    "model": "churn",
                    "timestamp": message["timestamp"],
                    "outcome": message["prediction"],
                }
            )
        )
    return out


def cpu_seconds(run: Callable[[], object]) -> float:
    start = time.process_time()
    run()
    return time.process_time() - start


def ingest(service: Service, predictions: list[bytes], outcomes: list[bytes], batch: int) -> Service:
    for i in range(0, len(predictions), batch):
        j = i // 2
        service.handle(
            RawBatch(predictions=predictions[i : i + batch], outcomes=outcomes[j : j + batch // 2])
        )
    return service


def window_state_bytes(service: Service) -> int:
    windows = [w for s in service.monitor.streams.values() for w in s.windows.values()]
    return sum(len(orjson.dumps(w.to_state(), option=orjson.OPT_SERIALIZE_NUMPY)) for w in windows)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench-ingest.json"))
    args = parser.parse_args()

    predictions = make_messages(args.n, seed=1)
    outcomes = outcomes_for(predictions)
    events = len(predictions) + len(outcomes)

    def loads_loop() -> None:
        for m in predictions:
            orjson.loads(m)
        for m in outcomes:
            orjson.loads(m)

    best = {"orjson.loads loop": float("inf")} | {case: float("inf") for case in CASES}
    for _ in range(args.repeats):
        best["orjson.loads loop"] = min(best["orjson.loads loop"], cpu_seconds(loads_loop))
        for case, (scored, estimate, multivariate) in CASES.items():
            service = make_service(
                scored, estimate, multivariate
            )  # not timed: building the baseline is not ingest
            seconds = cpu_seconds(lambda s=service: ingest(s, predictions, outcomes, args.batch))
            best[case] = min(best[case], seconds)

    small = ingest(make_service(), predictions[: args.n // 4], outcomes[: args.n // 8], args.batch)
    large = ingest(make_service(), predictions, outcomes, args.batch)
    joins = large.counters.total("joined")
    assert joins == len(outcomes), (joins, len(outcomes))

    rate = {k: events / v for k, v in best.items()}
    ratio = rate["ingest"] / rate["orjson.loads loop"]
    print(
        f"{events:,} events ({args.n:,} predictions with 25 features + {len(outcomes):,} outcomes), "
        f"batches of {args.batch:,}, best of {args.repeats}, CPU seconds"
    )
    print(f"{'case':<26}{'seconds':>10}{'events/s':>14}{'vs loads':>10}")
    for name, seconds in best.items():
        print(
            f"{name:<26}{seconds:>10.3f}{rate[name]:>14,.0f}{rate[name] / rate['orjson.loads loop']:>10.2f}"
        )
    off = "ingest, multivariate off"
    pca_us = (best["ingest"] - best[off]) / args.n * 1e6
    print(f"PCA reconstruction sums: {pca_us:+.2f} us per prediction ({best['ingest'] / best[off] - 1:+.1%})")
    estimation = best["ingest, scored + CBPE"] - best["ingest, scored"]
    print(f"CBPE estimation sums: {estimation / len(predictions) * 1e6:.3f} CPU µs per prediction")
    state_small, state_large = window_state_bytes(small), window_state_bytes(large)
    pending_small, pending_large = (len(s.monitor.joins["churn"]) for s in (small, large))
    print(
        f"window state: {state_small:,} bytes after {args.n // 4:,} predictions, "
        f"{state_large:,} after {args.n:,} (x{state_large / state_small:.2f} for x4 events); "
        f"join buffer: {pending_small:,} -> {pending_large:,} pending predictions (bounded by the TTL)"
    )
    targets = {"events_per_s >= 150k": rate["ingest"] >= 150_000, "ratio >= 0.60": ratio >= 0.60}
    print("targets: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in targets.items()))
    args.out.write_text(
        json.dumps(
            {
                "events": events,
                "batch": args.batch,
                "cpu_seconds": best,
                "events_per_s": rate,
                "ratio_vs_loads": ratio,
                "pca_us_per_prediction": pca_us,
                "window_state_bytes": {"quarter": state_small, "full": state_large},
                "pending_predictions": {"quarter": pending_small, "full": pending_large},
                "targets": targets,
                "python": platform.python_version(),
                "machine": platform.machine(),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
