"""Open the StateStore a `state.url` names: SQLite or RocksDB (embedded) or PostgreSQL (shared).

Kept apart from the protocol (monitor.state.store), which the backends import: the factory
imports the backends, so neither imports the other back.
"""

from __future__ import annotations

from pathlib import Path

from monitor.errors import ConfigError
from monitor.state.store import StateStore, redact_url


def open_state_store(url: str, base: Path | None = None, read_only: bool = False) -> StateStore:
    """'sqlite:///relative/or/absolute.db', 'rocksdb:///relative/or/absolute/folder' (relative to
    `base`, the config's folder) or 'postgresql://user@host:port/db' (also 'postgres://'). Raises
    monitor.errors.ConfigError naming the URL on an unknown scheme or an unreachable server.
    `read_only`: the caller only reads (RocksDB then opens a folder another process is writing)."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "sqlite":
        from monitor.state.sqlite import SqliteStateStore

        return SqliteStateStore(embedded_path(url, base), display_url=url)
    if scheme == "rocksdb":
        from monitor.state.rocks import RocksStateStore

        return RocksStateStore(embedded_path(url, base), display_url=url, read_only=read_only)
    if scheme in ("postgresql", "postgres"):
        from monitor.state.postgres import PostgresStateStore

        return PostgresStateStore(url)
    raise ConfigError(
        f"state.url {redact_url(url)!r}: unsupported scheme {scheme or '(none)'!r}; "
        "use sqlite:///path/to/state.db, rocksdb:///path/to/folder or postgresql://user@host:port/dbname"
    )


def embedded_path(url: str, base: Path | None) -> Path:
    """The file (SQLite) or folder (RocksDB) named by a sqlite:/// or rocksdb:/// URL; relative
    paths are taken from `base`."""
    scheme = url.partition("://")[0].lower()
    prefix = f"{scheme}:///"
    if not url.lower().startswith(prefix):
        # sqlite://name.db would read as a host called name.db: refuse rather than guess.
        raise ConfigError(
            f"state.url {url!r}: an embedded store's URL has three slashes before a relative path "
            f"({scheme}:///state.db) and four before an absolute one ({scheme}:////var/lib/state.db)"
        )
    raw = url[len(prefix) :].split("?", 1)[0]
    if scheme == "rocksdb":
        raw = raw.rstrip("/")  # a folder: rocksdb:///state/ is rocksdb:///state
    if not raw or raw.endswith("/"):
        raise ConfigError(
            f"state.url {url!r}: names no database {'folder' if scheme == 'rocksdb' else 'file'}"
        )
    path = Path(raw)
    if path.is_absolute():
        return path
    return (base if base is not None else Path.cwd()) / path
