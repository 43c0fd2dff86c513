"""Durable checkpoints of the ingestion state, per (consumer group, input partition).

A checkpoint holds, in one transaction, the next offset to read of every input of a partition and
what changed in its state since the previous checkpoint:

- `meta`: a small blob rewritten every time (counters, each stream's watermark, detector and
  label-delay state, the join's segments and watermarks, the keys of the windows it holds);
- `windows`: the windows whose content changed (one row each; None deletes one);
- `joins`: per model, the join's row changes (monitor.pipeline.join_rows.JoinDelta).

So a checkpoint costs what the traffic since the last one changed, not the state's size, and a
restore reads offsets, the meta blob and the windows, never the pending predictions: the join
reads those rows from the store when outcomes ask for them (`join_reader`). After a crash the
service resumes from a point where the stored state reflects exactly the inputs read before it.

Each save bumps the partition's `generation`; windows carry the generation that wrote them, so an
evaluator of another instance reads only the windows changed since it last looked
(`load_changes`).

Backends, chosen by `state.url`:

    sqlite:///driftline-state.db        embedded, one process (relative to the config's folder)
    sqlite:////var/lib/driftline/s.db   absolute path (four slashes)
    rocksdb:///driftline-state          embedded, one process: a RocksDB folder (an LSM: a
                                        checkpoint writes a tenth of SQLite's bytes, see rocks.py)
    postgresql://user@host:5432/db      shared by several instances (also postgres://)

The classes live in monitor.state.sqlite, monitor.state.rocks and monitor.state.postgres; the
factory that picks one from the URL (monitor.state.factory) imports them on demand, so an embedded
deployment never imports the PostgreSQL driver.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import orjson

from monitor.errors import ConfigError, DriftlineError
from monitor.pipeline.join_rows import JoinDelta, JoinReader

SCHEMA_VERSION = 4  # bump together with a migration in both backends (their _MIGRATIONS)
CHECKPOINT_TABLE = "driftline_checkpoints"
SCHEMA_TABLE = "driftline_schema"
RECORDS_TABLE = "driftline_records"  # schema 2: small durable records (alert state, outbox, logs)
# Schema 3: state by row instead of two whole blobs per partition.
WINDOWS_TABLE = "driftline_windows"
JOIN_STREAMS_TABLE = "driftline_join_streams"  # (group, partition, model) -> a small integer
JOIN_ROWS_TABLE = "driftline_join_rows"
JOIN_HELD_TABLE = "driftline_join_held"
# Schema 4: segments whose rows are dropped a bounded number per save (monitor.state.tables).
JOIN_DROPS_TABLE = "driftline_join_drops"

WindowKey = tuple[str, str, int]  # model, version, window start (ms)

# Dropped join segments are deleted a bounded number of rows per save (every store drops them
# lazily: monitor.state.tables, monitor.state.rocks), at least this many (RocksDB: index entries).
DRAIN_MIN = 10_000


def drain_budget(inserted: int) -> int:
    """How many rows of dropped segments a save that inserted `inserted` rows deletes: DRAIN_MIN,
    or twice its inserts if more, so the deletes keep up with the traffic."""
    return max(DRAIN_MIN, 2 * inserted)


@dataclass(frozen=True)
class PartitionCheckpoint:
    partition: int  # input partition number (Kafka partition; 0 for embedded sources)
    offsets: dict[str, int]  # input (topic or file name) -> next offset to read
    meta: bytes  # opaque blob: counters, stream states, join segments (small, rewritten each time)
    windows: Mapping[WindowKey, bytes | None] = field(default_factory=dict)  # changed; None: deleted
    joins: Mapping[str, JoinDelta] = field(default_factory=dict)  # model -> row changes


@dataclass(frozen=True)
class StoredPartition:
    partition: int
    offsets: dict[str, int]
    meta: bytes
    generation: int  # saves of this partition so far (0: written by schema 2, see legacy_join)
    windows: dict[WindowKey, bytes]  # all of them, or those changed since a given generation
    legacy_join: bytes = b""  # schema 2's join blob (`meta` is then its windows blob)


RecordPut = tuple[str, str, bytes]  # (namespace, key, value)
RecordKey = tuple[str, str]  # (namespace, key)


class StateStore(Protocol):
    def save(self, group: str, checkpoints: Sequence[PartitionCheckpoint]) -> None:
        """Atomically replace the stored checkpoints of these partitions (all or nothing)."""

    def load(self, group: str, partitions: Iterable[int]) -> dict[int, StoredPartition]:
        """Stored checkpoints of these partitions with all their windows (missing ones absent)."""

    def load_changes(self, group: str, seen: Mapping[int, int]) -> dict[int, StoredPartition]:
        """Every stored partition of the group, read in one snapshot, with only the windows written
        after generation `seen[partition]` (all of a partition not in `seen`): what an evaluator
        merging other instances' partitions reads on each tick."""

    def join_reader(self, group: str, partition: int, model: str) -> JoinReader:
        """The stored join rows of one model in one partition, for lookups by prediction id."""

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
