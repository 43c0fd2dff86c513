"""Benchmark: the Elasticsearch exporter against noida-db (the Elasticsearch-8-API test server).

    .venv/bin/python tests/benchmarks/bench_es_export.py [--windows 48] [--out bench-es-export.json]

Produces `--windows` window results of the seeded drifting stream (tests/integration/es_stream.py,
5 features + target: 7 documents per window), then times:
  up      write() on the evaluator's thread while the server is up, and the delivery of every
          document (first write to an empty buffer);
  down    write() while the server is down with a memory bound of 50 documents (so most go to
          spill files), then delivery of the backlog after the server comes back.
The server runs on a free loopback port with its data in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from monitor.sinks.elasticsearch.exporter import ElasticsearchExporter  # noqa: E402
from tests.integration.es_stream import DriftedStream, exporter_config  # noqa: E402

SCRIPT = REPO_ROOT / "scripts" / "elasticsearch.sh"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server(action: str, folder: Path, port: int | None = None) -> None:
    args = ["bash", str(SCRIPT), action, str(folder)] + ([str(port)] if port else [])
    subprocess.run(args, check=True, capture_output=True)


def case(url: str, folder: Path, windows: int, down: Path | None, port: int) -> dict[str, float]:
    stream = DriftedStream(None)
    results = stream.add_windows(windows) + stream.finish()
    options = {"max_buffered_documents": 50} if down else {}
    exporter = ElasticsearchExporter(exporter_config(url, folder / "spill", **options))
    if down:
        server("stop", down)
    latencies = []
    t0 = time.perf_counter()
    for result in results:
        start = time.perf_counter()
        exporter.write([result])
        latencies.append(time.perf_counter() - start)
    documents = exporter.stats().buffered + exporter.stats().delivered
    if down:
        spilled = exporter.stats().spill_files
        server("start", down, port)
        t0 = time.perf_counter()
    assert exporter.flush(600), "not delivered"
    delivery = time.perf_counter() - t0
    exporter.close()
    row = {
        "results": len(results),
        "documents": documents,
        "write_median_ms": statistics.median(latencies) * 1000,
        "write_max_ms": max(latencies) * 1000,
        "delivery_s": delivery,
        "documents_per_s": documents / delivery,
    }
    if down:
        row["spill_files"] = spilled
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=48)
    parser.add_argument("--out", default="bench-es-export.json")
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("up", "down"):
            folder, port = Path(tmp) / name, free_port()
            server("start", folder / "es", port)
            try:
                rows[name] = case(
                    f"http://127.0.0.1:{port}",
                    folder,
                    args.windows,
                    folder / "es" if name == "down" else None,
                    port,
                )
            finally:
                server("stop", folder / "es")
    header = ("case", "results", "docs", "write med ms", "write max ms", "deliver s", "docs/s")
    print("".join(f"{h:<6}" if i == 0 else f"{h:>{max(len(h) + 2, 8)}}" for i, h in enumerate(header)))
    for name, r in rows.items():
        print(
            f"{name:<6}{r['results']:>9}{r['documents']:>8}{r['write_median_ms']:>14.2f}"
            f"{r['write_max_ms']:>14.2f}{r['delivery_s']:>11.2f}{r['documents_per_s']:>8.0f}"
        )
    Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
