"""Benchmark: Evidently's DataDriftPreset against driftline on the same generated data.

    .venv/bin/python tests/benchmarks/bench_drift.py [--sizes 10000,100000,1000000]
        [--reference 100000] [--out bench-drift.json]

Data: 20 numeric and 5 categorical features; in the current data 5 numeric features are
shifted by half a standard deviation and one categorical feature is reweighted. The
reference has a fixed number of rows (100k by default), whatever the current size.

For every current size three cases run, each in a fresh subprocess (so that one case's
heap, caches and imports do not colour the next one's numbers):

  (a) evidently        DataDriftPreset on the raw reference and current frames
  (b) driftline raw    build_baseline(reference) + window sketch update(current) + evaluate
  (c) driftline stored evaluate() of a baseline and a window sketch loaded from their stored
                       JSON state (the window already summarises all current rows)

Wall time is time.perf_counter around the case only (data generation and imports excluded).
Memory is the process's peak RSS (ru_maxrss) and the peak above the RSS measured just
before the case started (after the input data existed): the first is what a machine must
have, the second what the method itself adds. tracemalloc is not used: it slows Python-level
allocation (which would penalise pandas-heavy code unevenly) and misses memory that C
libraries allocate without reporting it.

Exit status 1 when Evidently and driftline flag different columns at any size.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

N_NUMERIC = 20
N_CATEGORICAL = 5
NUMERIC = [f"num_{i:02d}" for i in range(N_NUMERIC)]
CATEGORICAL = [f"cat_{i}" for i in range(N_CATEGORICAL)]
SHIFTED_NUMERIC = NUMERIC[:5]
REWEIGHTED_CATEGORICAL = CATEGORICAL[0]
CATEGORIES = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"], dtype=object)
BASE_SHARES = np.array([0.3, 0.25, 0.2, 0.12, 0.08, 0.05])
REWEIGHTED_SHARES = np.array([0.12, 0.25, 0.2, 0.12, 0.16, 0.15])
NOW = datetime(2026, 1, 1, tzinfo=UTC)
EVALUATE_REPEATS = 7


# ---------------------------------------------------------------- data


def numeric_feature(index: int, rng: np.random.Generator, n: int, shift_sd: float) -> np.ndarray:
    """Four families in turn; `shift_sd` moves the feature by that many of its standard deviations."""
    family = index % 4
    if family == 0:
        return rng.normal(10.0 * index, 1.0 + index, n) + shift_sd * (1.0 + index)
    if family == 1:
        sd = float(np.sqrt((np.e - 1.0) * np.e))  # lognormal(0, 1)
        return rng.lognormal(0.0, 1.0, n) + shift_sd * sd
    if family == 2:
        return rng.uniform(0.0, 100.0, n) + shift_sd * 100.0 / np.sqrt(12.0)
    return rng.gamma(2.0, 3.0, n) + shift_sd * 3.0 * np.sqrt(2.0)


def generate(n_rows: int, drifted: bool, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        shift = 0.5 if drifted and name in SHIFTED_NUMERIC else 0.0
        columns[name] = numeric_feature(i, rng, n_rows, shift)
    for name in CATEGORICAL:
        shares = REWEIGHTED_SHARES if drifted and name == REWEIGHTED_CATEGORICAL else BASE_SHARES
        columns[name] = rng.choice(CATEGORIES, n_rows, p=shares)
    columns["prediction"] = rng.integers(0, 2, n_rows)
    return pd.DataFrame(columns)


def frames(n_reference: int, n_current: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate(n_reference, False, seed=1), generate(n_current, True, seed=2)


# ---------------------------------------------------------------- memory


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024  # Linux reports KiB


def current_rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return peak_rss_bytes()


# ---------------------------------------------------------------- workers (one case per process)


def model_config() -> Any:
    from monitor.config import FeatureConfig, ModelConfig

    return ModelConfig(
        name="bench",
        task="classification",
        features=[FeatureConfig(name=n, kind="numeric") for n in NUMERIC]
        + [FeatureConfig(name=n, kind="categorical") for n in CATEGORICAL],
    )


def run_evidently(n_reference: int, n_current: int) -> dict[str, Any]:
    import evidently
    from evidently.presets import DataDriftPreset

    ref, cur = frames(n_reference, n_current)
    ref, cur = ref[NUMERIC + CATEGORICAL], cur[NUMERIC + CATEGORICAL]
    gc.collect()
    rss_before = current_rss_bytes()
    start = time.perf_counter()
    definition = evidently.DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    snapshot = (
        evidently.Report([DataDriftPreset()], include_tests=True)
        .run(
            current_data=evidently.Dataset.from_pandas(cur, data_definition=definition),
            reference_data=evidently.Dataset.from_pandas(ref, data_definition=definition),
        )
        .dict()
    )
    seconds = time.perf_counter() - start
    drifted = sorted(
        t["metric_config"]["params"]["column"]
        for t in snapshot["tests"]
        if t["id"] == "drift" and getattr(t["status"], "value", t["status"]) == "FAIL"
    )
    values = {
        m["config"]["column"]: float(m["value"])
        for m in snapshot["metrics"]
        if m["config"]["type"].endswith(":ValueDrift")
    }
    return {"seconds": seconds, "rss_before": rss_before, "drifted": drifted, "values": values}


def run_driftline_raw(n_reference: int, n_current: int, state_dir: Path) -> dict[str, Any]:
    import orjson

    from monitor.baselines.baseline import build_baseline
    from monitor.config import BaselineStoreConfig
    from monitor.evaluation.drift import evaluate

    model = model_config()
    ref, cur = frames(n_reference, n_current)
    gc.collect()
    rss_before = current_rss_bytes()
    start = time.perf_counter()
    baseline = build_baseline(ref, model, BaselineStoreConfig(), "1", "bench", NOW)
    built = time.perf_counter()
    window = baseline.profile.empty_like()
    window.update(
        {name: cur[name].to_numpy() for name in NUMERIC + CATEGORICAL}, cur["prediction"].to_numpy()
    )
    updated = time.perf_counter()
    report = evaluate(window, baseline, model)
    done = time.perf_counter()
    # Stored for case (c), outside the timed part.
    window_state = orjson.dumps(window.to_state(), option=orjson.OPT_SERIALIZE_NUMPY)
    (state_dir / "baseline.json").write_bytes(
        orjson.dumps(baseline.to_state(), option=orjson.OPT_SERIALIZE_NUMPY)
    )
    (state_dir / "window.json").write_bytes(window_state)
    return {
        "seconds": done - start,
        "phases": {
            "build_baseline": built - start,
            "update_window": updated - built,
            "evaluate": done - updated,
        },
        "rss_before": rss_before,
        "drifted": sorted(report.drifted_features),
        "values": {f.column: f.value for f in report.features},
        "exact": any(f.exact for f in report.features),
        "window_state_bytes": len(window_state),
    }


def run_driftline_stored(state_dir: Path) -> dict[str, Any]:
    import orjson

    from monitor.baselines.baseline import Baseline
    from monitor.core.window_sketch import WindowSketch
    from monitor.evaluation.drift import evaluate

    model = model_config()
    gc.collect()
    rss_before = current_rss_bytes()
    start = time.perf_counter()
    baseline = Baseline.from_state(orjson.loads((state_dir / "baseline.json").read_bytes()))
    window = WindowSketch.from_state(orjson.loads((state_dir / "window.json").read_bytes()))
    loaded = time.perf_counter()
    timings = []
    for _ in range(EVALUATE_REPEATS):
        begin = time.perf_counter()
        report = evaluate(window, baseline, model)
        timings.append(time.perf_counter() - begin)
    return {
        "seconds": statistics.median(timings),
        "seconds_min": min(timings),
        "load_seconds": loaded - start,
        "rss_before": rss_before,
        "drifted": sorted(report.drifted_features),
        "window_rows": window.n_rows,
    }


def worker(args: argparse.Namespace) -> None:
    state_dir = Path(args.state_dir)
    if args.worker == "evidently":
        result = run_evidently(args.reference, args.rows)
    elif args.worker == "driftline-raw":
        result = run_driftline_raw(args.reference, args.rows, state_dir)
    else:
        result = run_driftline_stored(state_dir)
    result["peak_rss"] = peak_rss_bytes()
    print(json.dumps(result))


# ---------------------------------------------------------------- driver


def run_case(case: str, rows: int, reference: int, state_dir: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", case, "--rows", str(rows), "--reference", str(reference)]
    command += ["--state-dir", str(state_dir)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{case} at {rows} rows failed (exit {done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["peak_above_start"] = max(0, result["peak_rss"] - result["rss_before"])
    return result


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.0f}"


def print_table(results: list[dict[str, Any]], reference: int) -> None:
    print(f"\nreference {reference:,} rows; 20 numeric + 5 categorical features; one fresh process per case")
    header = (
        f"{'current rows':>12} | {'case':<17} | {'wall s':>9} | {'peak RSS MiB':>12} | "
        f"{'above start MiB':>15} | {'Evidently / this':>16}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        evidently = r["cases"]["evidently"]
        for name, label in (
            ("evidently", "(a) evidently"),
            ("driftline-raw", "(b) driftline raw"),
            ("driftline-stored", "(c) stored+window"),
        ):
            case = r["cases"][name]
            ratio = "" if name == "evidently" else f"{evidently['seconds'] / case['seconds']:,.0f}x"
            print(
                f"{r['rows']:>12,} | {label:<17} | {case['seconds']:>9.4f} | {mib(case['peak_rss']):>12} | "
                f"{mib(case['peak_above_start']):>15} | {ratio:>16}"
            )
    print()
    for r in results:
        raw = r["cases"]["driftline-raw"]
        phases = ", ".join(f"{k} {v:.3f}s" for k, v in raw["phases"].items())
        print(
            f"{r['rows']:>9,} rows: driftline raw phases: {phases}; window state "
            f"{raw['window_state_bytes'] / 1024:,.0f} KiB; stored load "
            f"{r['cases']['driftline-stored']['load_seconds']:.3f}s"
        )
    print()
    for r in results:
        e, d = r["cases"]["evidently"]["drifted"], r["cases"]["driftline-raw"]["drifted"]
        print(f"{r['rows']:>9,} rows: Evidently flags {e}")
        print(f"{'':>9}       driftline flags {d}  {'(same)' if r['same_columns'] else '(DIFFERENT)'}")


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    raw_speedups = [
        r["cases"]["evidently"]["seconds"] / r["cases"]["driftline-raw"]["seconds"] for r in results
    ]
    largest = max(results, key=lambda r: r["rows"])
    stored = largest["cases"]["driftline-stored"]
    window_sizes = {r["rows"]: r["cases"]["driftline-raw"]["window_state_bytes"] for r in results}
    return {
        "raw_speedup_min": min(raw_speedups),
        "raw_20x_at_every_size": all(s >= 20 for s in raw_speedups),
        "stored_seconds_at_largest": stored["seconds"],
        "stored_within_0_2s": stored["seconds"] <= 0.2,
        "stored_speedup_at_largest": largest["cases"]["evidently"]["seconds"] / stored["seconds"],
        "window_state_bytes_by_rows": window_sizes,
        "same_columns_at_every_size": all(r["same_columns"] for r in results),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="current row counts, comma-separated")
    parser.add_argument("--reference", type=int, default=100_000, help="reference rows (fixed for all sizes)")
    parser.add_argument("--out", default="bench-drift.json", help="where to write the JSON results")
    parser.add_argument(
        "--worker", choices=["evidently", "driftline-raw", "driftline-stored"], help=argparse.SUPPRESS
    )
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results = []
    for rows in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
            state_dir = Path(tmp)
            cases = {}
            for case in ("evidently", "driftline-raw", "driftline-stored"):
                print(f"{rows:,} rows: {case} ...", file=sys.stderr, flush=True)
                cases[case] = run_case(case, rows, args.reference, state_dir)
        same = (
            cases["evidently"]["drifted"]
            == cases["driftline-raw"]["drifted"]
            == cases["driftline-stored"]["drifted"]
        )
        results.append({"rows": rows, "cases": cases, "same_columns": same})

    print_table(results, args.reference)
    summary = summarise(results)
    print("\nsummary:", json.dumps(summary, indent=2))
    payload = {
        "reference_rows": args.reference,
        "features": {"numeric": N_NUMERIC, "categorical": N_CATEGORICAL},
        "shifted": {"numeric": SHIFTED_NUMERIC, "categorical": [REWEIGHTED_CATEGORICAL]},
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "results": results,
        "summary": summary,
    }
    Path(args.out).write_text(json.dumps(payload, indent=2))
    return 0 if summary["same_columns_at_every_size"] else 1


if __name__ == "__main__":
    sys.exit(main())
