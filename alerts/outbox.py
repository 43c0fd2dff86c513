"""The delivery outbox: one durable record per (notification, receiver) still to deliver.

Entries live in the StateStore record API (namespace `alerts.outbox`), written in the same
transaction as the alert state that produced them, so a crash can neither lose a notification
nor send one twice because the state forgot it had fired. Keys sort by creation time, so
delivery follows the order in which alerts happened. The outbox is bounded: past `max_outbox`
entries, the oldest are dropped (and logged) rather than letting a dead receiver grow it forever.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import orjson

from monitor.state.store import RecordKey, RecordPut

OUTBOX = "alerts.outbox"
DELIVERY_LOG = "alerts.delivered"  # retraining and version deliveries: the webhook delivery log


@dataclass(frozen=True)
class Entry:
    key: str  # record key: creation time first, so keys sort in order of creation
    receiver: str  # receiver name, "retraining:<model>" or "version:<model>"
    idempotency_key: str
    document: dict[str, Any]  # the notification or retraining payload, as JSON
    created_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    last_error: str | None = None

    @property
    def retraining(self) -> bool:
        return self.receiver.startswith("retraining:")

    @property
    def webhook(self) -> bool:
        """A retraining trigger or a version verdict: logged in the webhook delivery log."""
        return self.retraining or self.receiver.startswith("version:")

    def record(self) -> RecordPut:
        return (OUTBOX, self.key, orjson.dumps(asdict(self)))

    @classmethod
    def from_bytes(cls, raw: bytes) -> Entry:
        data = orjson.loads(raw)
        data["created_at"] = datetime.fromisoformat(data["created_at"])
        data["next_attempt_at"] = datetime.fromisoformat(data["next_attempt_at"])
        return cls(**data)


def new_entry(receiver: str, idempotency_key: str, document: dict[str, Any], now: datetime) -> Entry:
    micros = int(now.timestamp() * 1_000_000)
    key = f"{micros:017d}.{idempotency_key}.{receiver}"
    return Entry(key, receiver, idempotency_key, document, now, now)


def backoff(attempts: int, initial: timedelta, ceiling: timedelta, rng: random.Random) -> timedelta:
    """Exponential backoff with jitter: the n-th retry waits a random time between half and all of
    min(ceiling, initial * 2**(n-1)), so receivers coming back are not hit by every sender at once."""
    base = min(ceiling.total_seconds(), initial.total_seconds() * 2 ** max(0, attempts - 1))
    return timedelta(seconds=base * rng.uniform(0.5, 1.0))


def failed(entry: Entry, error: str, now: datetime, delay: timedelta) -> Entry:
    return replace(entry, attempts=entry.attempts + 1, last_error=error[:500], next_attempt_at=now + delay)


def overflow(keys: list[str], max_outbox: int) -> list[RecordKey]:
    """The oldest entries beyond the bound, to delete."""
    extra = len(keys) - max_outbox
    return [(OUTBOX, k) for k in sorted(keys)[:extra]] if extra > 0 else []


def load(records: dict[str, bytes]) -> list[Entry]:
    return [Entry.from_bytes(records[k]) for k in sorted(records)]
