"""/docs and /redoc render offline: every script, style and icon they load is served by the app."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest


class _Links(HTMLParser):
    """Every URL a page loads or links to: src= and href= of any tag, and url: '...' in scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]

    def handle_data(self, data: str) -> None:
        self.scripts.append(data)


@pytest.mark.parametrize(
    ("page", "asset"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")]
)
def test_docs_pages_load_nothing_from_outside(client: Any, page: str, asset: str) -> None:
    answer = client.get(page)
    assert answer.status_code == 200
    parser = _Links()
    parser.feed(answer.text)
    scripts = "\n".join(parser.scripts)
    assert not [u for u in parser.urls if not u.startswith("/")], parser.urls
    assert not re.search(r"https?://", scripts + " ".join(parser.urls)), "an external URL on the page"
    assert any(u.endswith(asset) for u in parser.urls)
    assert "/openapi.json" in answer.text
    for url in parser.urls:  # every asset the page names is there, with the right type
        served = client.get(url)
        assert served.status_code == 200, url
        assert len(served.content) > 1000, url
    if page == "/docs":
        assert '"validatorUrl": null' in answer.text  # no spec sent to an online validator


def test_the_assets_are_the_real_bundles(client: Any) -> None:
    js = client.get("/docs/assets/swagger-ui-bundle.js")
    assert "javascript" in js.headers["content-type"] and "SwaggerUIBundle" in js.text
    css = client.get("/docs/assets/swagger-ui.css")
    assert css.headers["content-type"].startswith("text/css") and ".swagger-ui" in css.text
    assert client.get("/docs/assets/nothing.js").status_code == 404
