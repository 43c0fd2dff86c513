"""Fuzz the native scanner: mutate valid messages byte by byte and check that the native and
reference decoders agree on every batch (and, under scripts/check-native.sh, that the sanitizers
stay silent). Not collected by pytest; run as

    .venv/bin/python tests/native_fuzz.py [--batches 2000] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.pipeline.test_events import prediction
from tests.unit.pipeline.test_scan import COMMON, both_paths

PIECES = [bytes([b]) for b in b'"\\{}[],: 0-e.tfn\xff\x00\xc3\xa9\xf0\x9f/+Z'] + [
    b"\\u00e9",
    b"\\ud83d\\ude00",
    b"\\ud800",
    b"null",
    b"1e999",
    b"-0",
    b"+01:00",
]


def mutated(rng: random.Random, bases: list[bytes]) -> bytes:
    raw = rng.choice(bases)
    for _ in range(rng.randint(0, 4)):
        at = rng.randint(0, len(raw))
        roll = rng.random()
        if roll < 0.4:
            raw = raw[:at] + rng.choice(PIECES) + raw[at:]
        elif roll < 0.7:
            raw = raw[:at] + raw[at + 1 :]
        elif roll < 0.9:
            raw = raw[:at] + rng.choice(PIECES) + raw[at + 1 :]
        else:
            raw = raw[:at]
    return raw


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=2000, help="batches of 50 messages each")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    bases = [orjson.dumps(m) for m in COMMON]
    bases += [json.dumps(prediction(), indent=2).encode(), json.dumps(COMMON[-1]).encode()]
    bases += [orjson.dumps({"prediction_id": "p-1", "model": "churn", "timestamp": 1.5e9, "outcome": 1})]
    for batch in range(args.batches):
        raws = [mutated(rng, bases) for _ in range(50)]
        for outcomes in (False, True):
            results = both_paths(raws, outcomes)
            if results[True] != results[False]:
                print(f"batch {batch} (seed {args.seed}): the paths disagree", file=sys.stderr)
                for raw in raws:
                    print(repr(raw), file=sys.stderr)
                return 1
    print(f"{args.batches * 50:,} mutated messages, as predictions and as outcomes: both paths agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
