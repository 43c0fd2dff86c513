"""The embedded StateStore on RocksDB (an LSM, through rocksdict): one folder, one process.

Why beside SQLite: a join row written or marked joined lands on a random page of SQLite's b-tree,
so a checkpoint of 10,000 row changes writes ~10,000 pages, twice with the WAL (~40-60 MiB per 5 s
at 1,000 predictions/s, whatever the page size). An LSM appends the changes to its log and
memtable and sorts them into files in the background: tests/benchmarks/bench_state.py measures
both on the same traffic.

Durability: a save is one `WriteBatch` written with `sync=True`: offsets, meta blob, windows and
join rows of every partition in it are on disk together when `save` returns, and a process killed
mid-save leaves the previous checkpoints (RocksDB's log recovery drops an unfinished batch).

Sharing: RocksDB lets one process open a folder for writing. Stores opened on the same folder in
one process share one handle (`driftline run` opens three: ingestion, results, alerts); another
process gets a ConfigError naming the folder, except a read-only store (`driftline results`
beside a running service), which sees the state as of its opening. Several instances need
PostgreSQL, as with SQLite.

Memory: bounded by the block cache (`CACHE_BYTES`, index and filter blocks included) and the
memtables (`WRITE_BUFFER_BYTES` each, at most `WRITE_BUFFERS`), not by the rows.

Keys (bytes; strings length-prefixed, integers 8-byte big-endian and biased so they sort):

    !format                                    -> this layout's version
    !sid                                       -> the next join stream id
    C group partition                          -> generation, offsets, meta blob
    W group partition model version start      -> generation that wrote the window
    G group partition generation model version start -> the window's blob
    S group partition model                    -> join stream id (4 bytes)
    R sid pid                                  -> segment, state, [timestamp, prediction, score]
    I sid segment pid                          -> (empty): the rows of a segment
    D sid segment kind                         -> a dropped segment (kind a: every row, j: the
                                                  joined ones) whose rows are still being deleted:
                                                  the last prediction id done
    H sid pid                                  -> [timestamp, outcome, seen_before, until]
    U sid until pid                            -> (empty): held outcomes by when they are let go
    X namespace key                            -> a record

Windows live under the generation that wrote them (`G`), so the changes since a generation are
one range scan; `W` finds a window's previous entry to delete it.

Expiry: dropping a segment (every row at its TTL, the joined ones at the dedup horizon: ~3.6M
rows an hour at 1,000 predictions/s) writes a `D` marker, and from then on the store's readers
do not see those rows. Each save then deletes a bounded number of them, oldest drop first
(`drain_budget` in monitor.state.store), in the same batch as the checkpoint, so no checkpoint
waits for a whole segment. `I` and `U` entries of a row deleted or rewritten one by one are left
behind and skipped (the row no longer matches) when their segment or time range is dropped, which
deletes them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice, starmap
from pathlib import Path
from typing import Any, cast

import orjson
from rocksdict import (
    AccessType,
    BlockBasedOptions,
    Cache,
    DBCompressionType,
    Options,
    Rdict,
    WriteBatch,
    WriteOptions,
)

from monitor.errors import ConfigError, DriftlineError
from monitor.pipeline.join_rows import (
    JOINED,
    PREDICTION,
    SCORE,
    SEGMENT,
    STATE,
    TIMESTAMP,
    Held,
    JoinDelta,
    JoinReader,
    Row,
)
from monitor.state.store import (
    PartitionCheckpoint,
    RecordKey,
    RecordPut,
    StoredPartition,
    WindowKey,
    check_records,
    decode_offsets,
    drain_budget,
    encode_offsets,
    unique_partitions,
)

FORMAT = 1  # bump with a migration when the key layout changes
CACHE_BYTES = 64 << 20  # block cache: data, index and filter blocks read often
WRITE_BUFFER_BYTES = 32 << 20
WRITE_BUFFERS = 2
_BIAS = 1 << 63
READ_ONLY_TRIES = 5  # opening a folder another process is writing (see _open_read_only)
_ALL, _JOINED_ONLY = b"a", b"j"  # the two kinds of segment drop (marker key suffixes)
_FORMAT_KEY = b"!format"
_NEXT_SID = b"!sid"


def _text(value: str) -> bytes:
    raw = value.encode()
    return len(raw).to_bytes(2, "big") + raw


def _int(value: int) -> bytes:
    return (value + _BIAS).to_bytes(8, "big")


def _read_int(raw: bytes, at: int) -> tuple[int, int]:
    return int.from_bytes(raw[at : at + 8], "big") - _BIAS, at + 8


def _read_text(raw: bytes, at: int) -> tuple[str, int]:
    size = int.from_bytes(raw[at : at + 2], "big")
    return raw[at + 2 : at + 2 + size].decode(), at + 2 + size


def _window_suffix(window: WindowKey) -> bytes:
    model, version, start = window
    return _text(model) + _text(version) + _int(start)


def _read_window(raw: bytes, at: int) -> WindowKey:
    model, at = _read_text(raw, at)
    version, at = _read_text(raw, at)
    start, _ = _read_int(raw, at)
    return model, version, start


def _plain(value: Any) -> Any:
    """orjson's fallback: numpy scalars as the Python numbers they hold (SQLite stores them so)."""
    item = getattr(value, "item", None)
    if item is None:
        raise TypeError(f"cannot store a value of type {type(value).__name__}")
    return item()


