"""Benchmark: what the robustness of ingest costs, and what poison costs when it comes.

    .venv/bin/python tests/benchmarks/bench_poison.py [--n 200000] [--batch 10000] [--out bench-poison.json]

Messages: the 25-feature predictions of bench_decode.py, plus an outcome for every second one.
Cases, timed in CPU seconds of this process, best of `--repeats`, interleaved:

  clean                 Service.handle over the stream, batches of --batch (what bench_ingest times)
  1% poison             the same stream with 1% of the predictions replaced by the issue's messages
                        (a feature at 1e200, +-1e308, a timestamp in 2199, "Infinity" in a string),
                        all dead-lettered; the rest as in `clean`
  savepoint per group   Savepoint(...) of the model plus the copy-on-write fork of its window, as
                        Monitor.ingest takes them for each group (microseconds, best of 200)
  undo per group        a group that raises (a window's state corrupted by hand), undone and
                        dead-lettered as internal_error: Service.handle of one batch of --batch

The clean rate is the one to compare with bench_ingest.py's (the savepoint is in both now).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from monitor.pipeline.raw_batch import RawBatch
from monitor.pipeline.savepoint import Savepoint
from monitor.service import Service
from tests.benchmarks.bench_decode import make_messages
from tests.benchmarks.bench_ingest import cpu_seconds, ingest, make_service, outcomes_for


def poisoned(predictions: list[bytes], every: int) -> list[bytes]:
    """Every `every`-th prediction replaced by one of the issue's messages."""
    kinds = []
    for value in (1e200, 1e308, -1e308):
        kinds.append(lambda m, v=value: m.__setitem__("features", {**m["features"], "num_00": v}))
    kinds.append(lambda m: m.__setitem__("timestamp", "2199-01-01T00:00:00Z"))
    kinds.append(lambda m: m.__setitem__("features", {**m["features"], "num_01": "Infinity"}))
    out = list(predictions)
    for k, i in enumerate(range(0, len(out), every)):
        message = orjson.loads(out[i])
        kinds[k % len(kinds)](message)
        out[i] = orjson.dumps(message)
    return out


def best_micros(run: Callable[[], object], times: int = 200) -> float:
    best = float("inf")
    for _ in range(times):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench-poison.json"))
    args = parser.parse_args()

    clean = make_messages(args.n, seed=1)
    outcomes = outcomes_for(clean)
    dirty = poisoned(clean, every=100)
    events = len(clean) + len(outcomes)
    best = {"clean": float("inf"), "1% poison": float("inf")}
    rejected = 0
    for _ in range(args.repeats):
        for name, predictions in (("clean", clean), ("1% poison", dirty)):
            service = make_service()
            best[name] = min(
                best[name], cpu_seconds(lambda s=service, p=predictions: ingest(s, p, outcomes, args.batch))
            )
            if name == "1% poison":
                rejected = service.counters.total("rejected")

    service = ingest(make_service(), clean, outcomes, args.batch)
    monitor = service.monitor
    stream = monitor.streams[("churn", "3")]
    (start,) = stream.windows

    def savepoint() -> None:
        Savepoint(monitor, "churn").writable(stream, start)

    savepoint_us = best_micros(savepoint)
    logging.getLogger("driftline.service").setLevel(logging.CRITICAL)  # the undo's traceback, each run
    undo = make_service()
    ingest(undo, clean[: args.batch], outcomes[: args.batch // 2], args.batch)
    (window,) = undo.monitor.streams[("churn", "3")].windows.values()
    last = list(window.sketch.features)[-1]
    window.sketch.features[last].counts = window.sketch.features[last].counts[:-1]
    again = [m.replace(b'"prediction_id":"', b'"prediction_id":"again-') for m in clean[: args.batch]]
    undo_seconds = min(cpu_seconds(lambda: check_undone(undo, again)) for _ in range(args.repeats))

    rate = {k: events / v for k, v in best.items()}
    print(f"{events:,} events, batches of {args.batch:,}, best of {args.repeats}, CPU seconds")
    print(f"{'case':<22}{'seconds':>10}{'events/s':>14}{'vs clean':>10}")
    for name, seconds in best.items():
        print(f"{name:<22}{seconds:>10.3f}{rate[name]:>14,.0f}{rate[name] / rate['clean']:>10.2f}")
    print(f"1% poison: {rejected:,} messages dead-lettered")
    print(f"savepoint per group (model state + one window, copy-on-write): {savepoint_us:,.0f} us")
    print(
        f"undo per group ({args.batch:,} predictions failing, dead-lettered): {undo_seconds * 1000:,.1f} ms"
    )
    args.out.write_text(
        json.dumps(
            {
                "events": events,
                "batch": args.batch,
                "cpu_seconds": best,
                "events_per_s": rate,
                "rejected": rejected,
                "savepoint_us": savepoint_us,
                "undo_ms": undo_seconds * 1000,
                "python": platform.python_version(),
                "machine": platform.machine(),
            },
            indent=2,
        )
    )
    return 0


def check_undone(service: Service, predictions: list[bytes]) -> None:
    rejected = service.handle(RawBatch(predictions=predictions))
    assert len(rejected) == len(predictions) and rejected[0].reason == "internal_error"


if __name__ == "__main__":
    sys.exit(main())
