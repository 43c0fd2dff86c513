"""Benchmark: storing evaluated windows in the state store, and what it costs ingestion.

    .venv/bin/python tests/benchmarks/bench_results.py [--windows 168] [--n 240000] [--out bench-results.json]

The windows are those of bench_decode.py's model (25 features: 20 numeric, 5 categorical) with
hourly windows and the default 2,000-row sample per window. Cases, side by side in one run:

  write       DurableResults.write of one pass holding one new window (what each window close
              costs the evaluation thread): encode, deflate the sample, one transaction with the
              index; `--windows` passes, median / p95 / max, on SQLite (synchronous=FULL) and
              PostgreSQL (--postgres; a schema of its own, dropped afterwards)
  rewrite     one pass re-evaluating the newest 24 windows at once (late outcomes)
  load        DurableResults.load at start: `--windows` windows, the newest 24 with samples
  ingest      Service.handle of `--n` predictions (+ an outcome for every second) on this thread
              while the scheduler evaluates every 200 ms, once with the results stored
              (SQLite) and once without: CPU seconds of the ingesting thread and wall seconds,
              best of --repeats, interleaved (which runs first alternates)
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from monitor.evaluation.result_record import encode_result, encode_sample
from monitor.evaluation.result_store import ResultStore
from monitor.evaluation.results import WindowResult
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service
from monitor.state.durable_results import DurableResults
from monitor.state.factory import open_state_store
from monitor.state.result_archive import ResultArchive, Retention
from monitor.state.store import StateStore
from tests.benchmarks.bench_decode import make_messages
from tests.benchmarks.bench_ingest import make_service as make_daily_service
from tests.benchmarks.bench_ingest import outcomes_for

SAMPLES = 24  # api.report_windows' default


def make_service() -> Service:
    """bench_ingest's service with hourly windows (its baseline, built once per call)."""
    daily = make_daily_service()
    model = daily.config.models[0].model_copy(update={"window": timedelta(hours=1)})
    config = daily.config.model_copy(update={"models": [model]})
    config = config.model_copy(
        update={"evaluation": config.evaluation.model_copy(update={"interval": timedelta(milliseconds=200)})}
    )
    return Service(config, daily.baselines, daily.dead_letters)


def one_result() -> WindowResult:
    """A real evaluated hour: 14,400 predictions, a full 2,000-row sample."""
    service = make_service()
    predictions = make_messages(30_000, seed=7)  # 0.25 s apart: two hours and a bit
    service.handle(RawBatch(predictions=predictions, outcomes=outcomes_for(predictions)))
    results = service.evaluate()
    assert results and results[0].sample is not None and len(results[0].sample) == 2000
    return results[0]


def hours(result: WindowResult, n: int) -> list[WindowResult]:
    return [
        replace(
            result,
            window_start=result.window_start + timedelta(hours=i),
            window_end=result.window_end + timedelta(hours=i),
            evaluated_at=result.evaluated_at + timedelta(hours=i),
        )
        for i in range(n)
    ]


def durable(store: StateStore, results: ResultStore | None = None, windows: int = 168) -> DurableResults:
    archive = ResultArchive(store, Retention(windows=windows, samples=SAMPLES))
    return DurableResults(
        archive, results or ResultStore(history=windows), lambda: datetime.now(UTC), ["churn"]
    )


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def store_cases(name: str, opener: Callable[[], StateStore], results: list[WindowResult]) -> dict[str, Any]:
    sink = durable(opener(), windows=len(results))
    writes = [timed(lambda r=r: sink.write([r])) * 1000 for r in results]
    rewritten = [replace(r, evaluated_at=r.evaluated_at + timedelta(minutes=5)) for r in results[-SAMPLES:]]
    rewrite = timed(lambda: sink.write(rewritten)) * 1000
    sink.close()
    loaded = ResultStore(history=len(results), samples_kept=SAMPLES)
    reader = durable(opener(), loaded, windows=len(results))
    load = timed(reader.load)
    reader.close()
    assert len(loaded.windows("churn", "3")) == len(results)
    return {
        "store": name,
        "write_ms": {
            "median": statistics.median(writes),
            "p95": statistics.quantiles(writes, n=20)[-1],
            "max": max(writes),
        },
        "rewrite_24_ms": rewrite,
        "load_s": load,
    }