def _dumps(values: list[Any]) -> bytes:
    return orjson.dumps(values, default=_plain)


_STATES = [bytes([state]) for state in range(256)]  # a row's state byte, made once


def _row_value(mark: bytes, row: Row) -> bytes:
    """A join row as stored: its segment (`mark`, `_int` of it), state, then what it holds."""
    head = mark + _STATES[row[STATE]]
    if row[TIMESTAMP] is None and row[PREDICTION] is None and row[SCORE] is None:
        return head
    return head + _dumps([row[TIMESTAMP], row[PREDICTION], row[SCORE]])


def _row(raw: bytes) -> Row:
    segment, _ = _read_int(raw, 0)
    if len(raw) == 9:
        return (segment, None, None, None, raw[8])
    timestamp, prediction, score = orjson.loads(raw[9:])
    return (segment, timestamp, prediction, score, raw[8])


def _held(raw: bytes) -> Held:
    timestamp, outcome, seen_before, until = orjson.loads(raw)
    return Held(timestamp, outcome, seen_before, until)


def _get_many(db: Rdict, keys: list[bytes]) -> list[bytes | None]:
    """The values of `keys` (None where absent), in one multi-get."""
    return cast(list[bytes | None], db.get(cast(list[Any], keys)))


def _scan(source: Any, prefix: bytes, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of `source` (a Rdict or a snapshot) under `prefix`, from `start` on."""
    for key, value in source.items(from_key=start or prefix):
        if not key.startswith(prefix):
            return
        yield key, value


@dataclass
class _Drops:
    """Segments whose rows are dropped but maybe not all deleted yet, per join stream id: every row
    of a segment, or its joined ones (8-byte segment marks). A row they cover is gone to readers.
    Exact because the join never writes a row into a segment it has dropped, nor a joined row
    into one whose joined rows it has dropped (monitor.pipeline.join_rows.JoinDelta)."""

    every: dict[bytes, set[bytes]] = field(default_factory=dict)
    joined: dict[bytes, set[bytes]] = field(default_factory=dict)

    def hides(self, sid: bytes, row: bytes) -> bool:
        segment = row[:8]
        return segment in self.every.get(sid, ()) or (
            row[8] == JOINED and segment in self.joined.get(sid, ())
        )

    def hides_all(self, sid: bytes, mark: bytes) -> bool:
        return mark in self.every.get(sid, ())

    def add(self, sid: bytes, mark: bytes, joined_only: bool) -> None:
        (self.joined if joined_only else self.every).setdefault(sid, set()).add(mark)

    def merge(self, other: _Drops) -> None:
        for sid, marks in other.every.items():
            self.every.setdefault(sid, set()).update(marks)
        for sid, marks in other.joined.items():
            self.joined.setdefault(sid, set()).update(marks)

    def forget(self, markers: Iterable[bytes]) -> None:
        """Markers (`D sid segment kind`) whose rows are all deleted."""
        for marker in markers:
            sid, mark = marker[1:5], marker[5:13]
            (self.joined if marker[13:] == _JOINED_ONLY else self.every).get(sid, set()).discard(mark)

    @classmethod
    def stored(cls, db: Rdict) -> _Drops:
        drops = cls()
        for marker, _ in _scan(db, b"D"):
            drops.add(marker[1:5], marker[5:13], joined_only=marker[13:] == _JOINED_ONLY)
        return drops


@dataclass
class _Handle:
    """One open database, shared by the stores of this process that opened its folder."""

    db: Rdict
    users: int = 0
    save_mutex: threading.Lock = field(default_factory=threading.Lock)
    evaluators: dict[str, object] = field(default_factory=dict)  # group -> holder's token
    drops: _Drops = field(init=False)  # as stored when opened, then kept up to date by the saves

    def __post_init__(self) -> None:
        self.drops = _Drops.stored(self.db)


_handles: dict[str, _Handle] = {}
_handles_mutex = threading.Lock()


def _options() -> Options:
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    table = BlockBasedOptions()
    table.set_block_cache(Cache(CACHE_BYTES))
    table.set_bloom_filter(10, False)
    table.set_cache_index_and_filter_blocks(True)
    table.set_pin_l0_filter_and_index_blocks_in_cache(True)
    options.set_block_based_table_factory(table)
    options.set_write_buffer_size(WRITE_BUFFER_BYTES)
    options.set_max_write_buffer_number(WRITE_BUFFERS)
    options.set_compression_type(DBCompressionType.lz4())
    options.set_level_compaction_dynamic_level_bytes(True)
    options.set_max_log_file_size(1 << 20)  # RocksDB's own info log: rolled at 1 MiB, two kept
    options.set_keep_log_file_num(2)
    return options


class RocksStateStore:
    def __init__(self, path: Path, display_url: str | None = None, read_only: bool = False) -> None:
        self.path = path
        self._where = display_url or f"rocksdb:///{path}"
        self._key = str(path.resolve())
        self._token = object()  # identifies this store's evaluation locks
        self._held: set[str] = set()
        self._read_only = read_only
        self._sync = WriteOptions()
        self._sync.sync = True
        self._closed = False
        if read_only:
            if not (path / "CURRENT").exists():
                raise ConfigError(f"state.url {self._where!r}: no RocksDB store at {path}")
            self._handle = _Handle(self._open_read_only(), users=1)
        else:
            self._handle = self._share()
        self._check_format()

    def _open_read_only(self) -> Rdict:
        """A read-only view of the folder as of now. The writing process may be replacing the
        files such a view lists (a flush retires a log, a compaction its inputs) while it opens:
        a few tries, a moment apart, get past that."""
        error: Exception | None = None
        for attempt in range(READ_ONLY_TRIES):
            time.sleep(0.05 * attempt)
            try:
                return Rdict(str(self.path), Options(raw_mode=True), access_type=AccessType.read_only())
            except Exception as err:  # rocksdict raises plain Exception
                error = err
        raise ConfigError(f"state.url {self._where!r}: cannot open {self.path}: {error}")

    def _share(self) -> _Handle:
        with _handles_mutex:
            handle = _handles.get(self._key)
            if handle is None:
                if self.path.is_dir() and any(self.path.iterdir()) and not (self.path / "CURRENT").exists():
                    raise ConfigError(
                        f"state.url {self._where!r}: {self.path} holds files but no RocksDB store; "
                        "name a new or empty folder"
                    )
                try:
                    self.path.mkdir(parents=True, exist_ok=True)
                    handle = _Handle(Rdict(str(self.path), _options()))
                except Exception as err:  # rocksdict raises plain Exception
                    hint = " (another process has it open: RocksDB allows one)" if "lock" in str(err) else ""
                    raise ConfigError(
                        f"state.url {self._where!r}: cannot open {self.path}{hint}: {err}"
                    ) from None
                _handles[self._key] = handle
            handle.users += 1
            return handle

    def _check_format(self) -> None:
        db = self._handle.db
        found = db.get(_FORMAT_KEY)
        if found is None and not self._read_only:
            db.put(_FORMAT_KEY, str(FORMAT).encode(), self._sync)
            return
        if found is not None and int(found) > FORMAT:
            self.close()
            raise ConfigError(
                f"state store {self._where} has layout version {int(found)}, newer than this driftline "
                f"understands ({FORMAT}); upgrade driftline or point state.url elsewhere"
            )

    def _db(self) -> Rdict:
        if self._closed:
            raise DriftlineError(f"state store {self._where} is closed")
        return self._handle.db

    def _writable(self) -> Rdict:
        if self._read_only:
            raise DriftlineError(f"state store {self._where} is open read-only")
        return self._db()

    def _failed(self, action: str, err: Exception) -> DriftlineError:
        return DriftlineError(f"state store {self._where}: {action} failed: {err}")

    # -- checkpoints --------------------------------------------------------------------------

    def save(self, group: str, checkpoints: Sequence[PartitionCheckpoint]) -> None:
        unique_partitions(group, checkpoints)
        with self._handle.save_mutex:
            db = self._writable()
            drops = self._handle.drops
            try:
                changes = _Changes(db, drops)
                for checkpoint in checkpoints:
                    changes.partition(group, checkpoint)
                batch = changes.batch()
                # Readers hide the dropped rows from the moment the drop is written (and no longer
                # once a failed write is known: `stored` is what the database holds).
                drops.merge(changes.new_drops)
                db.write(batch, self._sync)
            except DriftlineError:
                raise
            except Exception as err:
                self._handle.drops = _Drops.stored(db)
                raise self._failed(f"saving group {group!r}", err) from err
            drops.forget(changes.drained)

    def load(self, group: str, partitions: Iterable[int]) -> dict[int, StoredPartition]:
        wanted = {int(p) for p in partitions}
        if not wanted:
            return {}
        return self._read(f"loading group {group!r}", group, wanted, {})

    def load_changes(self, group: str, seen: Mapping[int, int]) -> dict[int, StoredPartition]:
        return self._read(f"loading windows of group {group!r}", group, None, seen)

    def _read(
        self, action: str, group: str, wanted: set[int] | None, seen: Mapping[int, int]
    ) -> dict[int, StoredPartition]:
        """Partitions of the group (`wanted`, or all) with their windows written after generation
        `seen[partition]`, from one snapshot: every partition as of the same save."""
        try:
            snapshot = self._db().snapshot()
            out: dict[int, StoredPartition] = {}
            prefix = b"C" + _text(group)
            for key, value in _scan(snapshot, prefix):
                partition, _ = _read_int(key, len(prefix))
                if wanted is not None and partition not in wanted:
                    continue
                generation, _ = _read_int(value, 0)
                size = int.from_bytes(value[8:12], "big")
                offsets = decode_offsets(value[12 : 12 + size].decode(), group, partition)
                windows_prefix = b"G" + _text(group) + _int(partition)
                since = seen.get(partition, 0)
                start = windows_prefix + _int(since + 1)
                windows = {
                    _read_window(k, len(windows_prefix) + 8): bytes(blob)
                    for k, blob in _scan(snapshot, windows_prefix, start)
                }
                out[partition] = StoredPartition(partition, offsets, value[12 + size :], generation, windows)
            return out
        except DriftlineError:
            raise
        except Exception as err:
            raise self._failed(action, err) from err

    def join_reader(self, group: str, partition: int, model: str) -> JoinReader:
        return _StoredJoin(self, b"S" + _text(group) + _int(partition) + _text(model))

    def _get(self, action: str, keys: list[bytes]) -> list[bytes | None]:
        try:
            return _get_many(self._db(), keys)
        except DriftlineError:
            raise
        except Exception as err:
            raise self._failed(action, err) from err

    # -- records ------------------------------------------------------------------------------

    def write_records(self, puts: Sequence[RecordPut] = (), deletes: Sequence[RecordKey] = ()) -> None:
        check_records(puts, deletes)
        if not puts and not deletes:
            return
        db = self._writable()
        batch = WriteBatch(raw_mode=True)
        for namespace, key, value in puts:
            batch.put(b"X" + _text(namespace) + key.encode(), bytes(value))
        for namespace, key in deletes:
            batch.delete(b"X" + _text(namespace) + key.encode())
        try:
            db.write(batch, self._sync)
        except Exception as err:
            raise self._failed("writing records", err) from err

    def load_records(self, namespace: str) -> dict[str, bytes]:
        prefix = b"X" + _text(namespace)
        try:
            return {k[len(prefix) :].decode(): bytes(v) for k, v in _scan(self._db(), prefix)}
        except DriftlineError:
            raise
        except Exception as err:
            raise self._failed(f"loading records of {namespace!r}", err) from err

    # -- the evaluation lock (one process holds the folder, so it is exclusive within it) ----------

    def try_lock_evaluation(self, group: str) -> bool:
        self._db()
        with _handles_mutex:
            holder = self._handle.evaluators.setdefault(group, self._token)
        if holder is self._token:
            self._held.add(group)
            return True
        return False

    def release_evaluation(self, group: str) -> None:
        with _handles_mutex:
            if self._handle.evaluators.get(group) is self._token:
                del self._handle.evaluators[group]
        self._held.discard(group)

    def ping(self) -> bool:
        if self._closed:
            return False
        try:
            self._handle.db.get(_FORMAT_KEY)
        except Exception:
            return False
        return True

    def close(self) -> None:
        with self._handle.save_mutex:
            if self._closed:
                return
            for group in list(self._held):
                self.release_evaluation(group)
            self._closed = True
        with _handles_mutex:
            self._handle.users -= 1
            if self._handle.users == 0:
                if _handles.get(self._key) is self._handle:
                    del _handles[self._key]
                self._handle.db.close()


class _Changes:
    """One save's writes, key -> value (None deletes), read back by the later steps of the same
    save before the database (two join streams new in one save take two numbers). Join rows are
    written without being read first (the delta says what they become); only `_drain` reads the
    rows it deletes.

    A segment drop writes a marker (`D`) and hides the segment's rows from then on (`_Drops`); the
    rows themselves are deleted a bounded number at a time by this and the following saves
    (`drain`), so a drop of millions of rows does not stall one checkpoint. Those deletes go to the
    batch before the other writes, so a row put again by the same save stays."""

    def __init__(self, db: Rdict, drops: _Drops) -> None:
        self._db = db
        self._drops = drops  # committed
        self.new_drops = _Drops()  # by this save
        self.drained: list[bytes] = []  # markers this save finished
        self._batch = WriteBatch(raw_mode=True)
        self._writes: dict[bytes, bytes | None] = {}
        self._markers: dict[bytes, bytes | None] = {}  # the drop markers among `_writes`
        # New join rows and their index entries: keys no other write of a save sets after them,
        # so they skip `_writes` and go into the batch last (after the drain's deletes).
        self._inserts: list[tuple[bytes, bytes]] = []
        self._inserted = 0

    def _get(self, keys: list[bytes]) -> list[bytes | None]:
        missing = [k for k in keys if k not in self._writes]
        stored = dict(zip(missing, _get_many(self._db, missing), strict=True)) if missing else {}
        return [self._writes[k] if k in self._writes else stored[k] for k in keys]

    def batch(self) -> WriteBatch:
        self._drain(drain_budget(self._inserted))
        for key, value in self._writes.items():
            if value is None:
                self._batch.delete(key)
            else:
                self._batch.put(key, value)
        deque(starmap(self._batch.put, self._inserts), maxlen=0)  # a put each, in a C loop
        return self._batch

    def partition(self, group: str, checkpoint: PartitionCheckpoint) -> None:
        head_key = b"C" + _text(group) + _int(checkpoint.partition)
        (head,) = self._get([head_key])
        generation = (0 if head is None else _read_int(head, 0)[0]) + 1
        offsets = encode_offsets(checkpoint.offsets).encode()
        self._writes[head_key] = (
            _int(generation) + len(offsets).to_bytes(4, "big") + offsets + bytes(checkpoint.meta)
        )
        where = _text(group) + _int(checkpoint.partition)
        windows = sorted(checkpoint.windows.items())
        pointers = [b"W" + where + _window_suffix(w) for w, _ in windows]
        for (window, blob), pointer, previous in zip(windows, pointers, self._get(pointers), strict=True):
            suffix = _window_suffix(window)
            if previous is not None:
                self._writes[b"G" + where + previous + suffix] = None
            if blob is None:
                self._writes[pointer] = None
            else:
                self._writes[pointer] = _int(generation)
                self._writes[b"G" + where + _int(generation) + suffix] = bytes(blob)
        for model, delta in sorted(checkpoint.joins.items()):
            if len(delta):
                self._join(self._stream(b"S" + where + _text(model)), delta)

    def _stream(self, key: bytes) -> bytes:
        (sid,) = self._get([key])
        if sid is None:
            (counter,) = self._get([_NEXT_SID])
            number = 1 if counter is None else int.from_bytes(counter, "big")
            sid = number.to_bytes(4, "big")
            self._writes[_NEXT_SID] = (number + 1).to_bytes(4, "big")
            self._writes[key] = sid
        return sid

    def _join(self, sid: bytes, delta: JoinDelta) -> None:
        rows = b"R" + sid
        for segment in delta.drop_segments:
            self._drop_segment(sid, segment, joined_only=False)
        for segment in delta.drop_joined:
            self._drop_segment(sid, segment, joined_only=True)
        for pid in delta.deleted:
            self._writes[rows + pid.encode()] = None
        for pid, segment, state in delta.answered:
            # Written without reading it (the delta names stored rows only), unless its segment
            # is dropped: then it stays away, as with SQL's UPDATE.
            mark = _int(segment)
            if not self._dropped_all(sid, mark):
                self._writes[rows + pid.encode()] = mark + _STATES[state]
        self._inserted += len(delta.inserted)
        index, inserts = b"I" + sid, self._inserts
        marks: dict[int, bytes] = {}
        for pid, row in delta.inserted:
            raw, segment = pid.encode(), row[SEGMENT]
            segment_mark = marks.get(segment)
            if segment_mark is None:
                segment_mark = marks[segment] = _int(segment)
            inserts.append((rows + raw, _row_value(segment_mark, row)))
            inserts.append((index + segment_mark + raw, b""))
        held = b"H" + sid
        if delta.release_held_until is not None:
            self._release_held(sid, delta.release_held_until)
        for pid in delta.held_deleted:
            self._writes[held + pid.encode()] = None
        for pid, h in delta.held_inserted:
            raw = pid.encode()
            self._writes[held + raw] = _dumps([h.timestamp, h.outcome, h.seen_before, h.until])
            self._writes[b"U" + sid + _int(h.until) + raw] = b""

    def _dropped_all(self, sid: bytes, mark: bytes) -> bool:
        return self._drops.hides_all(sid, mark) or self.new_drops.hides_all(sid, mark)

    def _drop_segment(self, sid: bytes, segment: int, joined_only: bool) -> None:
        """Mark the rows of a segment (or only its joined ones) dropped: hidden from now on,
        deleted by `_drain`. Dropping all of a segment takes over a drop of its joined rows."""
        mark = _int(segment)
        marker = b"D" + sid + mark
        if joined_only:
            if not self._dropped_all(sid, mark):
                self._mark(marker + _JOINED_ONLY, b"")
                self.new_drops.add(sid, mark, joined_only=True)
            return
        self._mark(marker + _ALL, b"")
        self._mark(marker + _JOINED_ONLY, None)
        self.new_drops.add(sid, mark, joined_only=False)

    def _mark(self, marker: bytes, cursor: bytes | None) -> None:
        self._writes[marker] = self._markers[marker] = cursor

    def _drain(self, budget: int) -> None:
        """Delete up to `budget` index entries' worth of dropped rows, oldest drops first, each
        marker keeping how far it got (the last prediction id done) until its segment is done."""
        markers: dict[bytes, bytes | None] = dict(_scan(self._db, b"D"))
        markers.update(self._markers)
        for marker, cursor in sorted(markers.items()):
            if cursor is None or budget <= 0:
                continue
            sid, mark, joined_only = marker[1:5], marker[5:13], marker[13:] == _JOINED_ONLY
            prefix = b"I" + sid + mark
            entries = _scan(self._db, prefix, prefix + cursor + b"\x00" if cursor else None)
            chunk = [entry for entry, _ in islice(entries, budget)]
            budget -= len(chunk)
            keys = [b"R" + sid + entry[len(prefix) :] for entry in chunk]
            for entry, key, found in zip(chunk, keys, _get_many(self._db, keys), strict=True):
                ours = found is not None and found[:8] == mark
                if joined_only and ours and found is not None and found[8] != JOINED:
                    continue  # still waiting: it stays, with its entry
                if ours:
                    self._batch.delete(key)
                if joined_only:
                    self._batch.delete(entry)
            if budget > 0:  # the segment's entries ran out before the budget: done
                if not joined_only:
                    self._batch.delete_range(prefix, b"I" + sid + _int(_read_int(mark, 0)[0] + 1))
                self._writes[marker] = None
                self.drained.append(marker)
            else:
                self._writes[marker] = chunk[-1][len(prefix) :]

    def _release_held(self, sid: bytes, until: int) -> None:
        """Delete held outcomes whose `until` is at most this (as SQL's `hold_until <= ?`)."""
        prefix = b"U" + sid
        bound = prefix + _int(until)
        entries = []
        for key, _ in _scan(self._db, prefix):
            if key[: len(bound)] > bound:
                break
            entries.append(key)
        keys = [b"H" + sid + key[len(bound) :] for key in entries]
        for entry, key, found in zip(entries, keys, self._get(keys), strict=True):
            self._writes[entry] = None
            if found is not None and _held(found).until <= until:
                self._writes[key] = None


class _StoredJoin:
    """`JoinReader` of one (group, partition, model): rows as of the last save."""

    def __init__(self, store: RocksStateStore, stream_key: bytes) -> None:
        self._store = store
        self._stream_key = stream_key
        self._sid: bytes | None = None  # known once a save has written the model's rows

    def _stream(self) -> bytes | None:
        if self._sid is None:
            (self._sid,) = self._store._get("reading join rows", [self._stream_key])
        return self._sid

    def _lookup(self, tag: bytes, ids: Sequence[str]) -> Iterator[tuple[str, bytes]]:
        sid = self._stream()
        if sid is None or not ids:
            return
        prefix = tag + sid
        found = self._store._get("reading join rows", [prefix + pid.encode() for pid in ids])
        for pid, raw in zip(ids, found, strict=True):
            if raw is not None:
                yield pid, raw

    def rows(self, ids: Sequence[str]) -> dict[str, Row]:
        found = list(self._lookup(b"R", ids))
        drops, sid = self._store._handle.drops, self._sid or b""
        return {pid: _row(raw) for pid, raw in found if not drops.hides(sid, raw)}

    def held(self, ids: Sequence[str]) -> dict[str, Held]:
        return {pid: _held(raw) for pid, raw in self._lookup(b"H", ids)}
