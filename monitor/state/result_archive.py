"""Evaluated windows in the state store's records: written as they are evaluated, read back at
start, by the other instances of a group and by the offline commands (`driftline windows`,
`show`, `report`), which need no running service.

Layout (record namespaces of StateStore.write_records / load_records; no table of its own):

    results.index                           key "<model>/<version>"  the stream's index (JSON)
    results/<model>/<version>/<window id>   key "window"   the window (monitor.evaluation.result_record)
    results.sample/<model>/<version>/<id>   key "rows"     its row sample (newest windows only)

A window id is the window's start in epoch seconds (as in the API). The index lists a stream's
stored windows (id -> end, evaluated_at) and which of them have a sample (id -> rows it had seen,
so an unchanged sample is not written again); every write reads it
and rewrites it in the same transaction as the windows it adds and the ones retention drops, so
it always names exactly what is stored. One namespace per window: reading one window, or the
newest few, reads only those.

Writes are idempotent: a window's records are keyed by its id, so a re-evaluation (late
outcomes, the final pass, a restart) overwrites the earlier one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import orjson

from monitor.errors import DataError
from monitor.evaluation.result_json import window_id
from monitor.evaluation.result_record import decode_result, decode_sample, encode_result, encode_sample
from monitor.evaluation.results import WindowResult
from monitor.state.store import RecordKey, RecordPut, StateStore

INDEX = "results.index"
WINDOW, ROWS = "window", "rows"
Stream = tuple[str, str]  # model, version

log = logging.getLogger("driftline.results")


def window_namespace(model: str, version: str, wid: str) -> str:
    return f"results/{model}/{version}/{wid}"


def sample_namespace(model: str, version: str, wid: str) -> str:
    return f"results.sample/{model}/{version}/{wid}"


@dataclass(frozen=True)
class Retention:
    """What stays stored per (model, version): the newest `windows` windows, none that ended more
    than `max_age` ago, and row samples for the newest `samples` of them."""

    windows: int
    samples: int
    max_age: timedelta | None = None


@dataclass(frozen=True)
class Entry:
    end: float  # the window's end, epoch seconds (for age retention)
    evaluated_at: str  # ISO time of the stored evaluation: tells another instance it changed


@dataclass
class StreamIndex:
    model: str
    version: str
    windows: dict[str, Entry] = field(default_factory=dict)
    # Windows whose row sample is stored -> the rows the sample had seen (RowReservoir.n_seen): a
    # re-evaluation for late outcomes brings the same sample, which is then not written again.
    samples: dict[str, int] = field(default_factory=dict)

    def ordered(self) -> list[str]:
        """Window ids, oldest first."""
        return sorted(self.windows, key=int)

    def encode(self) -> bytes:
        windows = {w: [e.end, e.evaluated_at] for w, e in self.windows.items()}
        body = {"model": self.model, "version": self.version, "windows": windows}
        return orjson.dumps(body | {"samples": self.samples})

    @classmethod
    def decode(cls, raw: bytes) -> StreamIndex:
        try:
            body = orjson.loads(raw)
            windows = {str(w): Entry(float(end), str(at)) for w, (end, at) in body["windows"].items()}
            samples = {str(w): int(n) for w, n in body["samples"].items()}
            return cls(str(body["model"]), str(body["version"]), windows, samples)
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise DataError(f"record {INDEX} is corrupt: {type(err).__name__}: {err}") from None


class ResultArchive:
    def __init__(self, store: StateStore, retention: Retention) -> None:
        if retention.windows < 1 or retention.samples < 0:
            raise ValueError(f"retention keeps at least one window and no negative samples: {retention}")
        self.store = store
        self.retention = retention

    # ------------------------------------------------------------------ writing

    def write(self, results: Sequence[WindowResult], now: datetime) -> None:
        """Store these results (the last one of a window wins) and delete what retention drops, all
        in one transaction; windows past `max_age` go from every stream, also those that get no
        new windows (a retired model version). Raises DriftlineError if the store fails (nothing
        is written then)."""
        latest: dict[Stream, dict[str, WindowResult]] = {}
        for result in results:
            latest.setdefault((result.model, result.model_version), {})[window_id(result)] = result
        indexes = self.indexes()
        if self.retention.max_age is not None:
            oldest_end = (now - self.retention.max_age).timestamp()
            for stream, index in indexes.items():
                if any(e.end < oldest_end for e in index.windows.values()):
                    latest.setdefault(stream, {})
        puts: list[RecordPut] = []
        deletes: list[RecordKey] = []
        for (model, version), chosen in sorted(latest.items()):
            index = indexes.get((model, version)) or StreamIndex(model, version)
            self._plan(index, chosen, now, puts, deletes)
            key = f"{model}/{version}"
            if index.windows:
                puts.append((INDEX, key, index.encode()))
            else:
                deletes.append((INDEX, key))
        self.store.write_records(puts, deletes)

    def _plan(
        self,
        index: StreamIndex,
        chosen: dict[str, WindowResult],
        now: datetime,
        puts: list[RecordPut],
        deletes: list[RecordKey],
    ) -> None:
        model, version, retention = index.model, index.version, self.retention
        for wid, result in chosen.items():
            index.windows[wid] = Entry(result.window_end.timestamp(), result.evaluated_at.isoformat())
        ordered = index.ordered()
        kept = ordered[-retention.windows :]
        if retention.max_age is not None:
            oldest_end = (now - retention.max_age).timestamp()
            kept = [w for w in kept if index.windows[w].end >= oldest_end]
        sampled = set(kept[-retention.samples :]) if retention.samples else set()
        for wid in set(ordered) - set(kept):
            del index.windows[wid]
            if wid not in chosen:  # a window evaluated now and dropped at once was never stored
                deletes.append((window_namespace(model, version, wid), WINDOW))
        for wid in sorted(set(kept) & set(chosen), key=int):
            puts.append((window_namespace(model, version, wid), WINDOW, encode_result(chosen[wid])))
        for wid in sorted(set(index.samples) - sampled, key=int):
            deletes.append((sample_namespace(model, version, wid), ROWS))
            del index.samples[wid]
        for wid in sorted(sampled & set(chosen), key=int):
            sample = chosen[wid].sample
            if sample is None or len(sample) == 0 or index.samples.get(wid) == sample.n_seen:
                continue
            puts.append((sample_namespace(model, version, wid), ROWS, encode_sample(sample)))
            index.samples[wid] = sample.n_seen

    # ------------------------------------------------------------------ reading

    def indexes(self) -> dict[Stream, StreamIndex]:
        """Every stored stream's index. A corrupt one is logged and skipped, so the next write of that
        stream starts it afresh instead of failing for good (its old windows are orphaned)."""
        found = {}
        for key, raw in sorted(self.store.load_records(INDEX).items()):
            try:
                index = StreamIndex.decode(raw)
            except DataError as err:
                log.error("%s (stream %s): skipped", err, key)
                continue
            found[(index.model, index.version)] = index
        return found

    def result(self, model: str, version: str, wid: str, sample: bool = False) -> WindowResult | None:
        """One stored window (with its row sample if asked and stored), or None if it is not stored."""
        raw = self.store.load_records(window_namespace(model, version, wid)).get(WINDOW)
        if raw is None:
            return None
        result = decode_result(raw, f"stored window {wid} of model {model!r} version {version!r}")
        if sample:
            rows = self.store.load_records(sample_namespace(model, version, wid)).get(ROWS)
            if rows is not None:
                where = f"row sample of window {wid} of model {model!r} version {version!r}"
                result = replace(result, sample=decode_sample(rows, where))
        return result

    def results(
        self, index: StreamIndex, wids: Iterable[str], with_samples: Iterable[str] = ()
    ) -> list[WindowResult]:
        """The stored windows `wids` of a stream, oldest first, those in `with_samples` with their row
        sample (where one is stored); a corrupt record is logged and left out (one bad record must not
        hide the others), a failing store raises DriftlineError."""
        wids = sorted(wids, key=int)
        sampled = set(with_samples) & set(index.samples)
        found = []
        for wid in wids:
            try:
                result = self.result(index.model, index.version, wid, sample=wid in sampled)
            except DataError as err:
                log.error("%s: left out", err)
                continue
            if result is not None:
                found.append(result)
        return found
