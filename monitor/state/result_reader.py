"""Stored windows for the offline commands (`driftline windows`, `show`, `report`): the state store
a config names, opened without a running service, and streams and windows found by the names a
user types. Every error says what is stored instead, so the next command can be the right one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from monitor.config import DriftlineConfig
from monitor.errors import DriftlineError
from monitor.evaluation.results import WindowResult
from monitor.state.factory import embedded_path, open_state_store
from monitor.state.result_archive import ResultArchive, Retention, StreamIndex
from monitor.state.store import redact_url

LATEST = "latest"


@contextmanager
def open_results(config: DriftlineConfig) -> Iterator[ResultReader]:
    """The stored results of the config's state store; DriftlineError if there is no store yet (a
    SQLite file or RocksDB folder is never created here: a typo in the path must not look like an
    empty store). A RocksDB store is opened read-only, so this works beside a running service."""
    url = config.state.url
    if url.lower().startswith(("sqlite:", "rocksdb:")):
        path = embedded_path(url, None)
        if not path.exists():
            raise DriftlineError(
                f"no state database at {path} yet (state.url {url!r}): evaluated windows are stored "
                "there by `driftline run` with this config"
            )
    store = open_state_store(url, read_only=True)
    try:
        retention = Retention(config.evaluation.stored_windows, config.api.report_windows)
        yield ResultReader(ResultArchive(store, retention), redact_url(url))
    finally:
        store.close()


@dataclass
class ResultReader:
    archive: ResultArchive
    where: str  # the store's URL, without a password

    def streams(self, model: str | None = None, version: str | None = None) -> list[StreamIndex]:
        """The stored streams, of `model` (and `version`) if given, sorted; errors list what is stored."""
        indexes = self.archive.indexes()
        if not indexes:
            raise DriftlineError(f"the state store {self.where} holds no evaluated windows yet")
        if model is None:
            if version is not None:
                raise DriftlineError("--version needs --model")
            return [indexes[k] for k in sorted(indexes)]
        versions = sorted(v for m, v in indexes if m == model)
        if not versions:
            raise DriftlineError(
                f"no evaluated windows of model {model!r} in {self.where}; "
                f"it holds: {self.described(indexes)}"
            )
        if version is None:
            return [indexes[(model, v)] for v in versions]
        if version not in versions:
            raise DriftlineError(
                f"model {model!r} has no evaluated windows of version {version!r} "
                f"(stored versions: {', '.join(versions)})"
            )
        return [indexes[(model, version)]]

    def stream(self, model: str, version: str | None) -> StreamIndex:
        """The one stream a command about a single window means."""
        found = self.streams(model, version)
        if len(found) > 1:
            versions = ", ".join(i.version for i in found)
            raise DriftlineError(f"model {model!r} has windows of versions {versions}: pass --version")
        return found[0]

    def window(self, index: StreamIndex, wid: str, sample: bool = False) -> WindowResult:
        """Window `wid` ('latest': the newest) of a stream."""
        ordered = index.ordered()
        chosen = ordered[-1] if wid == LATEST and ordered else wid
        result = (
            self.archive.result(index.model, index.version, chosen, sample) if chosen in ordered else None
        )
        if result is None:
            shown = ", ".join(ordered[-5:])
            more = f" (the newest 5 of {len(ordered)})" if len(ordered) > 5 else ""
            raise DriftlineError(
                f"model {index.model!r} version {index.version!r} has no stored window {wid!r}; "
                f"window ids are window starts in epoch seconds: {shown}{more}, or 'latest'"
            )
        return result

    def newest(self, index: StreamIndex, limit: int) -> list[WindowResult]:
        """The newest `limit` stored windows of a stream, oldest first."""
        return self.archive.results(index, index.ordered()[-limit:])

    @staticmethod
    def described(indexes: dict[tuple[str, str], StreamIndex]) -> str:
        models: dict[str, list[str]] = {}
        for model, version in sorted(indexes):
            models.setdefault(model, []).append(version)
        return "; ".join(
            f"{m} (version{'s' if len(v) > 1 else ''} {', '.join(v)})" for m, v in models.items()
        )
