"""The FastAPI app: health and readiness, Prometheus metrics, the JSON API, reports and the
status page, all reading one running Service.

    GET  /                                   status page (HTML + vanilla JS over the JSON API)
    GET  /healthz                            the process answers
    GET  /readyz                             every readiness check passes (503 naming the failing ones)
    GET  /metrics                            Prometheus exposition (DriftlineCollector)
    GET  /api/v1/models                      models, versions, baselines, last window, state
    GET  /api/v1/models/{m}/windows          evaluated windows (window_document shape)
    GET  /api/v1/models/{m}/windows/{id}     one window
    GET  /api/v1/models/{m}/windows/{id}/report   Evidently HTML report
    GET  /api/v1/models/{m}/episodes         concept-drift episodes and the detector's state
    GET  /api/v1/alerts                      active and recent alerts
    POST /api/v1/models/{m}/baselines        upload reference data or a baseline (API key)
    POST /api/v1/events                      ingest messages over HTTP (API key)
    GET  /openapi.json, /docs, /redoc        the API described (docs assets: monitor/api/docs.py)

/healthz, /readyz and /metrics never need the key (probes and Prometheus scrape them).

`ApiServer` runs the app on uvicorn on a background thread (for `driftline run` and the
demo). The socket is bound in its constructor, so a taken port fails there with OSError
(the demo falls back to a free port) and port 0 picks a free one, readable from `.port`.
"""

from __future__ import annotations

import socket
import threading
import time
from importlib import resources
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from monitor.api import ingest, models, reports
from monitor.api.docs import install_docs
from monitor.api.protocol import install_error_handlers
from monitor.api.settings import ApiConfig
from monitor.service import Service
from monitor.sinks.prometheus import registry_for

START_TIMEOUT_S = 30.0

DESCRIPTION = (
    "driftline's results, alerts, baselines and event ingest. Write endpoints need the API key "
    "(`Authorization: Bearer KEY` or `X-API-Key: KEY`); errors are JSON: "
    '`{"error": {"status", "message", "field"}}`.'
)


def status_page() -> str:
    return resources.files("monitor.api").joinpath("static/status.html").read_text(encoding="utf-8")


def create_app(
    service: Service, settings: ApiConfig | None = None, registry: CollectorRegistry | None = None
) -> FastAPI:
    """The app over `service`; `registry` defaults to a fresh one holding the driftline collector."""
    settings = settings or service.config.api
    if registry is None:
        registry = registry_for(service.results, service.view, service.collectors)
    app = FastAPI(title="driftline", version="1", description=DESCRIPTION, docs_url=None, redoc_url=None)
    install_docs(app)  # /docs and /redoc with packaged assets (FastAPI's load them from a CDN)
    app.state.service = service
    app.state.settings = settings
    app.state.registry = registry
    app.state.reports = reports.ReportCache(settings.report_cache)
    install_error_handlers(app)
    app.include_router(models.router)
    app.include_router(reports.router)
    app.include_router(ingest.router)
    page = status_page().replace("__REFRESH_SECONDS__", str(settings.refresh_seconds))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/healthz", tags=["health"], summary="The process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Sources connected, state store reachable, baselines loaded",
        responses={503: {"description": "not ready; `checks` names the failing checks"}},
    )
    def readyz() -> JSONResponse:
        checks = service.readiness()
        ready = all(checks.values())
        body: dict[str, Any] = {"ready": ready, "checks": checks}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", response_class=Response)
    def metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(registry), media_type=content_type)

    return app


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class ApiServer:
    """The status page, the HTTP API, /metrics, /healthz and /readyz on one port (`api.host` and
    `api.port` of the config unless given). `url` is the root, `metrics_url` the scrape target;
    `close()` stops it."""

    def __init__(
        self,
        service: Service,
        host: str | None = None,
        port: int | None = None,
        settings: ApiConfig | None = None,
    ) -> None:
        settings = settings or service.config.api
        host = settings.host if host is None else host
        port = settings.port if port is None else port
        self.registry = registry_for(service.results, service.view, service.collectors)
        self.service = service
        self.app = create_app(service, settings, self.registry)
        self._socket = bind(host, port)
        self.host = host
        self.port = int(self._socket.getsockname()[1])
        # No log config of its own: its records go to the process's handlers; no access log (scrapes).
        config = uvicorn.Config(
            self.app, log_config=None, log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="api-http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._socket.close()
                raise OSError(f"the HTTP API did not start on {host}:{self.port}")
            time.sleep(0.01)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"{self.url}/metrics"

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()
