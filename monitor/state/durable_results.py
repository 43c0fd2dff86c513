"""The service's side of the result archive: store every evaluated window as it is evaluated, load
the stored ones at start, and pick up those another instance evaluated.

`DurableResults` is a ResultSink: the service calls `write` on its evaluation thread after each
pass (never on the ingestion thread), with its own connection to the state store. A write that
fails (the store is away) is kept and retried with the next pass, or at `close`, so a window that
is final, and so gone from the checkpoints, is not lost with it.

Several instances (PostgreSQL): only the instance holding the evaluation lock evaluates and
writes; the others call `refresh` on their evaluation tick (consumers.runner), which reads the
small indexes and loads only the windows whose stored evaluation differs from the one in memory.
So another instance's API lags the evaluator by at most one evaluation interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Sequence

from monitor.clock import Clock
from monitor.errors import DriftlineError
from monitor.evaluation.result_json import window_id
from monitor.evaluation.result_store import ResultStore
from monitor.evaluation.results import WindowResult
from monitor.state.result_archive import ResultArchive, StreamIndex

log = logging.getLogger("driftline.results")
MAX_PENDING = 10_000  # results kept for a retry while the store is away; past it the oldest go
WindowKey = tuple[str, str, str]  # model, version, window id


def _key(result: WindowResult) -> WindowKey:
    return result.model, result.model_version, window_id(result)


class DurableResults:
    def __init__(
        self, archive: ResultArchive, results: ResultStore, clock: Clock, models: Collection[str]
    ) -> None:
        """`results`: the service's in-memory store, filled from the archive; `models`: the
        configured ones (windows of models no longer configured stay stored but are not loaded)."""
        self.archive = archive
        self.results = results
        self.clock = clock
        self.models = set(models)
        self._pending: dict[WindowKey, WindowResult] = {}
        # evaluated_at (ISO) of each window as stored when this process last wrote or read it.
        self._known: dict[WindowKey, str] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ ResultSink

    def write(self, results: Sequence[WindowResult]) -> None:
        with self._lock:
            for result in results:
                self._pending.pop(_key(result), None)  # re-inserted last: the dict stays oldest first
                self._pending[_key(result)] = result
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        batch = list(self._pending.values())
        try:
            self.archive.write(batch, self.clock())
        except DriftlineError as err:
            excess = len(self._pending) - MAX_PENDING
            for key in list(self._pending)[: max(0, excess)]:
                del self._pending[key]
            log.error(
                "storing %d evaluated windows failed (%s); kept in memory and retried after the next "
                "evaluation%s",
                len(batch),
                err,
                f"; {excess} oldest dropped" if excess > 0 else "",
            )
            return
        for result in batch:
            self._known[_key(result)] = result.evaluated_at.isoformat()
        self._pending.clear()

    def close(self) -> None:
        try:
            with self._lock:
                self._flush()
        finally:
            self.archive.store.close()

    @property
    def pending(self) -> int:
        """Evaluated windows not stored yet (a write failed)."""
        with self._lock:
            return len(self._pending)

    # ------------------------------------------------------------------ reading back

    def load(self) -> int:
        """Put the stored windows into the in-memory store (the newest `history` per stream, the
        newest `samples_kept` with their row sample); returns how many. Call once, at start."""
        return self._load(only_changed=False)

    def refresh(self) -> int:
        """Load the windows stored since the last write or read (by another instance); returns how many."""
        return self._load(only_changed=True)

    def _load(self, only_changed: bool) -> int:
        loaded = 0
        for (model, _), index in sorted(self.archive.indexes().items()):
            if model not in self.models:
                continue
            wids = index.ordered()[-self.results.history :]
            with self._lock:
                changed = [w for w in wids if self._changed(index, w)] if only_changed else wids
            if changed:
                loaded += self._add(index, changed)
        return loaded

    def _changed(self, index: StreamIndex, wid: str) -> bool:
        key = (index.model, index.version, wid)
        return key not in self._pending and self._known.get(key) != index.windows[wid].evaluated_at

    def _add(self, index: StreamIndex, wids: list[str]) -> int:
        kept = self.results.samples_kept
        found = self.archive.results(index, wids, with_samples=index.ordered()[-kept:] if kept else ())
        with self._lock:
            for result in found:
                key = _key(result)
                if key in self._pending:  # evaluated here meanwhile: newer than what was stored
                    continue
                self.results.add(result)
                self._known[key] = result.evaluated_at.isoformat()
        return len(found)
