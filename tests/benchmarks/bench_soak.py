"""Soak: days of event time at a steady rate through `Monitor` with its state in an embedded store
(`--store sqlite` or `rocksdb`), printing per simulated hour the checkpoint time, bytes written,
RSS, pending predictions and the store's size.

    .venv/bin/python tests/benchmarks/bench_soak.py --days 7 --rate 1000            # the issue's run
    .venv/bin/python tests/benchmarks/bench_soak.py --resume DIR --max-minutes 60   # go on from DIR

Traffic (tests/benchmarks/state_traffic.py): `--rate` predictions per second of one classifier
with five numeric features, outcomes 1-48 h later for 95 % of them (never for the rest), in
steps of 5 s of event time; after every step a checkpoint, as the shipped 5 s interval would take
at that rate. Each simulated hour the closed windows are evaluated and final ones dropped, as the
service's evaluator does. The database lives in a temporary folder (or `--resume DIR`); the
step reached is the checkpoint's offset, so a run stopped at any point (`--max-minutes`, Ctrl-C,
kill -9) resumes where its last checkpoint left off, at the rate it was started with
(kept in DIR/run.json). The folder is deleted at the end unless the
run stopped early or `--keep` is given. Per-hour rows go to DIR/progress.jsonl and, at the end,
to `--out` (bench-soak.json).

`--writer thread` saves each checkpoint on a thread of its own while the next step is ingested, as
the Kafka consumer does (monitor.state.partitions.CheckpointWriter); "ckpt ms" is then the time
the loop itself spends on it (taking it, waiting for the save before, marking that saved).
`--writer inline` (the default) saves it in place, as the file sources do.
The loop runs with the garbage collector set as `driftline run` sets it (monitor/gc_tuning.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from monitor.evaluation.evaluator import Evaluator
from monitor.gc_tuning import streaming_collector
from monitor.pipeline.monitor import Monitor
from monitor.state.factory import open_state_store
from monitor.state.partitions import CheckpointWriter, restore_partition, save_partitions
from tests.benchmarks import state_traffic as tt

GROUP = "soak"
STORE_NAMES = {"sqlite": "state.db", "rocksdb": "state"}  # state.db: runs from before --store
START_MS = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp() * 1000)
STEPS_PER_HOUR = 3_600_000 // tt.STEP_MS
HEADER = (
    f"{'hour':>5} {'wall s':>8} {'ingest ms':>9} {'ckpt ms':>8} {'p99 ms':>7} {'max ms':>7} "
    f"{'KiB/ckpt':>9} {'RSS MiB':>8} {'pending':>11} {'held':>6} {'db MiB':>8}"
)


def row_text(r: dict[str, float]) -> str:
    return (
        f"{r['hour']:>5} {r['wall_s']:>8.0f} {r['ingest_ms']:>9.1f} {r['checkpoint_ms']:>8.1f} "
        f"{r['checkpoint_p99_ms']:>7.1f} {r['checkpoint_max_ms']:>7.1f} "
        f"{r['written_kib_per_checkpoint']:>9.0f} "
        f"{r['rss_mib']:>8.0f} {r['pending']:>11,} {r['held']:>6,} {r['db_mib']:>8.0f}"
    )


DEFAULTS = {"rate": 1000, "store": "sqlite"}


def run_settings(folder: Path, asked: dict[str, Any], parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The run's rate and store, kept in the folder (run.json) so that a resumed run goes on with
    those its state was built with; a different --rate or --store for an existing run is an error."""
    settings = folder / "run.json"
    if settings.exists():
        kept = DEFAULTS | json.loads(settings.read_text())  # runs from before --store were SQLite
        for name, value in asked.items():
            if value is not None and value != kept[name]:
                parser.error(
                    f"{folder} holds a run with --{name} {kept[name]}; resume it without --{name} "
                    f"or with {kept[name]}"
                )
        return kept
    kept = {name: DEFAULTS[name] if value is None else value for name, value in asked.items()}
    settings.write_text(json.dumps(kept))
    return kept


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=float, default=7.0, help="simulated days (default 7)")
    parser.add_argument(
        "--rate", type=int, help="predictions per second (default 1000; a resumed run keeps its own)"
    )
    parser.add_argument(
        "--store",
        choices=["sqlite", "rocksdb"],
        help="the embedded state store (default sqlite; a resumed run keeps its own)",
    )
    parser.add_argument(
        "--resume", type=Path, help="the folder of a stopped run, to go on from its last checkpoint"
    )
    parser.add_argument("--max-minutes", type=float, help="stop (resumably) after this much wall time")
    parser.add_argument("--keep", action="store_true", help="keep the database folder at the end")
    parser.add_argument(
        "--writer",
        choices=["inline", "thread"],
        default="inline",
        help="save each checkpoint in place, or on a thread of its own while the next step is ingested",
    )
    parser.add_argument("--out", type=Path, default=Path("bench-soak.json"))
    args = parser.parse_args()

    folder = args.resume or Path(tempfile.mkdtemp(prefix="driftline-soak-"))
    folder.mkdir(parents=True, exist_ok=True)
    kept = run_settings(folder, {"rate": args.rate, "store": args.store}, parser)
    args.rate, args.store = kept["rate"], kept["store"]
    cfg = tt.config()
    baselines = tt.baseline(cfg)
    traffic = tt.Traffic(args.rate, min_delay_s=3600, max_delay_s=48 * 3600, never=20, start_ms=START_MS)
    store = open_state_store(f"{args.store}:///{folder / STORE_NAMES[args.store]}")
    monitor = Monitor(cfg, baselines)
    stored = store.load(GROUP, [0]).get(0)
    step = 0
    if stored is not None:
        began = time.perf_counter()
        restore_partition(store, GROUP, stored, monitor)
        step = stored.offsets["step"]
        print(
            f"resumed at step {step:,} (hour {step / STEPS_PER_HOUR:.1f}) "
            f"in {time.perf_counter() - began:.2f} s"
        )
    last = int(args.days * 24 * STEPS_PER_HOUR)
    evaluator = Evaluator(cfg, baselines)
    progress = folder / "progress.jsonl"
    print(
        f"{args.store} state in {folder}; {args.rate:,} predictions/s for {args.days} days "
        f"= {last:,} steps of 5 s"
    )
    print(HEADER)
    deadline = None if args.max_minutes is None else time.monotonic() + args.max_minutes * 60
    wall0 = time.perf_counter()
    ingest_s: list[float] = []
    checkpoint_s: list[float] = []
    written0 = tt.written_bytes()
    stopped_early = False
    writer = CheckpointWriter(store, GROUP) if args.writer == "thread" else None
    with streaming_collector():  # as `driftline run` reads
        try:
            while step < last:
                rng = np.random.default_rng(step)
                batch = traffic.step(step, rng)
                began = time.perf_counter()
                monitor.ingest(batch)
                ingest_s.append(time.perf_counter() - began)
                step += 1
                began = time.perf_counter()
                if writer is None:
                    save_partitions(store, GROUP, [(0, {"step": step}, monitor)])
                else:
                    writer.wait()
                    writer.finish()
                    writer.start([(0, {"step": step}, monitor)])
                checkpoint_s.append(time.perf_counter() - began)
                if step % STEPS_PER_HOUR == 0:
                    now = datetime.fromtimestamp((START_MS + step * tt.STEP_MS) / 1000, tz=UTC)
                    for due in evaluator.due([monitor]):
                        evaluator.evaluate(due, now)
                    Evaluator.drop_final([monitor])
                    written = tt.written_bytes()
                    ckpt = np.asarray(checkpoint_s) * 1000
                    row = {
                        "hour": step // STEPS_PER_HOUR,
                        "wall_s": time.perf_counter() - wall0,
                        "ingest_ms": float(np.mean(ingest_s) * 1000),
                        "checkpoint_ms": float(ckpt.mean()),
                        "checkpoint_p99_ms": float(np.percentile(ckpt, 99)),
                        "checkpoint_max_ms": float(ckpt.max()),
                        "written_kib_per_checkpoint": (written - written0) / len(ckpt) / 1024,
                        "rss_mib": tt.rss_bytes() / 2**20,
                        "peak_rss_mib": tt.peak_rss_bytes() / 2**20,
                        "pending": len(monitor.joins["m"]),
                        "held": monitor.joins["m"].held,
                        "db_mib": tt.disk_bytes(folder) / 2**20,
                        "windows": sum(len(s.windows) for s in monitor.streams.values()),
                    }
                    with progress.open("ab") as handle:
                        handle.write(orjson.dumps(row) + b"\n")
                    print(row_text(row), flush=True)
                    ingest_s, checkpoint_s, written0 = [], [], written
                    if deadline is not None and time.monotonic() > deadline:
                        stopped_early = True
                        break
        except KeyboardInterrupt:
            stopped_early = True
        finally:
            if writer is not None:
                writer.wait()
                writer.finish()
            store.close()
    rows = [orjson.loads(line) for line in progress.read_bytes().splitlines()] if progress.exists() else []
    counters = {f"{n} {lb}": v for n, lb, v in monitor.counters.items()}
    summary = {
        "rate": args.rate,
        "store": args.store,
        "days": args.days,
        "writer": args.writer,
        "steps_done": step,
        "steps_planned": last,
        "finished": step >= last,
        "folder": str(folder),
        "disk_bytes": tt.disk_bytes(folder),
        "counters": counters,
        "hours": rows,
    }
    args.out.write_text(json.dumps(summary, indent=2))
    print(
        f"{'finished' if step >= last else 'stopped'} at step {step:,} of {last:,}; "
        f"disk {summary['disk_bytes'] / 2**20:,.0f} MiB"
    )
    if not stopped_early and not args.keep:
        shutil.rmtree(folder)
        print(f"deleted {folder}")
    else:
        print(f"kept {folder}: resume with --resume {folder}, delete it when done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
