"""Benchmark: the alert engine's cost on the evaluator's thread, and delivery throughput.

    .venv/bin/python tests/benchmarks/bench_alerts.py [--features 50] [--windows 48] [--out bench-alerts.json]

One model with F numeric features, the default rule set and one signed webhook receiver
(alerts.receiver on 127.0.0.1), state in a fresh SQLite file. Windows alternate between 0 and
F/5 drifted features every 6 windows, so alerts keep firing and resolving; the engine's clock
advances an hour per window, so cooldowns pass as they would. Times:

  write ms      AlertEngine.write for one window result (rules, state machine, one transaction)
  delivery      every notification from the outbox to the receiver, after the writes

Wall time (the delivery thread and the receiver share the process); rerun rather than trust.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # for tests.unit.alerts.factory

from alerts.config import AlertsConfig
from alerts.engine import AlertEngine
from alerts.outbox import OUTBOX
from alerts.receiver import WebhookReceiver
from monitor.evaluation.results import FeatureDrift, FeatureQuality
from monitor.state.sqlite import SqliteStateStore
from tests.unit.alerts.factory import window


def result(index: int, features: int):  # type: ignore[no-untyped-def]
    base = window(index)
    drifted = set(range(features // 5)) if (index // 6) % 2 else set()
    template = base.drift.features[0]
    cols = [
        replace(template, column=f"f{i}", drift_detected=i in drifted, value=0.3 if i in drifted else 0.02)
        for i in range(features)
    ]
    quality = [FeatureQuality(f"f{i}", 2000, 0.0, 0.0, None) for i in range(features)]
    drift = replace(
        base.drift,
        features=tuple(cols),
        quality=tuple(quality),
        n_drifted=len(drifted),
        drift_share=len(drifted) / features,
    )
    assert isinstance(cols[0], FeatureDrift)
    return replace(base, drift=drift)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--windows", type=int, default=48)
    parser.add_argument("--out", type=Path, default=Path("bench-alerts.json"))
    args = parser.parse_args()
    receiver = WebhookReceiver(b"bench").start()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStateStore(Path(tmp) / "state.db")
        config = AlertsConfig.model_validate(
            {
                "receivers": [{"name": "hook", "kind": "webhook", "url": receiver.url(), "secret": "bench"}],
                "delivery": {"backoff_initial": "50ms"},
            }
        )
        clock = [datetime(2026, 1, 5, tzinfo=UTC)]  # simulated: an hour per window, past the cooldown
        engine = AlertEngine(config, store, {"churn": 100}, clock=lambda: clock[0])
        results = [result(i, args.features) for i in range(args.windows)]
        times = []
        for r in results:
            clock[0] += timedelta(hours=1)
            t0 = time.perf_counter()
            engine.write([r])
            times.append((time.perf_counter() - t0) * 1000)
        queued = len(store.load_records(OUTBOX))
        t0 = time.perf_counter()
        clock[0] = datetime.now(UTC)  # delivery runs on real time (backoff, signature timestamps)
        engine.start()
        receiver.wait_for(lambda rc: len(rc.received()) >= queued, timeout=300)
        delivery = time.perf_counter() - t0
        engine.close()
    receiver.stop()
    row = {
        "features": args.features,
        "windows": args.windows,
        "write_median_ms": round(statistics.median(times), 2),
        "write_max_ms": round(max(times), 2),
        "notifications": queued,
        "delivered": len(receiver.received()),
        "delivery_s": round(delivery, 2),
        "notifications_per_s": round(queued / delivery, 1) if delivery else None,
        "duplicates": sum(n - 1 for n in receiver.counts().values()),
    }
    print("| features | windows | write median ms | write max ms | notifications | delivery s | per s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {row['features']} | {row['windows']} | {row['write_median_ms']} | {row['write_max_ms']} | "
        f"{row['notifications']} | {row['delivery_s']} | {row['notifications_per_s']} |"
    )
    args.out.write_text(
        json.dumps(
            {
                "timestamp": time.time(),
                "result": row,
                "check_interval_s": timedelta(seconds=30).total_seconds(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