def ingest(service: Service, predictions: list[bytes], outcomes: list[bytes], batch: int = 10_000) -> None:
    service.start_scheduler()
    try:
        for i in range(0, len(predictions), batch):
            service.handle(
                RawBatch(predictions=predictions[i : i + batch], outcomes=outcomes[i // 2 : (i + batch) // 2])
            )
        service.evaluate(flush=True)
    finally:
        service.stop_scheduler()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--windows", type=int, default=168)
    parser.add_argument("--n", type=int, default=240_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"))
    args = parser.parse_args()

    result = one_result()
    results = hours(result, args.windows)
    sizes = {
        "window_record_bytes": len(encode_result(result)),
        "sample_record_bytes": len(encode_sample(result.sample)),
    }  # type: ignore[arg-type]
    work = Path(tempfile.mkdtemp(prefix="bench-results-"))
    stores = [store_cases("SQLite", lambda: open_state_store(f"sqlite:///{work / 'store.db'}"), results)]
    schema = f"bench_results_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            url = f"{args.postgres}?options=-csearch_path%3D{schema}"
            stores.append(store_cases("PostgreSQL", lambda: open_state_store(url), results))
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")

    predictions = make_messages(args.n, seed=1)
    outcomes = outcomes_for(predictions)
    cases = ("without stored results", "with stored results (SQLite)")
    wall = dict.fromkeys(cases, float("inf"))
    cpu = dict.fromkeys(cases, float("inf"))  # of the ingesting thread only
    evaluated = {}
    for repeat in range(args.repeats):
        for case in cases[:: 1 if repeat % 2 == 0 else -1]:  # alternate which case runs first
            service = make_service()  # not timed: building the baseline
            if case.startswith("with"):
                service.sinks.append(durable(open_state_store(f"sqlite:///{work / f'ingest-{repeat}.db'}")))
            start_cpu = time.thread_time()
            seconds = timed(lambda s=service: ingest(s, predictions, outcomes))
            cpu[case] = min(cpu[case], time.thread_time() - start_cpu)
            wall[case] = min(wall[case], seconds)
            service.close_sinks()
            evaluated[case] = sum(len(service.results.windows(*s)) for s in service.results.streams())
    events = len(predictions) + len(outcomes)

    print(
        f"one window: {sizes['window_record_bytes']:,} bytes of record, {sizes['sample_record_bytes']:,} "
        f"of row sample (2,000 rows x 25 features, deflated); {args.windows} windows, "
        f"samples on the newest {SAMPLES}"
    )
    print(f"{'store':<12}{'write median ms':>17}{'p95 ms':>9}{'max ms':>9}{'rewrite 24 ms':>15}{'load s':>9}")
    for c in stores:
        w = c["write_ms"]
        print(
            f"{c['store']:<12}{w['median']:>17.2f}{w['p95']:>9.2f}{w['max']:>9.2f}{c['rewrite_24_ms']:>15.1f}{c['load_s']:>9.3f}"
        )
    print(
        f"ingest: {events:,} events, {evaluated[cases[0]]} windows evaluated meanwhile, "
        f"best of {args.repeats}; CPU of the ingesting thread, and wall"
    )
    print(f"  {'case':<30}{'CPU s':>8}{'wall s':>8}{'events/s (wall)':>17}{'vs without':>12}")
    for case in cases:
        rate, ratio = events / wall[case], wall[cases[0]] / wall[case]
        print(f"  {case:<30}{cpu[case]:>8.2f}{wall[case]:>8.2f}{rate:>17,.0f}{ratio:>12.2f}")
    args.out.write_text(
        json.dumps(
            {
                **sizes,
                "windows": args.windows,
                "stores": stores,
                "ingest": {
                    "events": events,
                    "wall_s": wall,
                    "thread_cpu_s": cpu,
                    "windows_evaluated": evaluated,
                },
                "python": platform.python_version(),
                "machine": platform.machine(),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
