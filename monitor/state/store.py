"""Durable checkpoints of the ingestion state, one row per (consumer group, input partition).

A checkpoint holds the next offset to read of every input of a partition together with two
opaque blobs: `windows` (sketches, detectors, counters: what evaluation reads) and `join` (the
pending predictions). Offsets and state are saved in one transaction, so after a crash the
service resumes from a point where the state reflects exactly the inputs read before it.

Backends, chosen by `state.url`:

    sqlite:///driftline-state.db        embedded, one process (relative to the config's folder)
    sqlite:////var/lib/driftline/s.db   absolute path (four slashes)
    postgresql://user@host:5432/db      shared by several instances (also postgres://)

The SQLite and PostgreSQL classes live in monitor.state.sqlite and monitor.state.postgres; the
factory that picks one from the URL (monitor.state.factory) imports them on demand, so an embedded
deployment never imports the PostgreSQL driver.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import orjson

from monitor.errors import ConfigError, DriftlineError

SCHEMA_VERSION = 2  # bump together with a migration in both backends (their _MIGRATIONS)
CHECKPOINT_TABLE = "driftline_checkpoints"
SCHEMA_TABLE = "driftline_schema"
RECORDS_TABLE = "driftline_records"  # schema 2: small durable records (alert state, outbox, logs)


@dataclass(frozen=True)
class PartitionCheckpoint:
    partition: int  # input partition number (Kafka partition; 0 for embedded sources)
    offsets: dict[str, int]  # input (topic or file name) -> next offset to read
    windows: bytes  # opaque blob: window sketches, detectors, counters (what evaluation reads)
    join: bytes  # opaque blob: the join buffer (pending predictions)


RecordPut = tuple[str, str, bytes]  # (namespace, key, value)
RecordKey = tuple[str, str]  # (namespace, key)


class StateStore(Protocol):
    def save(self, group: str, checkpoints: Sequence[PartitionCheckpoint]) -> None:
        """Atomically replace the stored checkpoints of these partitions (all or nothing)."""

    def load(self, group: str, partitions: Iterable[int]) -> dict[int, PartitionCheckpoint]:
        """Stored checkpoints of these partitions (missing ones absent)."""

    def load_windows(self, group: str) -> dict[int, bytes]:
        """The `windows` blob of every stored partition of the group (what an evaluator merges),
        without reading the (large) join blobs."""

    def try_lock_evaluation(self, group: str) -> bool:
        """Become the group's only evaluator, without blocking; True if this store now holds the lock.
        Held until release_evaluation or close (or the process dies)."""

    def release_evaluation(self, group: str) -> None: ...

    def write_records(self, puts: Sequence[RecordPut] = (), deletes: Sequence[RecordKey] = ()) -> None:
        """Atomically upsert `puts` and delete `deletes` (all or nothing), across namespaces: what
        the alert engine uses to persist alert state and enqueue notifications in one step."""

    def load_records(self, namespace: str) -> dict[str, bytes]:
        """Every record of a namespace, key -> value (empty when there is none)."""

    def ping(self) -> bool:
        """True when the store answers (for /readyz)."""

    def close(self) -> None: ...


def redact_url(url: str) -> str:
    """The URL with any password replaced, fit for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def advisory_lock_key(purpose: str, namespace: str, name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL advisory locks: the same purpose, schema and name
    map to the same key in every process and version of driftline. The schema is part of the key
    because advisory locks are database-wide while the tables, and so the groups, are per schema."""
    digest = hashlib.sha256(f"driftline/{purpose}/{namespace}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def unique_partitions(group: str, checkpoints: Sequence[PartitionCheckpoint]) -> None:
    """Refuse two checkpoints of one partition in a single save: which one should win is a caller bug."""
    seen: set[int] = set()
    for checkpoint in checkpoints:
        if checkpoint.partition in seen:
            raise ValueError(
                f"save of group {group!r} holds partition {checkpoint.partition} twice; "
                "each partition may appear once per save"
            )
        seen.add(checkpoint.partition)


def encode_offsets(offsets: dict[str, int]) -> str:
    return orjson.dumps(offsets, option=orjson.OPT_SORT_KEYS).decode()


def decode_offsets(text: str, group: str, partition: int) -> dict[str, int]:
    try:
        offsets = orjson.loads(text)
    except orjson.JSONDecodeError as err:
        raise DriftlineError(
            f"stored offsets of group {group!r} partition {partition} are corrupt: {err}"
        ) from None
    return {str(name): int(offset) for name, offset in offsets.items()}


def check_records(puts: Sequence[RecordPut], deletes: Sequence[RecordKey]) -> None:
    """Refuse a write that names one record twice: which one should win is a caller bug."""
    seen: set[RecordKey] = set()
    for namespace, key in [(n, k) for n, k, _ in puts] + [(n, k) for n, k in deletes]:
        if not namespace or not key:
            raise ValueError(f"record ({namespace!r}, {key!r}): namespace and key must be non-empty")
        if (namespace, key) in seen:
            raise ValueError(f"record ({namespace!r}, {key!r}) appears twice in one write")
        seen.add((namespace, key))


def check_schema_version(found: int, where: str) -> None:
    if found > SCHEMA_VERSION:
        raise ConfigError(
            f"state store {where} has schema version {found}, newer than this driftline understands "
            f"({SCHEMA_VERSION}); upgrade driftline or point state.url elsewhere"
        )
