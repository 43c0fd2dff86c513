"""The Elasticsearch exporter: a ResultSink that writes every evaluated window (a summary and one
document per feature), alert events and concept-drift episode starts and ends to daily indices,
for Kibana.

`write` and `send_event` only turn results into documents and put them in a durable buffer
(buffer.py); a background thread (delivery.py) installs the index templates and bulk-writes,
retrying while the cluster is down. At close it keeps trying for `close_timeout_seconds`, then
leaves the rest in the spill directory for the next start.

Counters for monitoring the exporter itself: `stats()` returns delivered / failed / retried /
dropped totals and the buffered gauge. A Prometheus collector can yield them as
`driftline_elasticsearch_documents_{delivered,failed,dropped}_total`,
`driftline_elasticsearch_retries_total` and `driftline_elasticsearch_buffered_documents`
(register `lambda: exporter.stats()` next to the results collector).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch

from monitor.clock import Clock, utc_now
from monitor.evaluation.concept import StreamEpisodeEvent
from monitor.evaluation.result_json import episode_document
from monitor.evaluation.results import WindowResult
from monitor.pipeline.windows import ms_to_datetime
from monitor.sinks.elasticsearch.buffer import DocumentBuffer
from monitor.sinks.elasticsearch.config import ElasticsearchSinkConfig
from monitor.sinks.elasticsearch.delivery import Backoff, DeliveryStats, DeliveryWorker
from monitor.sinks.elasticsearch.documents import event_action, results_actions
from monitor.sinks.elasticsearch.templates import (
    delete_expired,
    install_ilm_policy,
    install_templates,
    policy_name,
)

log = logging.getLogger("driftline.elasticsearch")
EPISODE_EVENT = "concept_drift_episode"


class ElasticsearchExporter:
    """ResultSink for Elasticsearch; also takes events (`send_event`) from the alert engine."""

    def __init__(
        self,
        config: ElasticsearchSinkConfig,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.prefix = config.index_prefix
        self.es = Elasticsearch(config.url, **config.client_options())  # type: ignore[arg-type]
        self.buffer = DocumentBuffer(config.spill_dir, config.max_buffered_documents, config.max_spill_bytes)
        if self.buffer.pending:
            log.info(
                "%d documents left undelivered by the last run are queued for Elasticsearch again (from %s)",
                self.buffer.pending,
                config.spill_dir,
            )
        self.ilm_active = False
        self._worker = DeliveryWorker(
            self.es,
            self.buffer,
            setup=self._setup,
            maintain=self._maintain,
            clock=clock,
            backoff=Backoff(config.retry_initial_seconds, config.retry_max_seconds),
            bulk_size=config.bulk_size,
            maintain_every=config.retention_check_seconds,
            rng=rng,
        )
        self._closed = threading.Event()
        self._worker.start()

    # ------------------------------------------------------------------ ResultSink

    def write(self, results: Sequence[WindowResult]) -> None:
        """Queue the documents of an evaluation pass (no network I/O on the caller's thread)."""
        if self._closed.is_set():
            log.warning("Elasticsearch exporter is closed: %d window results not exported", len(results))
            return
        self.buffer.add(results_actions(results, self.prefix))
        self._worker.wake.set()

    def send_event(self, kind: str, doc_id: str, document: Mapping[str, Any], timestamp: datetime) -> None:
        """Queue an event document (e.g. kind="alert") under the id `<kind>|<doc_id>` in
        `<prefix>-events-YYYY.MM.DD`: sending the same id again (an alert resolving) overwrites it."""
        self.buffer.add([event_action(self.prefix, kind, doc_id, document, timestamp)])
        self._worker.wake.set()

    def write_episodes(self, events: Sequence[StreamEpisodeEvent]) -> None:
        """A concept-drift episode's start and end, each an event document dated by the episode's
        own event time (ids `concept_drift_episode|model|version|number|start` and `...|end`)."""
        for event in events:
            doc = episode_document(event.model, event.version, event.episode)
            at = event.episode.start if event.kind == "start" else event.episode.end
            doc_id = f"{event.model}|{event.version}|{event.episode.number}|{event.kind}"
            self.send_event(EPISODE_EVENT, doc_id, doc, ms_to_datetime(at))

    def close(self) -> None:
        """Deliver for up to `close_timeout_seconds`, then persist what is left for the next start."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._worker.close(self.config.close_timeout_seconds)
        persisted = self.buffer.persist()
        if persisted or self.buffer.pending:
            log.warning(
                "Elasticsearch unreachable at shutdown: %d documents kept in %s for the next start",
                self.buffer.pending,
                self.config.spill_dir,
            )
        self.es.close()

    # ------------------------------------------------------------------ observability

    def stats(self) -> DeliveryStats:
        """A snapshot of the delivery counters and the buffer gauges."""
        return replace(
            self._worker.stats,
            buffered=self.buffer.pending,
            spill_files=self.buffer.spill_files,
            dropped=self.buffer.dropped,
        )

    def flush(self, timeout: float) -> bool:
        """Wait until nothing is buffered (True) or `timeout` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        self._worker.wake.set()
        while self.buffer.pending:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    @property
    def ready(self) -> bool:
        """Templates are installed (the cluster has been reached at least once)."""
        return self._worker.ready

    # ------------------------------------------------------------------ on the delivery thread

    def _setup(self) -> None:
        lifecycle = None
        if self.config.retention_days is not None and self.config.ilm:
            self.ilm_active = install_ilm_policy(self.es, self.prefix, self.config.retention_days)
            lifecycle = policy_name(self.prefix) if self.ilm_active else None
        install_templates(self.es, self.prefix, lifecycle)  # and new fields to existing indices
        log.info("Elasticsearch index templates for %s-* installed at %s", self.prefix, self.config.url)

    def _maintain(self, now: datetime) -> None:
        if self.config.retention_days is None or self.ilm_active:
            return  # kept forever, or ILM deletes old indices on the server
        delete_expired(self.es, self.prefix, now, self.config.retention_days)
