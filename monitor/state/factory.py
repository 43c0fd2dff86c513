"""Open the StateStore a `state.url` names: SQLite (embedded) or PostgreSQL (shared).

Kept apart from the protocol (monitor.state.store), which the backends import: the factory
imports the backends, so neither imports the other back.
"""

from __future__ import annotations

from pathlib import Path

from monitor.errors import ConfigError
from monitor.state.store import StateStore, redact_url


def open_state_store(url: str, base: Path | None = None) -> StateStore:
    """'sqlite:///relative/or/absolute.db' (relative to `base`, the config's folder) or
    'postgresql://user@host:port/db' (also 'postgres://'). Raises monitor.errors.ConfigError naming the URL
    on an unknown scheme or an unreachable server."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "sqlite":
        from monitor.state.sqlite import SqliteStateStore

        return SqliteStateStore(sqlite_path(url, base), display_url=url)
    if scheme in ("postgresql", "postgres"):
        from monitor.state.postgres import PostgresStateStore

        return PostgresStateStore(url)
    raise ConfigError(
        f"state.url {redact_url(url)!r}: unsupported scheme {scheme or '(none)'!r}; "
        "use sqlite:///path/to/state.db or postgresql://user@host:port/dbname"
    )


def sqlite_path(url: str, base: Path | None) -> Path:
    """The database file named by a sqlite:/// URL; relative paths are taken from `base`."""
    prefix = "sqlite:///"
    if not url.lower().startswith(prefix):
        # sqlite://name.db would read as a host called name.db: refuse rather than guess.
        raise ConfigError(
            f"state.url {url!r}: a SQLite URL has three slashes before a relative path "
            "(sqlite:///state.db) and four before an absolute one (sqlite:////var/lib/state.db)"
        )
    raw = url[len(prefix) :].split("?", 1)[0]
    if not raw or raw.endswith("/"):
        raise ConfigError(f"state.url {url!r}: names no database file")
    path = Path(raw)
    if path.is_absolute():
        return path
    return (base if base is not None else Path.cwd()) / path
