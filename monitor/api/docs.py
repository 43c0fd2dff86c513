"""The API's documentation pages, `/docs` (Swagger UI) and `/redoc` (ReDoc), served with their
scripts and styles from this process, so they render where no CDN is reachable.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, and a Google font; behind a firewall
they stay blank. The assets come from the pinned `fastapi-offline` wheel (its `static/` folder:
Swagger UI 5, ReDoc 2 and a favicon; each bundle carries its licence header) and are served
under `/docs/assets/`. Swagger UI's online validator is switched off: it would send the spec out.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs/assets"
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def assets_folder() -> Path:
    return Path(str(resources.files("fastapi_offline").joinpath("static")))


def install_docs(app: FastAPI) -> None:
    """Add /docs, /redoc and their assets to an app created with docs_url=None, redoc_url=None."""
    openapi_url = app.openapi_url or "/openapi.json"
    title = app.title
    # Mounted before the pages so /docs/assets/... never reaches the /docs route.
    app.mount(ASSETS_URL, StaticFiles(directory=assets_folder()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} API",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
