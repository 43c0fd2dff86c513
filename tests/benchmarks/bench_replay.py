"""Benchmark: `driftline replay` of a million historical predictions (and their outcomes).

    .venv/bin/python tests/benchmarks/bench_replay.py [--n 1000000] [--out bench-replay.json]

Data: a classifier with 20 features (15 numeric, 5 categorical) and scores; `--n` predictions
spread over 7 days (hourly windows: 168), each with its outcome 2 hours later, so 2n events; from
day 6 on, two numeric features shift by half a standard deviation and one categorical feature is
reweighted. The baseline (50k reference rows) and the files are made before anything is timed.

Cases, each `driftline replay --json` in a fresh process, the same history in three files:

  parquet      the columnar file: columns become decoded batches directly (consumers/replay/columnar.py)
  csv          the same rows as CSV (pandas' reader does the parsing)
  jsonl        the same events as JSON messages, through the decoder (as a live source sends them)

Each reads the file, sorts the events by event time, feeds them to the service, evaluates every
window as it closes and the alert rules in dry run. Reported: wall and CPU seconds of the process
(imports and start-up included), events per wall second, the peak RSS of the process (from the
kernel, `wait4`), and the windows and alerts the run produced (the same for all three, or the
script exits 1).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

if "--make" in sys.argv:  # the child that makes the files; the parent stays small (see run_case)
    import numpy as np
    import orjson
    import pandas as pd
    import yaml

    from monitor.baselines.baseline import build_baseline
    from monitor.baselines.store import BaselineStore
    from monitor.config import parse_config

NUMERIC = [f"n{i}" for i in range(15)]
CATEGORICAL = [f"c{i}" for i in range(5)]
START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 7


def frame(n: int, rng: Any, shifted: Any = None) -> Any:
    shifted = np.zeros(n, dtype=bool) if shifted is None else shifted
    data: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        values = rng.normal(50, 10, n) if i % 2 else rng.gamma(2.0 + i / 5, 10, n)
        if i < 2:
            values = values + np.where(shifted, 5.0 if i % 2 else 0.5 * values.std(), 0.0)
        data[name] = values
    for i, name in enumerate(CATEGORICAL):
        labels = np.array([f"{name}_{k}" for k in range(3 + 4 * i)])
        weights = np.linspace(1, 2, len(labels))
        p, q = weights / weights.sum(), weights[::-1] / weights.sum()
        normal = rng.choice(labels, n, p=p)
        data[name] = np.where(shifted & (i == 0), rng.choice(labels, n, p=q), normal) if i == 0 else normal
    out = pd.DataFrame(data)
    signal = (out["n1"] - 50) / 10 + (out["c1"] == "c1_0") * 0.5
    out["score"] = 1 / (1 + np.exp(-signal.to_numpy()))
    out["prediction"] = (out["score"] > 0.5).astype(int)
    out["y"] = np.where(rng.random(n) < 0.9, out["prediction"], 1 - out["prediction"])
    return out


def make_world(folder: Path, n: int) -> dict[str, Path]:
    features = [{"name": c, "kind": "numeric"} for c in NUMERIC]
    features += [{"name": c, "kind": "categorical"} for c in CATEGORICAL]
    config = {
        "models": [
            {
                "name": "churn",
                "task": "classification",
                "features": features,
                "score": "score",
                "target": "y",
                "window": "1h",
                "allowed_lateness": "5m",
                "outcome_ttl": "1d",
            }
        ],
        "baselines": {"path": "baselines"},
        "sources": {"dead_letters": "dead-letters.jsonl"},
        "alerts": {"receivers": [{"name": "log", "kind": "log"}]},
    }
    (folder / "driftline.yaml").write_text(yaml.safe_dump(config))
    cfg = parse_config(config)
    rng = np.random.default_rng(0)
    baseline = build_baseline(frame(50_000, rng), cfg.models[0], cfg.baselines, "1", "bench", START)
    BaselineStore(folder / "baselines").save(baseline)
    seconds = np.sort(rng.integers(0, DAYS * 86400, n))
    history = frame(n, rng, shifted=seconds >= (DAYS - 2) * 86400)
    at = pd.Timestamp(START) + pd.to_timedelta(seconds, unit="s")
    history["timestamp"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    history["outcome_timestamp"] = (at + pd.Timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    history["prediction_id"] = [f"p{i:08d}" for i in range(n)]
    history = history.rename(columns={"y": "outcome"}).sample(frac=1.0, random_state=1)  # an export's order
    paths = {
        "parquet": folder / "history.parquet",
        "csv": folder / "history.csv",
        "jsonl": folder / "history.jsonl",
    }
    history.to_parquet(paths["parquet"], index=False)
    history.to_csv(paths["csv"], index=False)
    with paths["jsonl"].open("wb") as out:
        for row in history.to_dict("records"):
            features_ = {c: row[c] for c in NUMERIC + CATEGORICAL}
            out.write(
                orjson.dumps(
                    {
                        "prediction_id": row["prediction_id"],
                        "model": "churn",
                        "model_version": "1",
                        "timestamp": row["timestamp"],
                        "features": features_,
                        "prediction": row["prediction"],
                        "score": row["score"],
                    }
                )
                + b"\n"
            )
            out.write(
                orjson.dumps(
                    {
                        "prediction_id": row["prediction_id"],
                        "model": "churn",
                        "timestamp": row["outcome_timestamp"],
                        "outcome": row["outcome"],
                    }
                )
                + b"\n"
            )
    return paths


def made(workdir: Path, n: int) -> dict[str, Path]:
    """The files for `n` predictions, made by a child process unless a previous run left them: the
    parent must not hold the data, or every case's peak RSS would start from its size (the child
    of a fork counts the pages it shares with its parent)."""
    marker = workdir / "made.json"
    names = {"parquet": "history.parquet", "csv": "history.csv", "jsonl": "history.jsonl"}
    paths = {k: workdir / v for k, v in names.items()}
    if not (marker.exists() and json.loads(marker.read_text()).get("n") == n):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, __file__, "--make", "--n", str(n), "--workdir", str(workdir)], check=True
        )
        marker.write_text(json.dumps({"n": n}))
        print(f"made {n:,} predictions + outcomes in {time.perf_counter() - started:.0f} s")
    print(", ".join(f"{k} {p.stat().st_size / 2**20:,.0f} MiB" for k, p in paths.items()))
    return paths


def run_case(config: Path, data: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "monitor.cli", "replay", "-c", str(config), "-d", str(data), "--json"]
    out, err = data.with_suffix(".out"), data.with_suffix(".err")
    started = time.perf_counter()
    with out.open("wb") as stdout, err.open("wb") as stderr:  # files, not pipes: wait4 reads no output
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{data.name}: replay failed:\n{err.read_text()[-3000:]}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "summary": json.loads(out.read_bytes()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000, help="predictions (each with an outcome)")
    parser.add_argument("--workdir", type=Path, default=Path(".run/bench-replay"))
    parser.add_argument("--out", type=Path, default=Path("bench-replay.json"))
    parser.add_argument("--make", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.make:
        make_world(args.workdir, args.n)
        return 0
    paths = made(args.workdir, args.n)
    results = {name: run_case(args.workdir / "driftline.yaml", path) for name, path in paths.items()}
    print(
        f"\n{'case':<9}{'events':>12}{'wall s':>9}{'replay s':>10}{'CPU s':>9}{'events/s':>12}"
        f"{'peak RSS MiB':>14}{'windows':>9}{'drifted':>9}{'alerts':>8}"
    )
    for name, r in results.items():
        s = r["summary"]
        windows = s["windows"]
        firing = [
            a for a in s["alerts"] if a["kind"] == "alert" and a["status"] == "firing" and not a["repeat"]
        ]
        r["events_per_s"] = s["events"] / r["wall_s"]
        drifted = sum(bool(w["drifted_features"]) for w in windows)
        print(
            f"{name:<9}{s['events']:>12,}{r['wall_s']:>9.1f}{s['seconds']:>10.1f}{r['cpu_s']:>9.1f}"
            f"{r['events_per_s']:>12,.0f}"
            f"{r['peak_rss_mib']:>14,.0f}{len(windows):>9}{drifted:>9}{len(firing):>8}"
        )
    keys = [
        (
            [
                (w["window_start"], tuple(w["drifted_features"]), w["performance_pairs"])
                for w in r["summary"]["windows"]
            ],
            r["summary"]["counters"],
        )
        for r in results.values()
    ]
    same = all(k == keys[0] for k in keys)
    print(f"\nsame windows, drifted features, pairs and counters in every case: {same}")
    args.out.write_text(
        json.dumps(
            {
                "n": args.n,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "at": datetime.now(UTC).isoformat(),
                "cases": {
                    name: {k: v for k, v in r.items() if k != "summary"}
                    | {"counters": r["summary"]["counters"], "windows": len(r["summary"]["windows"])}
                    for name, r in results.items()
                },
                "same": same,
            },
            indent=2,
        )
    )
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
