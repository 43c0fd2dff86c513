"""Benchmark: checkpoint and restore cost against the number of pending predictions.

    .venv/bin/python tests/benchmarks/bench_state.py                        # 10k, 1M, 10M pending
    .venv/bin/python tests/benchmarks/bench_state.py --sizes 10000 1000000 --out bench-state-small.json
    .venv/bin/python tests/benchmarks/bench_state.py --stores rocksdb       # one embedded store only

Each size and store (SQLite and RocksDB, the two embedded `state.url` schemes) runs in a fresh
subprocess with its store in a temporary folder (deleted after):

1. fill: N predictions (1,000/s of event time, random 16-hex-digit ids, no outcomes yet) ingested
   through `Monitor` in chunks, each chunk checkpointed (`save_partitions`). The chunks go in id
   order, each holding predictions from the whole period (allowed lateness is 1 day here, so none
   is late), so that each chunk's rows fill a key range of their own: loading 10M rows at random
   into a b-tree would rewrite most of its pages at every chunk;
2. settle: RocksDB's memtables flushed and its compactions waited for (`settle s`), so that the
   fill's own compaction debt (a bulk load of N rows in a few seconds) does not land in the
   measured checkpoints; SQLite has none. The compactions that steady traffic causes are measured
   by bench_soak.py, over hours;
3. the same 5 s of traffic at every size, `--repeats` times: 5,000 new predictions and 5,000
   outcomes for pending predictions picked at random from the whole fill (so nearly all are read
   from the store, not the cache), then one checkpoint; timed are the ingest and the checkpoint,
   and the bytes the checkpoint made the kernel write (`/proc/self/io` write_bytes: WAL and
   database pages, fsyncs included; RocksDB's flushes and compactions run on background threads
   of the same process and count when they fall inside a checkpoint, but five checkpoints do not
   fill its 32 MiB memtable);
4. restore, in another fresh subprocess: open the store, load the partition, restore it into a new
   `Monitor`, join one outcome (the first look-up); its time and peak RSS.

RSS: the filling process's resident set after the traffic, and its peak (ru_maxrss). Prints a
table; writes JSON (`--out`). Targets (the issue): checkpoint at 10M pending within 2x of 10k,
RSS at 10M under 1 GB, restore under 5 s.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from monitor.pipeline.events import OutcomeBatch, PredictionBatch
from monitor.pipeline.monitor import Batch, Monitor
from monitor.state.factory import open_state_store
from monitor.state.partitions import restore_partition, save_partitions
from monitor.state.store import StateStore
from tests.benchmarks import state_traffic as tt

GROUP = "bench"
START_MS = 1_767_571_200_000  # 2026-01-05T00:00Z
CHUNK = 500_000


def _predictions(
    first: int, count: int, rng: np.random.Generator, n: np.ndarray | None = None
) -> PredictionBatch:
    """Predictions number `first`..`first + count` (or `n`), stamped 1 ms apart from START_MS."""
    n = np.arange(first, first + count, dtype=np.int64) if n is None else n
    count = len(n)
    x = rng.normal(size=(len(tt.FEATURES), count))
    return PredictionBatch(
        model="m",
        model_version="1",
        prediction_id=tt.ids_of(n),
        timestamp=START_MS + n,  # 1,000 per second
        features={f: x[i] for i, f in enumerate(tt.FEATURES)},
        prediction=np.where(x[0] > 0, "1", "0").astype(object),
        score=1 / (1 + np.exp(-x[0])),
        segment=np.full(count, None, dtype=object),
    )


def _outcomes(numbers: np.ndarray, at_ms: int) -> OutcomeBatch:
    return OutcomeBatch(
        model="m",
        prediction_id=tt.ids_of(numbers),
        timestamp=np.full(len(numbers), at_ms, np.int64),
        outcome=np.where(numbers % 2 == 0, "1", "0").astype(object),
    )


def _open(kind: str, folder: Path) -> StateStore:
    return open_state_store(f"{kind}:///{folder / 'state'}")


def settle(store: StateStore, poll_s: float = 0.2) -> float:
    """Flush RocksDB's memtables and wait until no flush or compaction runs or is due; seconds
    taken (0 for SQLite). Reads the store's handle: a benchmark's view, not the product's API."""
    handle = getattr(store, "_handle", None)
    if handle is None:
        return 0.0
    db, began = handle.db, time.perf_counter()
    db.flush()
    busy = ("rocksdb.num-running-flushes", "rocksdb.num-running-compactions", "rocksdb.compaction-pending")
    while any(db.property_int_value(name) for name in busy):
        time.sleep(poll_s)
    return time.perf_counter() - began


