"""Benchmark: decode_predictions against a plain orjson.loads loop over the same messages.

    .venv/bin/python tests/benchmarks/bench_decode.py [--n 200000] [--batch 0] [--repeats 5]
        [--out bench-decode.json]

Messages: N predictions of one model with 25 features (20 numeric, 5 categorical), about
570 bytes each, generated from a fixed seed. Cases, each timed on the messages it decodes:

  orjson.loads loop        for m in messages: orjson.loads(m)   (the baseline: parse, discard)
  orjson.loads to a list   [orjson.loads(m) for m in messages]  (parse and keep, for scale)
  decode (native)          decode_predictions, native C scanner (the default)
  decode (reference)       decode_predictions on the orjson path only
  decode, dirty (native)   2% of feature values null or absent, 0.5% of messages broken
  orjson loop, dirty       the baseline over the dirty messages

`--batch B` decodes B messages per call (as a consumer would per poll); 0 decodes all at once.
Each case runs `--repeats` times, the cases interleaved so that a noisy neighbour hurts all of
them alike; the best run counts. Rates are per CPU second (time.process_time, one thread), so
a busy shared machine distorts them less than wall time, which is reported too.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from monitor.config import ModelConfig
from monitor.pipeline import events
from monitor.pipeline.events import decode_predictions

NUMERIC = [f"num_{i:02d}" for i in range(20)]
CATEGORICAL = [f"cat_{i}" for i in range(5)]
MODEL = ModelConfig(
    name="churn",
    task="classification",
    features=[{"name": n, "kind": "numeric"} for n in NUMERIC]
    + [{"name": c, "kind": "categorical"} for c in CATEGORICAL],
)
START = datetime(2026, 11, 21, tzinfo=UTC).timestamp()


def make_messages(n: int, seed: int, dirty: bool = False) -> list[bytes]:
    rng = random.Random(seed)
    categories = [[f"{name}_v{k}" for k in range(3 + 9 * i)] for i, name in enumerate(CATEGORICAL)]
    messages = []
    for i in range(n):
        features: dict[str, Any] = {}
        for j, name in enumerate(NUMERIC):  # a quarter integers, the rest floats with 3 decimals
            features[name] = rng.randint(0, 500) if j % 4 == 0 else round(rng.gauss(50, 20), 3)
        for name, values in zip(CATEGORICAL, categories, strict=True):
            features[name] = rng.choice(values)
        if dirty:
            for name in list(features):
                if rng.random() < 0.02:
                    if rng.random() < 0.5:
                        features[name] = None
                    else:
                        del features[name]
        message = {
            "prediction_id": f"pred-{seed}-{i:09d}",
            "model": "churn",
            "model_version": "3",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(START + i * 0.25)),
            "features": features,
            "prediction": rng.randint(0, 1),
            "score": round(rng.random(), 6),
            "segment": rng.choice(["eu", "us", "apac"]),
        }
        raw = orjson.dumps(message)
        if dirty and rng.random() < 0.005:
            raw = rng.choice(
                [raw[: len(raw) // 2], raw.replace(b'"3"', b'"9"'), raw.replace(b"churn", b"fraud"), b""]
            )
        messages.append(raw)
    return messages


def orjson_loop(messages: list[bytes]) -> None:
    loads, error = orjson.loads, orjson.JSONDecodeError
    for message in messages:
        try:  # noqa: SIM105 - contextlib.suppress would add a call per message to the baseline
            loads(message)
        except error:
            pass


def orjson_list(messages: list[bytes]) -> None:
    loads = orjson.loads
    kept = [loads(m) for m in messages]
    del kept


def decoder(native: bool, batch: int) -> Callable[[list[bytes]], None]:
    models = {"churn": MODEL}

    def run(messages: list[bytes]) -> None:
        events.USE_NATIVE_DECODER = native
        try:
            step = batch or len(messages)
            for start in range(0, len(messages), step):
                decode_predictions(messages[start : start + step], models)
        finally:
            events.USE_NATIVE_DECODER = True

    return run


def timed(function: Callable[[list[bytes]], None], messages: list[bytes]) -> tuple[float, float]:
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    function(messages)
    return time.process_time() - cpu, time.perf_counter() - wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200_000, help="messages per case")
    parser.add_argument("--batch", type=int, default=0, help="messages per decode call; 0 = all")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench-decode.json"))
    args = parser.parse_args(argv)

    clean = make_messages(args.n, args.seed)
    dirty = make_messages(args.n, args.seed + 1, dirty=True)
    cases: dict[str, tuple[Callable[[list[bytes]], None], list[bytes], str]] = {
        "orjson.loads loop": (orjson_loop, clean, "orjson.loads loop"),
        "orjson.loads to a list": (orjson_list, clean, "orjson.loads loop"),
        "decode (reference)": (decoder(False, args.batch), clean, "orjson.loads loop"),
        "orjson loop, dirty": (orjson_loop, dirty, "orjson loop, dirty"),
        "decode, dirty (native)": (decoder(True, args.batch), dirty, "orjson loop, dirty"),
    }
    cases["decode (native)"] = (decoder(True, args.batch), clean, "orjson.loads loop")
    best: dict[str, tuple[float, float]] = {}
    for _ in range(args.repeats):
        for name, (function, messages, _) in cases.items():
            cpu, wall = timed(function, messages)
            if name not in best or cpu < best[name][0]:
                best[name] = (cpu, wall)

    rows = []
    for name, (_, messages, baseline) in cases.items():
        cpu, wall = best[name]
        rows.append(
            {
                "case": name,
                "messages": len(messages),
                "cpu_seconds": round(cpu, 4),
                "wall_seconds": round(wall, 4),
                "events_per_cpu_second": round(len(messages) / cpu),
                "ratio_to_baseline": round(best[baseline][0] / cpu, 3),
                "baseline": baseline,
            }
        )
    print(f"{'case':26s} {'events/s (cpu)':>15s} {'events/s (wall)':>16s} {'vs baseline':>12s}")
    for row in rows:
        cpu_rate, wall_rate = row["events_per_cpu_second"], row["messages"] / row["wall_seconds"]
        print(f"{row['case']:26s} {cpu_rate:>15,d} {wall_rate:>16,.0f} {row['ratio_to_baseline']:>12.2f}")
    sizes = [len(m) for m in clean]
    result = {
        "benchmark": "decode",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "processor": platform.processor(),
        "orjson": orjson.__version__,
        "messages": args.n,
        "mean_message_bytes": round(sum(sizes) / len(sizes), 1),
        "features": {"numeric": len(NUMERIC), "categorical": len(CATEGORICAL)},
        "batch": args.batch,
        "repeats": args.repeats,
        "results": rows,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
