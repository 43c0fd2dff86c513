"""Where the client's messages go: the service's HTTP ingest endpoint, or its Kafka topics.

HTTP: batches of JSON lines POSTed to /api/v1/events. A 5xx (the service starting, stopping or
failing), a 429 and a connection error are retried with exponential backoff and jitter; any other
4xx is the caller's mistake and raises at once with the server's message. Re-sending a batch whose
answer was lost is safe: the service drops a prediction id it has already seen, and an outcome
joins once. The answer lists the messages the service rejected (invalid values, unknown model or
version), by their index in the batch.

Kafka: kafka-python's producer (imported only here, and only when used), keyed by prediction id so
a prediction and its outcome meet in the same partition; it retries on its own, and a batch is
flushed and checked before the call returns. Rejects go to the service's dead-letter topic.
"""

from __future__ import annotations

import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

USER_AGENT = "driftline-client/1"


class ClientError(Exception):
    """The service refused a request (4xx, with its message), could not be reached after every
    retry, or rejected messages when the client was asked to raise on rejects."""

    def __init__(self, message: str, status: int | None = None, rejected: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.rejected = list(rejected)


@dataclass(frozen=True)
class Rejection:
    """One message the service refused: its index in the batch sent, the reason code, a detail."""

    index: int
    reason: str
    detail: str


class Transport(Protocol):
    def send(self, topic: str, keys: list[str], messages: list[bytes]) -> list[Rejection]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Retry:
    """Exponential backoff with full jitter: attempt n waits a random time up to min(cap, base * 2**n)."""

    attempts: int = 6
    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap, self.base * 2**attempt))


@dataclass
class HttpTransport:
    url: str
    api_key: str | None
    timeout: float = 10.0
    retry: Retry = field(default_factory=Retry)
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + "/api/v1/events"

    def send(self, topic: str, keys: list[str], messages: list[bytes]) -> list[Rejection]:
        """POST one batch (predictions and outcomes alike: the service sorts a batch by content)."""
        body = b"\n".join(messages)
        headers = {"Content-Type": "application/x-ndjson", "User-Agent": USER_AGENT}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.retry.attempts):
            if attempt:
                self.sleep(self.retry.delay(attempt - 1, self.rng))
            request = urllib.request.Request(self.endpoint, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return _rejections(orjson.loads(response.read()))
            except urllib.error.HTTPError as err:
                reply = err.read()[:1_000_000]
                if err.code == 422 and (answer := _json(reply)) and "rejects" in answer:
                    # Every message of the batch was rejected (and dead-lettered by the service):
                    # the answer lists them as a 200 does, and re-sending them would not help.
                    return _rejections(answer)
                message = _server_message(err, reply)
                if err.code < 500 and err.code != 429:
                    raise ClientError(f"{self.endpoint}: HTTP {err.code}: {message}", err.code) from None
                last = f"HTTP {err.code}: {message}"
            except (urllib.error.URLError, OSError) as err:  # refused, reset, timed out
                last = f"{type(err).__name__}: {getattr(err, 'reason', err)}"
        raise ClientError(f"{self.endpoint}: gave up after {self.retry.attempts} attempts; last: {last}")

    def close(self) -> None:
        """Nothing held between requests."""


def _rejections(answer: dict[str, Any]) -> list[Rejection]:
    return [
        Rejection(int(r["index"]), str(r["reason"]), str(r.get("detail", "")))
        for r in answer.get("rejects", [])
        if r.get("index") is not None
    ]


def _json(body: bytes) -> dict[str, Any] | None:
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return answer if isinstance(answer, dict) else None


def _server_message(err: urllib.error.HTTPError, body: bytes) -> str:
    try:
        return str(orjson.loads(body)["error"]["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return body[:2000].decode("utf-8", "replace").strip() or str(err.reason)


class KafkaTransport:
    def __init__(
        self,
        bootstrap_servers: str | list[str],
        topics: dict[str, str],
        options: dict[str, Any] | None = None,
        timeout: float = 30.0,
    ) -> None:
        try:
            from kafka import KafkaProducer
        except ImportError:  # pragma: no cover - kafka-python is a dependency of the distribution
            raise ClientError("Client(kafka=...) needs kafka-python: pip install kafka-python") from None
        settings = {"acks": "all", "retries": 10, "linger_ms": 20, **(options or {})}
        self.producer = KafkaProducer(bootstrap_servers=bootstrap_servers, **settings)
        self.topics = topics
        self.timeout = timeout

    def send(self, topic: str, keys: list[str], messages: list[bytes]) -> list[Rejection]:
        name = self.topics[topic]
        futures = [
            self.producer.send(name, key=key.encode(), value=message)
            for key, message in zip(keys, messages, strict=True)
        ]
        self.producer.flush(timeout=self.timeout)
        for future in futures:
            try:
                future.get(timeout=self.timeout)
            except Exception as err:  # kafka-python raises KafkaError subclasses and timeouts
                raise ClientError(f"kafka topic {name}: a message was not delivered: {err!r}") from err
        return []

    def close(self) -> None:
        self.producer.close(timeout=self.timeout)
