"""Synthetic traffic for the state benchmarks (bench_state.py, bench_soak.py): one classifier
with five numeric features at a steady rate, in steps of `STEP_MS` of event time, as columnar
batches (decoding is measured by bench_decode.py).

Prediction j of step s is number n = s * per_step + j, stamped s * STEP_MS + j * STEP_MS // per_step,
with a random-looking 16-hex-digit id (a 64-bit mix of n). Its outcome comes k steps later,
k uniform over the delay range, or never (1 in 20): k and "never" are functions of (s, j), and
the predictions answered at step u are found by inverting them, so the simulator keeps no queue
of future outcomes (at 1,000/s and up to 48 h that would be 170M entries).
"""

from __future__ import annotations

import os
import resource
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from monitor.baselines.baseline import Baseline, build_baseline
from monitor.config import DriftlineConfig, parse_config
from monitor.pipeline.events import OutcomeBatch, PredictionBatch
from monitor.pipeline.monitor import Batch

STEP_MS = 5_000  # one checkpoint interval of the shipped default
FEATURES = ("f0", "f1", "f2", "f3", "f4")
_MULT = np.uint64(0x9E3779B97F4A7C15)


def config(join_cache: int = 100_000, allowed_lateness: str = "5m") -> DriftlineConfig:
    """The shipped defaults: 1 h windows, 7 d outcome TTL, 5 min allowed lateness."""
    return parse_config(
        {
            "models": [
                {
                    "name": "m",
                    "task": "classification",
                    "features": [{"name": f, "kind": "numeric"} for f in FEATURES],
                    "score": "score",
                    "target": "y",
                    "window_sample": 500,
                    "allowed_lateness": allowed_lateness,
                }
            ],
            "state": {"join_cache": join_cache},
        }
    )


def baseline(cfg: DriftlineConfig) -> dict[tuple[str, str], Baseline]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f: rng.normal(size=20_000) for f in FEATURES})
    frame["prediction"] = np.where(frame["f0"] > 0, "1", "0")
    frame["score"] = 1 / (1 + np.exp(-frame["f0"]))
    frame["y"] = frame["prediction"]
    made = datetime(2026, 1, 1, tzinfo=UTC)
    return {("m", "1"): build_baseline(frame, cfg.models[0], cfg.baselines, "1", "bench", made)}


def mix(n: np.ndarray) -> np.ndarray:
    """splitmix64 of n: ids and dice that look random but are functions of the prediction."""
    with np.errstate(over="ignore"):
        z = n.astype(np.uint64) * _MULT + np.uint64(0x632BE59BD9B4E5D3)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def ids_of(numbers: np.ndarray) -> np.ndarray:
    out = np.empty(len(numbers), dtype=object)
    out[:] = [f"{x:016x}" for x in mix(numbers).tolist()]
    return out


class Traffic:
    """`rate` predictions per second; outcomes `min_delay`..`max_delay` steps later (uniform),
    except one in `never` predictions (0: all answered)."""

    def __init__(
        self, rate: int, min_delay_s: int, max_delay_s: int, never: int = 20, start_ms: int = 0
    ) -> None:
        self.per_step = rate * STEP_MS // 1000
        self.k_min, self.k_max = min_delay_s * 1000 // STEP_MS, max_delay_s * 1000 // STEP_MS
        self.span = self.k_max - self.k_min + 1  # delays in steps; must exceed per_step
        assert self.span > self.per_step, "a step's predictions need distinct delays"
        self.never, self.start_ms = never, start_ms
        # A bijection j -> delay slot for each step s: slot = (j * a + s * b) mod span.
        self.a = 7919 if np.gcd(7919, self.span) == 1 else 7927
        self.a_inv = pow(self.a, -1, self.span)
        self.b = 104_729

    def predictions(self, step: int, rng: np.random.Generator) -> PredictionBatch:
        j = np.arange(self.per_step, dtype=np.int64)
        n = step * self.per_step + j
        ts = self.start_ms + step * STEP_MS + j * STEP_MS // self.per_step
        x = rng.normal(size=(len(FEATURES), self.per_step))
        return PredictionBatch(
            model="m",
            model_version="1",
            prediction_id=ids_of(n),
            timestamp=ts.astype(np.int64),
            features={f: x[i] for i, f in enumerate(FEATURES)},
            prediction=np.where(x[0] > 0, "1", "0").astype(object),
            score=1 / (1 + np.exp(-x[0])),
            segment=np.full(self.per_step, None, dtype=object),
        )

    def answered_at(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """(prediction numbers, j) of the predictions whose outcome comes at `step`."""
        s = step - np.arange(self.k_min, self.k_max + 1, dtype=np.int64)
        ok = s >= 0
        s, slot = s[ok], (step - s[ok]) - self.k_min
        j = ((slot - s * self.b) % self.span) * self.a_inv % self.span
        keep = j < self.per_step
        s, j = s[keep], j[keep]
        n = s * self.per_step + j
        if self.never:
            answered = mix(n + (1 << 40)) % np.uint64(self.never) != 0
            n, j = n[answered], j[answered]
        order = np.argsort(j, kind="stable")
        return n[order], j[order]

    def outcomes(self, step: int, rng: np.random.Generator) -> OutcomeBatch:
        n, j = self.answered_at(step)
        ts = self.start_ms + step * STEP_MS + j * STEP_MS // self.per_step
        return OutcomeBatch(
            model="m",
            prediction_id=ids_of(n),
            timestamp=ts.astype(np.int64),
            outcome=np.where(rng.random(len(n)) < 0.5, "1", "0").astype(object),
        )

    def step(self, step: int, rng: np.random.Generator) -> Batch:
        return Batch({("m", "1"): self.predictions(step, rng)}, {"m": self.outcomes(step, rng)})


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def written_bytes() -> int:
    """Bytes this process caused to be written to storage (the kernel's count, fsyncs included)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def disk_bytes(path: Path) -> int:
    """Bytes of the file `path`, or of the files under the folder `path` (a RocksDB store is a
    folder of its own)."""
    return sum(f.stat().st_size for f in [path, *path.rglob("*")] if f.is_file())


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))
