"""A small webhook receiver on the standard library's http.server: what the demo and the tests
run to watch deliveries arrive, and a working example of checking driftline's signatures.

It records every POST (path, headers, parsed JSON, whether the signature verified) and answers
200, or 401 for a bad signature when a secret is set. Not meant as a production endpoint.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from alerts.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool | None  # None: no secret configured, nothing to check

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def key(self) -> str | None:
        return self.headers.get(IDEMPOTENCY_HEADER.lower())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # a stopped receiver can come back on the same port at once


class WebhookReceiver:
    def __init__(self, secret: bytes | None = None, port: int = 0, host: str = "127.0.0.1") -> None:
        self.secret = secret
        self.host = host
        self.port = port
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = None
                if receiver.secret is not None:
                    verified = verify_signature(
                        receiver.secret,
                        headers.get(TIMESTAMP_HEADER.lower()),
                        body,
                        headers.get(SIGNATURE_HEADER.lower()),
                        now=time.time(),
                    )
                with receiver._lock:
                    receiver.deliveries.append(Delivery(self.path, headers, body, verified))
                self.send_response(401 if verified is False else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the demo's console and test output stay readable."""

        self._server = _Server((self.host, self.port), Handler)
        self.port = int(self._server.server_port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook-receiver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def received(self, path: str | None = None) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if path is None or d.path == path]

    def counts(self, path: str | None = None) -> Counter[str]:
        """Deliveries per idempotency key: 1 everywhere means every notification arrived once."""
        return Counter(d.key or "" for d in self.received(path))

    def wait_for(self, done: Callable[[WebhookReceiver], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done(self):
                return True
            time.sleep(0.05)
        return done(self)