def fill_and_measure(kind: str, folder: Path, pending: int, repeats: int) -> dict[str, float | str]:
    cfg = tt.config(allowed_lateness="1d")
    monitor = Monitor(cfg, tt.baseline(cfg))
    store = _open(kind, folder)
    rng = np.random.default_rng(0)
    began = time.perf_counter()
    by_id = np.argsort(tt.mix(np.arange(pending, dtype=np.int64)))  # numbers in id order
    for first in range(0, pending, CHUNK):
        chunk = np.sort(by_id[first : first + CHUNK])  # each chunk in time order
        monitor.ingest(Batch({("m", "1"): _predictions(0, 0, rng, n=chunk)}))
        save_partitions(store, GROUP, [(0, {"n": first}, monitor)])
    fill_s = time.perf_counter() - began
    settle_s = settle(store)
    ingest, checkpoint, written, payload = [], [], [], []
    answered: set[int] = set()
    next_id = pending
    for _ in range(repeats):
        # 5 s at 1,000/s: new predictions, and outcomes for pending ones from anywhere in the fill.
        picks = rng.choice(pending, 5000, replace=False)
        picks = np.asarray([p for p in picks.tolist() if p not in answered], dtype=np.int64)
        answered.update(picks.tolist())
        now = START_MS + next_id + 5000
        batch = Batch({("m", "1"): _predictions(next_id, 5000, rng)}, {"m": _outcomes(picks, now)})
        next_id += 5000
        t0 = time.perf_counter()
        monitor.ingest(batch)
        ingest.append(time.perf_counter() - t0)
        w0 = tt.written_bytes()
        t0 = time.perf_counter()
        payload.append(save_partitions(store, GROUP, [(0, {"n": next_id}, monitor)]))
        checkpoint.append(time.perf_counter() - t0)
        written.append(tt.written_bytes() - w0)
    joined = monitor.counters.total("joined")
    store.close()
    return {
        "store": kind,
        "pending": pending,
        "fill_s": fill_s,
        "settle_s": settle_s,
        "ingest_ms": float(np.median(ingest) * 1000),
        "checkpoint_ms": float(np.median(checkpoint) * 1000),
        "checkpoint_max_ms": float(np.max(checkpoint) * 1000),
        "written_kib": float(np.median(written) / 1024),
        "state_blobs_kib": float(np.median(payload) / 1024),
        "rss_mib": tt.rss_bytes() / 2**20,
        "peak_rss_mib": tt.peak_rss_bytes() / 2**20,
        "joined": joined,
        "disk_mib": tt.disk_bytes(folder) / 2**20,
    }


def restore_and_join(kind: str, folder: Path) -> dict[str, float]:
    cfg = tt.config(allowed_lateness="1d")
    monitor = Monitor(cfg, tt.baseline(cfg))
    rss0 = tt.rss_bytes()
    began = time.perf_counter()
    store = _open(kind, folder)
    stored = store.load(GROUP, [0])[0]
    restore_partition(store, GROUP, stored, monitor)
    restore_s = time.perf_counter() - began
    began = time.perf_counter()
    monitor.ingest(
        Batch(outcomes={"m": _outcomes(np.asarray([1], np.int64), START_MS + stored.offsets["n"])})
    )
    first_join_s = time.perf_counter() - began
    store.close()
    return {
        "restore_s": restore_s,
        "first_join_ms": first_join_s * 1000,
        "restore_rss_above_start_mib": (tt.peak_rss_bytes() - rss0) / 2**20,
        "restore_peak_rss_mib": tt.peak_rss_bytes() / 2**20,
    }


def _child(args: list[str]) -> dict[str, float | str]:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000, 10_000_000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--stores", nargs="+", choices=["sqlite", "rocksdb"], default=["sqlite", "rocksdb"])
    parser.add_argument("--out", type=Path, default=Path("bench-state.json"))
    parser.add_argument("--child", choices=["fill", "restore"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "fill":
        print(json.dumps(fill_and_measure(args.stores[0], args.folder, args.sizes[0], args.repeats)))
        return 0
    if args.child == "restore":
        print(json.dumps(restore_and_join(args.stores[0], args.folder)))
        return 0

    rows = []
    print(
        f"{'store':>7} {'pending':>11} {'fill s':>7} {'settle s':>8} {'ingest ms':>9} "
        f"{'ckpt ms':>8} {'max ms':>7} "
        f"{'written KiB':>11} {'blobs KiB':>9} {'RSS MiB':>8} {'peak MiB':>8} {'restore s':>9} "
        f"{'restore MiB':>11} {'disk MiB':>8}"
    )
    for size, kind in [(size, kind) for size in args.sizes for kind in args.stores]:
        folder = Path(tempfile.mkdtemp(prefix="driftline-bench-state-"))
        where = ["--stores", kind, "--folder", str(folder)]
        try:
            row = _child(["--child", "fill", "--sizes", str(size), "--repeats", str(args.repeats), *where])
            row |= _child(["--child", "restore", *where])
        finally:
            shutil.rmtree(folder)
        rows.append(row)
        print(
            f"{kind:>7} {row['pending']:>11,} {row['fill_s']:>7.1f} {row['settle_s']:>8.1f} "
            f"{row['ingest_ms']:>9.1f} "
            f"{row['checkpoint_ms']:>8.1f} "
            f"{row['checkpoint_max_ms']:>7.1f} {row['written_kib']:>11,.0f} {row['state_blobs_kib']:>9,.0f} "
            f"{row['rss_mib']:>8.0f} {row['peak_rss_mib']:>8.0f} {row['restore_s']:>9.2f} "
            f"{row['restore_peak_rss_mib']:>11.0f} {row['disk_mib']:>8,.0f}",
            flush=True,
        )
    args.out.write_text(
        json.dumps({"machine": platform.platform(), "cpus": tt.cpu_count(), "rows": rows}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
