"""The delivery thread: sends what the outbox holds, retrying with backoff until receivers answer.

Every pass reads the outbox from the store (so a restart, or another instance taking over the
evaluation, picks up exactly what is pending), sends each due entry and then deletes it — in
that order, so a crash between the two re-sends the entry with the same idempotency key rather
than losing it. A failed send is written back with its attempt count and next attempt time;
a receiver that failed is left alone for the rest of the pass (its other entries wait their turn
instead of each paying a timeout). Retraining deliveries leave a record in the delivery log.

Between passes the thread sleeps until the next entry is due, a new one is enqueued (`wake`) or
the periodic check (`on_tick`: staleness, repeat notifications) is due.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from alerts.config import DeliveryConfig
from alerts.notifiers import Answer, Request, send
from alerts.outbox import DELIVERY_LOG, OUTBOX, Entry, backoff, failed, load
from monitor.clock import Clock
from monitor.state.store import RecordPut, StateStore

log = logging.getLogger("driftline.alerts.delivery")


@dataclass(frozen=True)
class Target:
    """Where entries of one receiver name go: builds the request (None: log only) at send time."""

    render: Callable[[dict[str, Any], str, datetime], Request | None]
    timeout: float


class Deliverer:
    def __init__(
        self,
        store: StateStore,
        targets: dict[str, Target],
        settings: DeliveryConfig,
        clock: Clock,
        may_deliver: Callable[[], bool] = lambda: True,
        on_tick: Callable[[datetime], None] | None = None,
    ) -> None:
        self.store = store
        self.targets = targets
        self.settings = settings
        self.clock = clock
        self.may_deliver = may_deliver
        self.on_tick = on_tick
        self.rng = random.Random()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-delivery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        """Stop the thread, then try every pending entry once more within `flush_timeout`."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)
        deadline = self.clock() + self.settings.flush_timeout
        try:
            if self.may_deliver():
                self.deliver_due(self.clock(), force=True, deadline=deadline)
        except Exception:
            log.exception("final alert delivery failed; pending entries stay in the outbox")

    def _run(self) -> None:
        next_tick = self.clock()
        while not self._stop.is_set():
            self._wake.clear()
            now = self.clock()
            wait = self.settings.check_interval
            try:
                # Only the instance that evaluates delivers and checks (one sender per group).
                leader = self.may_deliver()
                if leader and self.on_tick is not None and now >= next_tick:
                    self.on_tick(now)
                    next_tick = now + self.settings.check_interval
                if leader:
                    due = self.deliver_due(self.clock())
                    if due is not None:
                        wait = min(wait, max(timedelta(0), due - self.clock()))
                    wait = min(wait, max(timedelta(0), next_tick - self.clock()))
            except Exception:  # a store hiccup must not end delivery: try again shortly
                log.exception("alert delivery pass failed")
                wait = min(wait, timedelta(seconds=5))
            self._wake.wait(max(0.01, wait.total_seconds()))

    def deliver_due(
        self, now: datetime, force: bool = False, deadline: datetime | None = None
    ) -> datetime | None:
        """One pass over the outbox; returns when the next entry becomes due (None: outbox empty)."""
        entries = load(self.store.load_records(OUTBOX))
        blocked: dict[str, datetime] = {}  # receiver that failed in this pass -> its retry time
        next_due: datetime | None = None
        for entry in entries:
            if self._stop.is_set() and not force:
                break
            if deadline is not None and self.clock() >= deadline:
                break
            if entry.receiver in blocked:
                next_due = _earliest(next_due, max(entry.next_attempt_at, blocked[entry.receiver]))
                continue
            if entry.next_attempt_at > now and not force:
                next_due = _earliest(next_due, entry.next_attempt_at)
                continue
            retry_at = self._attempt(entry)
            if retry_at is not None:
                blocked[entry.receiver] = retry_at
                next_due = _earliest(next_due, retry_at)
        return next_due

    def _attempt(self, entry: Entry) -> datetime | None:
        """Send one entry; None when it left the outbox, else when to try again."""
        target = self.targets.get(entry.receiver)
        now = self.clock()
        if target is None:
            log.error("dropping alert %s: receiver %r is no longer configured", entry.key, entry.receiver)
            self.store.write_records(deletes=[(OUTBOX, entry.key)])
            return None
        answer = send(
            target.render(entry.document, entry.idempotency_key, now), target.timeout, entry.document
        )
        done = self.clock()
        if answer.ok:
            self.store.write_records(self._logged(entry, answer, done, "delivered"), [(OUTBOX, entry.key)])
            return None
        error = answer.error or f"HTTP {answer.status}"
        if done - entry.created_at >= self.settings.give_up_after:
            log.error(
                "giving up on %s to %s after %d attempts: %s",
                entry.key,
                entry.receiver,
                entry.attempts + 1,
                error,
            )
            self.store.write_records(self._logged(entry, answer, done, "abandoned"), [(OUTBOX, entry.key)])
            return None
        delay = backoff(
            entry.attempts + 1, self.settings.backoff_initial, self.settings.backoff_max, self.rng
        )
        retry = failed(entry, error, done, delay)
        log.warning(
            "delivery to %s failed (attempt %d, retry in %.1fs): %s",
            entry.receiver,
            retry.attempts,
            delay.total_seconds(),
            error,
        )
        self.store.write_records([retry.record()])
        return retry.next_attempt_at

    @staticmethod
    def _logged(entry: Entry, answer: Answer, now: datetime, outcome: str) -> list[RecordPut]:
        if not entry.webhook:
            return []
        record = {
            "receiver": entry.receiver,
            "idempotency_key": entry.idempotency_key,
            "outcome": outcome,
            "status": answer.status,
            "error": answer.error,
            "attempts": entry.attempts + 1,
            "created_at": entry.created_at.isoformat(),
            "finished_at": now.isoformat(),
            "model": entry.document.get("model"),
            "reason": entry.document.get("reason"),
        }
        return [(DELIVERY_LOG, f"{entry.key}", orjson.dumps(record))]


def _earliest(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b < a else a
