"""Benchmark: false alarms and power of numeric Hellinger drift decisions on summaries.

    .venv/bin/python tests/benchmarks/bench_hellinger.py [--repeats 200] [--out bench-hellinger.json]

A reference of 2,000 or 20,000 rows and a window of 500, 2,000 or 5,000 rows, drawn from the
same distribution (stationary) or with the window shifted (power), in four shapes: normal,
lognormal, Student t(2), a two-normal mixture. Each repeat draws fresh data, builds the
reference's quantile bins (100 bins, as a baseline does) and both sketches, and decides at
the default threshold (0.1) by three rules:

  quantile bins   Hellinger on the baseline's ~110 quantile bins (the summary path before
                  issue 13: sampling noise over that many bins inflates the value)
  summary         what `compare_column` decides from the two sketches now (Sturges bins)
  exact           Hellinger of the raw samples (Evidently's rule, what the exact path decides)

The table gives the share of windows flagged per rule. Shifted cases move the window by
half a standard deviation (normal, mixture, t(2): half a scale unit) or scale a lognormal by
e^0.5, so a useful rule flags them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.config import DriftThresholds
from monitor.core import stats
from monitor.core.sketch import NumericSketch, quantile_edges
from monitor.evaluation.drift import Column, compare_column

SHAPES = ("normal", "lognormal", "student_t2", "mixture")
REFERENCES = (2_000, 20_000)
WINDOWS = (500, 2_000, 5_000)
BINS = 100
SHIFT = 0.5


def draw(shape: str, rng: np.random.Generator, n: int, shift: float) -> NDArray[np.float64]:
    if shape == "normal":
        return rng.normal(shift, 1.0, n)
    if shape == "lognormal":
        return rng.lognormal(shift, 1.0, n)
    if shape == "student_t2":
        return rng.standard_t(2, n) + shift
    if shape == "mixture":
        low = rng.random(n) < 0.3
        return np.where(low, rng.normal(-2.0, 0.5, n), rng.normal(1.0, 1.0, n)) + shift * 1.6
    raise ValueError(shape)


def flags(shape: str, n_ref: int, n_cur: int, shift: float, repeats: int, seed: int) -> dict[str, float]:
    thresholds = DriftThresholds()
    limit = thresholds.hellinger
    rng = np.random.default_rng([seed, n_ref, n_cur, SHAPES.index(shape), int(shift * 100)])
    counts = {"quantile_bins": 0, "summary": 0, "exact": 0}
    for _ in range(repeats):
        ref = draw(shape, rng, n_ref, 0.0)
        cur = draw(shape, rng, n_cur, shift)
        edges = quantile_edges(np.sort(ref), BINS, presorted=True)
        ref_sketch, cur_sketch = NumericSketch(edges).update(ref), NumericSketch(edges).update(cur)
        counts["quantile_bins"] += stats.hellinger(ref_sketch.counts, cur_sketch.counts) >= limit
        summary = Column("x", True, ref_sketch, cur_sketch, None, None)
        counts["summary"] += compare_column(summary, "hellinger", None, thresholds).drift_detected
        counts["exact"] += stats.hellinger_samples(ref, cur, numeric=True) >= limit
    return {rule: n / repeats for rule, n in counts.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=200, help="windows per cell")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", default="bench-hellinger.json")
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    header = (
        f"{'case':<10} | {'shape':<10} | {'reference':>9} | {'window':>6} | "
        f"{'quantile bins':>13} | {'summary':>7} | {'exact':>5}"
    )
    print(f"share of windows flagged at Hellinger >= 0.1, {args.repeats} windows per cell")
    print(header)
    print("-" * len(header))
    for case, shift in (("stationary", 0.0), ("shifted", SHIFT)):
        for shape in SHAPES:
            for n_ref in REFERENCES:
                for n_cur in WINDOWS:
                    rates = flags(shape, n_ref, n_cur, shift, args.repeats, args.seed)
                    rows.append({"case": case, "shape": shape, "reference": n_ref, "window": n_cur, **rates})
                    quantile, summary, exact = rates["quantile_bins"], rates["summary"], rates["exact"]
                    print(
                        f"{case:<10} | {shape:<10} | {n_ref:>9,} | {n_cur:>6,} | {quantile:>13.3f} | "
                        f"{summary:>7.3f} | {exact:>5.3f}",
                        flush=True,
                    )
    stationary = [r for r in rows if r["case"] == "stationary"]
    summary = {rule: max(r[rule] for r in stationary) for rule in ("quantile_bins", "summary", "exact")}
    print("\nhighest stationary false-alarm rate per rule:", json.dumps(summary))
    payload = {"repeats": args.repeats, "rows": rows, "max_false_alarm": summary}
    Path(args.out).write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
