"""Configuration of the Elasticsearch exporter (`sinks.elasticsearch` in the YAML config)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from monitor.config_types import Strict


class ElasticsearchSinkConfig(Strict):
    """Where window results go in Elasticsearch, how long they are kept, and how much is buffered
    while the cluster is unreachable.

    Credentials are passed to the official client as they are; `password_env` / `api_key_env`
    name environment variables to read them from, so secrets can stay out of the file."""

    url: str = Field(min_length=1, description="e.g. http://elasticsearch:9200")
    index_prefix: str = Field(
        default="driftline",
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
        description="indices are <prefix>-windows-YYYY.MM.DD, <prefix>-features-..., <prefix>-events-...",
    )
    retention_days: int | None = Field(
        default=30, ge=1, description="daily indices older than this are deleted; null keeps them forever"
    )
    ilm: bool = Field(
        default=True,
        description="install an ILM delete policy for the retention (servers without ILM: the exporter "
        "deletes old daily indices itself)",
    )
    bulk_size: int = Field(default=500, ge=1, le=10_000, description="documents per bulk request")
    max_buffered_documents: int = Field(
        default=10_000, ge=1, description="documents held in memory; beyond this they spill to spill_dir"
    )
    max_spill_bytes: int = Field(
        default=1 << 30, ge=1024, description="disk bound of spill_dir; the oldest files go beyond it"
    )
    spill_dir: Path = Field(
        default=Path("elasticsearch-spill"), description="undelivered documents, resent after a restart"
    )
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    close_timeout_seconds: float = Field(
        default=10.0, ge=0, description="at shutdown, how long to try delivering before persisting to disk"
    )
    retry_initial_seconds: float = Field(default=0.5, gt=0, description="first retry delay (then doubling)")
    retry_max_seconds: float = Field(default=60.0, gt=0, description="cap of the retry delay")
    retention_check_seconds: float = Field(
        default=3600.0, gt=0, description="how often old indices are looked for"
    )
    username: str | None = None
    password: str | None = None
    password_env: str | None = Field(default=None, description="environment variable holding the password")
    api_key: str | None = None
    api_key_env: str | None = Field(default=None, description="environment variable holding the API key")
    ca_certs: Path | None = None
    verify_certs: bool = True

    def client_options(self) -> dict[str, object]:
        """Keyword arguments for `elasticsearch.Elasticsearch(url, **options)`."""
        options: dict[str, object] = {"request_timeout": self.request_timeout_seconds}
        password = self.password or _env(self.password_env)
        if self.username is not None and password is not None:
            options["basic_auth"] = (self.username, password)
        api_key = self.api_key or _env(self.api_key_env)
        if api_key is not None:
            options["api_key"] = api_key
        if self.ca_certs is not None:
            options["ca_certs"] = str(self.ca_certs)
        if self.url.startswith("https:"):
            options["verify_certs"] = self.verify_certs
        return options


def _env(name: str | None) -> str | None:
    """An empty variable counts as unset, so compose's `${VAR:-}` default means "no credential"."""
    if name is None:
        return None
    return os.environ.get(name) or None
