"""The `api:` section of the config: API keys and request limits.

Kept apart from monitor/config.py (which refers to it) so the config tree loads without
FastAPI. The key may come from the config or, better, from the environment variable named
by `api_key_env` (DRIFTLINE_API_KEY by default), so it need not be written to a file.
"""

from __future__ import annotations

import os

from pydantic import Field, SecretStr

from monitor.config_types import Strict


class ApiConfig(Strict):
    enabled: bool = Field(default=True, description="serve the HTTP server at all")
    host: str = "127.0.0.1"
    port: int = Field(default=9108, ge=0, le=65535, description="0 picks a free port")
    api_key: SecretStr | None = Field(
        default=None, description="key for write endpoints; prefer the environment variable"
    )
    api_key_env: str = Field(default="DRIFTLINE_API_KEY", min_length=1)
    protect_reads: bool = Field(default=False, description="require the key on read endpoints too")
    max_body_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="larger request bodies get 413 (baseline uploads)"
    )
    max_events: int = Field(default=50_000, ge=1, description="messages per POST /api/v1/events")
    report_cache: int = Field(default=8, ge=0, le=1000, description="rendered reports kept in memory")
    report_windows: int = Field(
        default=24, ge=0, description="newest windows per model version whose row sample is kept for reports"
    )
    refresh_seconds: float = Field(default=5.0, gt=0, description="status page refresh interval")

    def key(self) -> str | None:
        """The configured key: the environment variable wins over the config file."""
        from_env = os.environ.get(self.api_key_env)
        if from_env:
            return from_env
        return self.api_key.get_secret_value() if self.api_key is not None else None
