"""The delivery thread: takes batches from the buffer and bulk-writes them, retrying with capped
exponential backoff and full jitter while the cluster is unreachable, so the evaluator never waits
on Elasticsearch.

What is retried and what is not:
  - transport failures (connection refused, timeout) and HTTP 429/5xx, for the whole request or
    for single items: the whole batch is sent again after a backoff (ids are deterministic, so
    documents that did arrive are overwritten, not duplicated; and later versions of a document
    never get overtaken by an earlier one);
  - an item the server rejects for good (400: wrong type, unknown field) is dropped and counted
    as failed: resending it would fail forever and hold up everything behind it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError, helpers

from monitor.sinks.elasticsearch.buffer import Batch, DocumentBuffer

log = logging.getLogger("driftline.elasticsearch")

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Backoff:
    """Delay before retry number `attempt` (0-based): uniform in [0, min(cap, initial * 2**attempt)]
    ("full jitter"), so many instances coming back together do not hit the cluster in step."""

    initial: float
    cap: float

    def ceiling(self, attempt: int) -> float:
        return min(self.cap, self.initial * 2.0 ** min(attempt, 62))

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0.0, self.ceiling(attempt))


@dataclass
class DeliveryStats:
    """Running totals, for logs and a Prometheus collector (all monotonic except the gauges)."""

    delivered: int = 0  # documents the server acknowledged
    failed: int = 0  # documents the server rejected for good
    retries: int = 0  # failed attempts that will be retried
    dropped: int = 0  # gauge copied from the buffer: documents lost to the spill bound
    buffered: int = 0  # gauge: documents waiting (memory and spill files)
    spill_files: int = 0  # gauge


class RetryLater(Exception):
    """The batch must be sent again after a backoff."""


def split_item_errors(
    errors: Iterable[Mapping[str, Any]],
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """Bulk item errors as (retryable, rejected for good)."""
    retryable: list[Mapping[str, Any]] = []
    rejected: list[Mapping[str, Any]] = []
    for error in errors:
        item = next(iter(error.values()))
        (retryable if int(item.get("status", 0)) in RETRYABLE_STATUS else rejected).append(item)
    return retryable, rejected


class DeliveryWorker:
    """Runs `setup` once (templates) before the first write, `maintain(now)` every
    `maintain_every` seconds (retention), and bulk-writes batches until closed."""

    def __init__(
        self,
        es: Elasticsearch,
        buffer: DocumentBuffer,
        setup: Callable[[], None],
        maintain: Callable[[datetime], None],
        clock: Callable[[], datetime],
        backoff: Backoff,
        bulk_size: int,
        maintain_every: float,
        rng: random.Random | None = None,
    ) -> None:
        self.es, self.buffer, self.backoff, self.bulk_size = es, buffer, backoff, bulk_size
        self._setup, self._maintain, self._clock, self._maintain_every = (
            setup,
            maintain,
            clock,
            maintain_every,
        )
        self._rng = rng or random.Random()
        self.stats = DeliveryStats()
        self.ready = False  # templates installed
        self.wake = threading.Event()
        self._closing = threading.Event()
        self._give_up_at: float | None = None
        self._last_maintenance: float | None = None
        self._thread = threading.Thread(target=self._run, name="elasticsearch-delivery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float) -> None:
        """Deliver what can be delivered within `timeout` seconds, then stop the thread."""
        self._give_up_at = time.monotonic() + timeout
        self._closing.set()
        self.wake.set()
        self._thread.join(timeout + 30)  # a request in flight ends within its own timeout

    def _run(self) -> None:
        attempt = 0
        while True:
            if self._closing.is_set() and (
                time.monotonic() >= (self._give_up_at or 0) or not self.buffer.pending
            ):
                return
            try:
                if not self._step():
                    if self._closing.is_set():
                        return
                    self.wake.wait(1.0)
                    self.wake.clear()
                attempt = 0
            except (TransportError, RetryLater, ApiError) as err:
                if isinstance(err, ApiError) and err.meta.status not in RETRYABLE_STATUS and self.ready:
                    # Bulk refusals are handled in _send: this came from maintenance (retention).
                    log.error("Elasticsearch maintenance failed: %s", _short(err))
                    continue
                attempt = self._back_off(attempt, f"Elasticsearch unavailable ({_short(err)})")
            except Exception:  # a bug must not end delivery for good: log it, back off, go on
                log.exception("Elasticsearch delivery failed unexpectedly")
                attempt = self._back_off(attempt, "Elasticsearch delivery failed")

    def _back_off(self, attempt: int, reason: str) -> int:
        """Wait before the next attempt (shorter if closing); returns the next attempt number."""
        self.stats.retries += 1
        delay = self.backoff.delay(attempt, self._rng)
        log.warning("%s; retrying in %.1fs", reason, delay)
        if self._give_up_at is not None:
            delay = max(0.0, min(delay, self._give_up_at - time.monotonic()))
            time.sleep(delay)  # closing: the close event is already set, so wait() would not wait
        else:
            self._closing.wait(delay)
        return attempt + 1

    def _step(self) -> bool:
        """One unit of work; False when there was nothing to do."""
        if not self.ready:
            self._setup()
            self.ready = True
        now = time.monotonic()
        if self._last_maintenance is None or now - self._last_maintenance >= self._maintain_every:
            self._last_maintenance = now
            self._maintain(self._clock())
        batch = self.buffer.next_batch(self.bulk_size)
        if batch is None:
            return False
        self._send(batch)
        self.buffer.ack(batch)
        return True

    def _send(self, batch: Batch) -> None:
        try:
            ok, errors = helpers.bulk(
                self.es,
                (a.to_bulk() for a in batch.actions),
                chunk_size=self.bulk_size,
                raise_on_error=False,
                max_retries=0,
            )
        except ApiError as err:
            if err.meta.status in RETRYABLE_STATUS:
                raise
            self.stats.failed += len(batch.actions)
            log.error(
                "Elasticsearch refused a bulk request of %d documents for good: %s", len(batch.actions), err
            )
            return
        retryable, rejected = split_item_errors(errors)  # type: ignore[arg-type]
        self.stats.delivered += ok
        if retryable:
            raise RetryLater(f"{len(retryable)} documents answered {retryable[0].get('status')}")
        for item in rejected:
            log.error(
                "Elasticsearch rejected document %s in %s: %s",
                item.get("_id"),
                item.get("_index"),
                item.get("error"),
            )
        self.stats.failed += len(rejected)


def _short(err: Exception) -> str:
    return f"{type(err).__name__}: {str(err)[:200]}"
