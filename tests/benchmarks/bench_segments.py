"""Benchmark: what the per-segment window sketches cost per event, before and after the grouped
update (monitor/core/grouped_sketch.py), in one run.

    .venv/bin/python tests/benchmarks/bench_segments.py [--events 20000] [--repeats 5] [--out FILE]

20 segments (+ __other__) x 20 features (19 numeric, 1 categorical: tests/unit/segments_world.py),
the segment drawn with weight 1 / (k + 1) from 25 values. Cases, CPU µs per event, best of
`--repeats`, interleaved:

  core, per segment   a window's segment profiles as they were (tests/unit/core/segment_loop.py:
                      a sketch per segment and feature, a batch split by segment, each part to its
                      sketch's update), forked before each batch as the service's savepoint does
  core, grouped       the same with SegmentProfiles (monitor/core/grouped_sketch.py: one update per
                      feature for all segments, a fork copies a few arrays per feature)
  service, ...        Service.handle on the world's JSON predictions (decode, windows, sketches,
                      no evaluation, a fresh service per run): without segments, with the former
                      per-segment profiles put in the baseline, and with segments as shipped
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from monitor.core.segments import SegmentProfiles
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from tests.unit import segments_world as world
from tests.unit.core.segment_loop import PerSegmentProfiles

N_FEATURES, N_SEGMENTS, VALUES = 19, 20, 25
SEGMENTS = {"column": "region", "max_segments": N_SEGMENTS}


def cpu_us(run: Callable[[], object], events: int) -> float:
    start = time.process_time()
    run()
    return (time.process_time() - start) / events * 1e6


def core_case(
    reference: SegmentProfiles, frame: pd.DataFrame, batch: int, grouped: bool
) -> Callable[[], object]:
    """A window's update and a fork before each batch (as the service's savepoint makes one)."""
    columns = {name: frame[name].to_numpy() for name in [*world.feature_names(N_FEATURES), "c"]}
    segment = frame["region"].to_numpy(dtype=object)
    empty = reference.window() if grouped else PerSegmentProfiles.empty_like(reference)

    def run() -> None:
        window = empty.window()
        for i in range(0, len(segment), batch):
            window = window.copy()
            window.update({k: v[i : i + batch] for k, v in columns.items()}, segment[i : i + batch])

    return run


def service_case(segments: bool, messages: list[bytes], batch: int, grouped: bool) -> Callable[[], object]:
    """A fresh service (built untimed); `grouped` False: its baseline's segment profiles replaced by
    the former per-segment ones, so every window keeps those."""
    cfg = world.config(N_FEATURES, SEGMENTS if segments else None)
    frame = world.rows(20_000, np.random.default_rng(1), N_FEATURES, VALUES)
    baselines = world.baseline(cfg, frame)
    baseline = baselines[("churn", "1")]
    if segments and not grouped:
        assert baseline.segment_profiles is not None
        baseline.__dict__["segment_profiles"] = PerSegmentProfiles.empty_like(baseline.segment_profiles)
    service = Service(cfg, baselines, MemoryDeadLetters())

    def run() -> None:
        for i in range(0, len(messages), batch):
            service.handle(RawBatch(predictions=messages[i : i + batch]))

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench-segments.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    reference_frame = world.rows(20_000, rng, N_FEATURES, VALUES)
    cfg = world.config(N_FEATURES, SEGMENTS)
    reference = world.baseline(cfg, reference_frame)[("churn", "1")].segment_profiles
    assert reference is not None and len(reference.segment_map.labels) == N_SEGMENTS + 1
    live = world.rows(args.events, rng, N_FEATURES, VALUES)
    messages = world.messages(live, 0, rng)
    print(
        f"{args.events:,} events, {N_SEGMENTS} segments + other x {N_FEATURES + 1} features, "
        f"CPU µs per event, best of {args.repeats}"
    )
    print("| case | batch 100 | batch 1,000 |")
    print("|---|---:|---:|")
    cases: dict[str, Callable[[int], Callable[[], object]]] = {
        "core, per segment (before)": lambda b: core_case(reference, live, b, grouped=False),
        "core, grouped (after)": lambda b: core_case(reference, live, b, grouped=True),
        "service, no segments": lambda b: service_case(False, messages, b, grouped=True),
        "service, segments per segment (before)": lambda b: service_case(True, messages, b, grouped=False),
        "service, segments grouped (after)": lambda b: service_case(True, messages, b, grouped=True),
    }
    best = {(name, b): float("inf") for name in cases for b in (100, 1000)}
    for _ in range(args.repeats):
        for name, make in cases.items():
            for b in (100, 1000):
                best[name, b] = min(best[name, b], cpu_us(make(b), args.events))
    for name in cases:
        print(f"| {name} | {best[name, 100]:.1f} | {best[name, 1000]:.1f} |")
    table = {name: {str(b): best[name, b] for b in (100, 1000)} for name in cases}
    args.out.write_text(json.dumps({"events": args.events, "cpu_us_per_event": table}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
