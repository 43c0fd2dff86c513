"""Benchmark: the join store's work per checkpoint in SQLite (the layout driftline uses) and in
RocksDB (an LSM, through rocksdict), side by side on the same operations.

    .venv/bin/python tests/benchmarks/bench_join_store.py [--sizes 1000000 10000000]
    # the RocksDB case needs rocksdict, which driftline does not depend on:
    #   .venv/bin/pip install rocksdict==0.3.29    (or PYTHONPATH=<folder holding it>)

Per size, in a fresh subprocess each, with the store in a temporary folder: N pending rows (16-hex-digit
ids, ~40-byte values) loaded in key order, then `--repeats` checkpoints of the same 5 s at 1,000
predictions/s: look up 5,000 new ids (absent) and insert them, look up 5,000 stored ids and mark
them joined, commit durably (SQLite: one transaction, WAL, synchronous=FULL, 1 KiB pages, the rows
keyed by id plus a (segment, generation) index; RocksDB: one WriteBatch with sync=True, the row
under its id plus a (segment, generation, id) key for segment-wide deletes, bloom filters).
Timed: the look-ups, the commit; bytes the kernel wrote (/proc/self/io). Writes JSON (`--out`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks import state_traffic as tt

VALUE = b"x" * 40


def _ids(numbers: np.ndarray) -> list[str]:
    return [f"{x:016x}" for x in tt.mix(numbers).tolist()]


def sqlite_case(folder: Path, pending: int, repeats: int) -> dict[str, float]:
    import sqlite3

    conn = sqlite3.connect(folder / "s.db", isolation_level=None)
    conn.execute("PRAGMA page_size=1024")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute(
        "CREATE TABLE rows (pid TEXT PRIMARY KEY, seg INTEGER, gen INTEGER, value BLOB, state INTEGER) "
        "WITHOUT ROWID"
    )
    conn.execute("CREATE INDEX rows_seg ON rows (seg, gen)")
    order = sorted(_ids(np.arange(pending)))
    for i in range(0, pending, 500_000):
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO rows VALUES (?, 0, 0, ?, 0)", [(p, VALUE) for p in order[i : i + 500_000]]
        )
        conn.execute("COMMIT")

    def lookup(ids: list[str]) -> int:
        found = 0
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            found += len(
                conn.execute(f"SELECT pid, value, state FROM rows WHERE pid IN ({marks})", chunk).fetchall()
            )
        return found

    def commit(new: list[str], joined: list[str], gen: int) -> None:
        conn.execute("BEGIN")
        conn.executemany(
            "UPDATE rows SET state = 1, value = NULL WHERE pid = ?", [(p,) for p in sorted(joined)]
        )
        conn.executemany("INSERT INTO rows VALUES (?, 1, ?, ?, 0)", [(p, gen, VALUE) for p in sorted(new)])
        conn.execute("COMMIT")

    return _measure(pending, repeats, lookup, commit)


def rocksdb_case(folder: Path, pending: int, repeats: int) -> dict[str, float]:
    from rocksdict import BlockBasedOptions, Options, Rdict, WriteBatch, WriteOptions

    options = Options(raw_mode=True)
    options.create_if_missing(True)
    table = BlockBasedOptions()
    table.set_bloom_filter(10, False)
    options.set_block_based_table_factory(table)
    db = Rdict(str(folder / "r"), options)
    sync = WriteOptions()
    sync.sync = True
    order = sorted(_ids(np.arange(pending)))
    for i in range(0, pending, 500_000):
        batch = WriteBatch(raw_mode=True)
        for p in order[i : i + 500_000]:
            batch.put(p.encode(), b"\x00" + VALUE)
            batch.put(b"s0:0:" + p.encode(), b"")
        db.write(batch)

    def lookup(ids: list[str]) -> int:
        return sum(v is not None for v in db.get([p.encode() for p in ids]))

    def commit(new: list[str], joined: list[str], gen: int) -> None:
        batch = WriteBatch(raw_mode=True)
        for p in joined:
            batch.put(p.encode(), b"\x01")
        for p in new:
            batch.put(p.encode(), b"\x00" + VALUE)
            batch.put(f"s1:{gen}:".encode() + p.encode(), b"")
        db.write(batch, sync)

    result = _measure(pending, repeats, lookup, commit)
    db.close()
    return result


def _measure(pending: int, repeats: int, lookup, commit) -> dict[str, float]:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    look, save, written = [], [], []
    for r in range(repeats):
        new = _ids(np.arange(pending + r * 5000, pending + (r + 1) * 5000))
        joined = _ids(rng.choice(pending, 5000, replace=False))
        t0 = time.perf_counter()
        assert lookup(new) == 0
        lookup(joined)
        look.append(time.perf_counter() - t0)
        w0 = tt.written_bytes()
        t0 = time.perf_counter()
        commit(new, joined, r + 1)
        save.append(time.perf_counter() - t0)
        written.append(tt.written_bytes() - w0)
    return {
        "pending": pending,
        "lookup_ms": float(np.median(look) * 1000),
        "commit_ms": float(np.median(save) * 1000),
        "written_kib": float(np.median(written) / 1024),
        "peak_rss_mib": tt.peak_rss_bytes() / 2**20,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("bench-join-store.json"))
    parser.add_argument("--child", choices=["sqlite", "rocksdb"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        folder = Path(tempfile.mkdtemp(prefix="driftline-bench-join-store-"))
        try:
            case = sqlite_case if args.child == "sqlite" else rocksdb_case
            row = case(folder, args.sizes[0], args.repeats)
            row["disk_mib"] = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20
        finally:
            shutil.rmtree(folder)
        print(json.dumps(row))
        return 0
    rows = []
    print(
        f"{'store':>8} {'pending':>11} {'lookup ms':>9} {'commit ms':>9} {'written KiB':>11} {'disk MiB':>8}"
    )
    for size in args.sizes:
        for store in ("sqlite", "rocksdb"):
            cmd = [
                sys.executable,
                __file__,
                "--child",
                store,
                "--sizes",
                str(size),
                "--repeats",
                str(args.repeats),
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(f"{store:>8} {size:>11,} failed: {done.stderr.strip().splitlines()[-1]}")
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1]) | {"store": store}
            rows.append(row)
            print(
                f"{store:>8} {size:>11,} {row['lookup_ms']:>9.1f} {row['commit_ms']:>9.1f} "
                f"{row['written_kib']:>11,.0f} {row['disk_mib']:>8,.0f}",
                flush=True,
            )
    args.out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
