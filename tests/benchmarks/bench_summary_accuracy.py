"""Benchmark: how far each summary-path drift statistic is from the exact one on raw data.

    .venv/bin/python tests/benchmarks/bench_summary_accuracy.py [--sizes 1000,10000,100000,1000000]
        [--seeds 2] [--out bench-summary-accuracy.json]

For every family of `tests/unit/core/stats/families.py` (normal, lognormal, mixture, Student
t(2), Pareto, integers, few integers, three values, rounded, zero-inflated, near-constant)
and every size n, a reference and a window of n rows each are drawn, the window shifted by
0, 0.1, 0.25 and 0.5 (the family's own unit), `--seeds` times. Each pair is compared twice
by `monitor.evaluation.drift`: `summary_statistics` on the sketches a baseline and a window
keep (100 quantile bins), `exact_statistics` on the raw samples. The table gives, per family,
size and statistic, the largest |summary - exact| over the shifts and seeds; "-" where the
statistic is not the column's test (KS for more than 5 distinct values, chi-square
otherwise). A second table counts decisions that differ at the default thresholds (0.1 for
the distances, p <= 0.05 for KS, p < 0.05 for chi-square) with the exact value beside each.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # for tests.unit.core.stats.families

from monitor.config import DriftThresholds
from monitor.evaluation.drift import exact_statistics, summary_statistics
from tests.unit.core.stats.families import FAMILIES, columns, draw

SHIFTS = (0.0, 0.1, 0.25, 0.5)
DISTANCES = ("psi", "jensen_shannon", "wasserstein", "hellinger")
STATISTICS = (*DISTANCES, "ks_statistic", "ks_p_value", "chi_square_p_value")
SHORT = {
    "psi": "PSI",
    "jensen_shannon": "JS",
    "wasserstein": "W1/sd",
    "hellinger": "Hell.",
    "ks_statistic": "KS D",
    "ks_p_value": "KS p",
    "chi_square_p_value": "chi2 p",
}


def flatten(values: dict[str, float], statistic: float, p_value: float, chi_square: bool) -> dict[str, float]:
    out = {name: values[name] for name in DISTANCES}
    if chi_square:
        out["chi_square_p_value"] = p_value
    else:
        out["ks_statistic"], out["ks_p_value"] = statistic, p_value
    return out


def drifted(name: str, value: float, thresholds: DriftThresholds) -> bool:
    if name == "ks_p_value":
        return value <= thresholds.ks_pvalue
    if name == "chi_square_p_value":
        return value < thresholds.chi_square_pvalue
    return value >= float(getattr(thresholds, name))


def one_pair(family: str, n: int, shift: float, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng([seed, n, FAMILIES.index(family), int(shift * 100)])
    summary, exact = columns(draw(family, rng, n, 0.0), draw(family, rng, n, shift))
    exact_values, exact_test = exact_statistics(exact)
    summary_values, summary_test = summary_statistics(summary)
    # Both paths pick the same test: chi-square for at most 5 distinct values, KS otherwise.
    assert exact.reference_sample is not None and exact.current_sample is not None
    chi_square = len(np.unique(np.concatenate([exact.reference_sample, exact.current_sample]))) <= 5
    return {
        "exact": flatten(exact_values, exact_test.statistic, exact_test.p_value, chi_square),
        "summary": flatten(summary_values, summary_test.statistic, summary_test.p_value, chi_square),
    }


def cell(family: str, n: int, seeds: int, thresholds: DriftThresholds) -> dict[str, Any]:
    errors: dict[str, float] = {}
    differ: dict[str, list[float]] = {}
    for seed in range(seeds):
        for shift in SHIFTS:
            pair = one_pair(family, n, shift, seed)
            for name, exact in pair["exact"].items():
                summary = pair["summary"][name]
                errors[name] = max(errors.get(name, 0.0), abs(summary - exact))
                if name != "ks_statistic" and drifted(name, summary, thresholds) != drifted(
                    name, exact, thresholds
                ):
                    differ.setdefault(name, []).append(exact)
    return {"family": family, "size": n, "max_abs_error": errors, "decisions_differ_at_exact": differ}


def print_tables(cells: list[dict[str, Any]]) -> None:
    header = f"{'family':<14} | {'size':>9} | " + " | ".join(f"{SHORT[s]:>8}" for s in STATISTICS)
    print("max |summary - exact| over shifts and seeds")
    print(header)
    print("-" * len(header))
    for c in cells:
        values = [c["max_abs_error"].get(s) for s in STATISTICS]
        text = " | ".join(f"{'-':>8}" if v is None else f"{v:>8.4f}" for v in values)
        print(f"{c['family']:<14} | {c['size']:>9,} | {text}")
    print("\ndecisions that differ at the default thresholds (exact value of each):")
    any_differ = False
    for c in cells:
        for name, exact in c["decisions_differ_at_exact"].items():
            any_differ = True
            values = ", ".join(f"{v:.4f}" for v in exact)
            print(f"  {c['family']:<14} {c['size']:>9,}  {name:<18} exact {values}")
    if not any_differ:
        print("  none")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000", help="rows per side, comma-separated")
    parser.add_argument("--seeds", type=int, default=2, help="repeats per family, size and shift")
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated subset")
    parser.add_argument("--out", default="bench-summary-accuracy.json")
    args = parser.parse_args()
    thresholds = DriftThresholds()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    cells = []
    start = time.perf_counter()
    for n in sizes:
        for family in args.families.split(","):
            print(f"{family} at {n:,} rows ...", file=sys.stderr, flush=True)
            cells.append(cell(family, n, args.seeds, thresholds))
    cells.sort(key=lambda c: (FAMILIES.index(c["family"]), c["size"]))
    print_tables(cells)
    worst = {s: max(c["max_abs_error"].get(s, 0.0) for c in cells) for s in STATISTICS}
    print(
        "\nlargest error per statistic over all cells:",
        json.dumps({k: round(v, 5) for k, v in worst.items()}),
    )
    payload = {
        "sizes": sizes,
        "shifts": SHIFTS,
        "seeds": args.seeds,
        "cells": cells,
        "max_abs_error": worst,
        "seconds": time.perf_counter() - start,
    }
    Path(args.out).write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
