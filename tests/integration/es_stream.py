"""A seeded stream for the Elasticsearch exporter tests: a service (the real evaluator) fed
hourly windows of a drifting stream, with the exporter attached as one of its sinks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from elasticsearch import Elasticsearch

from monitor.evaluation.results import WindowResult
from monitor.pipeline.monitor import Batch
from monitor.sinks.elasticsearch.config import ElasticsearchSinkConfig
from monitor.sinks.elasticsearch.exporter import ElasticsearchExporter
from tests.unit.pipeline.test_monitor import Pipeline, _window_batch

PREFIX = "driftline"
DRIFT_FROM = 3  # windows from this index on have a shifted x1


def exporter_config(url: str, spill_dir: Path, **options: Any) -> ElasticsearchSinkConfig:
    """Fast retries and no retention by default: the stream's windows start in 1970."""
    settings: dict[str, Any] = {
        "url": url,
        "spill_dir": spill_dir,
        "retention_days": None,
        "retry_initial_seconds": 0.05,
        "retry_max_seconds": 0.5,
        "close_timeout_seconds": 10,
        "request_timeout_seconds": 5,
        **options,
    }
    return ElasticsearchSinkConfig(**settings)


class DriftedStream:
    """Windows of 600 predictions; x1 shifts from window DRIFT_FROM on. Outcomes of every window
    are held back until `deliver_outcomes`, so performance changes on a later evaluation."""

    def __init__(self, exporter: ElasticsearchExporter | None, seed: int = 3) -> None:
        self.pipeline = Pipeline()
        self.service = self.pipeline.service
        if exporter is not None:
            self.service.sinks.append(exporter)
        self.rng = np.random.default_rng(seed)
        self.next_window = 0
        self.held_outcomes: list[Any] = []
        self.results: list[WindowResult] = []

    def add_windows(self, count: int) -> list[WindowResult]:
        """Ingest `count` more windows of predictions and evaluate what closed."""
        for _ in range(count):
            i = self.next_window
            preds, outs = _window_batch(i, 600, self.rng, shift=0.8 if i >= DRIFT_FROM else 0.0)
            self.pipeline.ingest(Batch(predictions={("m", "1"): preds}))
            self.held_outcomes.append(outs)
            self.next_window += 1
        return self._evaluate()

    def deliver_outcomes(self, window: int) -> list[WindowResult]:
        self.pipeline.ingest(Batch(outcomes={"m": self.held_outcomes[window]}))
        return self._evaluate()

    def finish(self) -> list[WindowResult]:
        return self._evaluate(flush=True)

    def _evaluate(self, flush: bool = False) -> list[WindowResult]:
        results = self.service.evaluate(flush=flush)
        self.results += results
        return results

    def latest(self) -> dict[str, WindowResult]:
        """The last evaluation of each window, by window id."""
        return {str(int(r.window_start.timestamp())): r for r in self.results}


def expected_ids(results: dict[str, WindowResult]) -> set[str]:
    ids = set()
    for window, result in results.items():
        ids.add(f"m|1|{window}|window")
        columns = [f.column for f in result.drift.features]
        columns += [c.column for c in (result.drift.prediction, result.drift.target) if c is not None]
        ids |= {f"m|1|{window}|feature|{c}" for c in columns}
    return ids


def all_documents(es: Elasticsearch, pattern: str) -> dict[str, dict[str, Any]]:
    es.indices.refresh(index=pattern)
    hits = es.search(index=pattern, size=10_000, query={"match_all": {}})["hits"]["hits"]
    ids = [h["_id"] for h in hits]
    assert len(ids) == len(set(ids)), "a document id appears twice across the daily indices"
    return {h["_id"]: h["_source"] for h in hits}
