"""The API's HTTP conventions: one JSON error shape, API keys, request body limits.

Errors. Every non-2xx answer is

    {"error": {"status": 422, "message": "...", "field": "query.version"}}

where `field` names the part of the request at fault (`body.predictions`, `query.version`,
`header.content-type`, `path.model`) or is null. Client mistakes are 4xx: FastAPI's
validation errors become 422 naming the field, our `ApiError`s carry their status, and a
`DriftlineError` raised while handling a request (unusable reference data, an unknown
model) is the client's input being unusable, so 422 too. Anything else is a bug: 500,
logged with its traceback, with no details for the client.

Keys. `Authorization: Bearer KEY` or `X-API-Key: KEY`. Write endpoints always need the key
and are refused (403) while none is configured, so a service started without one never
accepts writes from anyone; read endpoints need it when `api.protect_reads` is set. Keys
are compared with hmac.compare_digest (constant time) and never logged or echoed.

Bodies. `api.max_body_bytes` is enforced from Content-Length before reading (nothing read
for an honest oversize request) and again while streaming (a chunked or lying client is
cut off at the limit), so an oversize upload never sits whole in memory.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from monitor.api.settings import ApiConfig
from monitor.errors import DriftlineError

log = logging.getLogger("driftline.api")
_bearer = HTTPBearer(auto_error=False, description="the API key as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key")


class ApiError(Exception):
    """A request the API refuses, with the status to answer and the field at fault."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def error_response(
    status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"status": status, "message": message, "field": field}}, status_code=status, headers=headers
    )


def field_path(location: Sequence[Any]) -> str:
    """('body', 'predictions', 3, 'timestamp') -> 'body.predictions[3].timestamp'."""
    out = ""
    for part in location:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = field_path(first.get("loc", ()))
    message = f"{field or 'request'}: {first.get('msg', 'invalid')}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem(s))"
    return error_response(422, message, field or None)


def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return error_response(exc.status, exc.message, exc.field, headers)


def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = str(exc.detail) if exc.detail else "error"
    if exc.status_code == 404 and message == "Not Found":
        message = "no such endpoint; see /docs for the API"
    return error_response(exc.status_code, message, None, dict(exc.headers or {}))


def _driftline(_: Request, exc: Exception) -> JSONResponse:
    return error_response(422, str(exc), None)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal error (logged by the server)", None)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(DriftlineError, _driftline)
    app.add_exception_handler(Exception, _unexpected)


# ---------------------------------------------------------------- keys


def presented_key(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> str | None:
    if header:
        return header
    return bearer.credentials if bearer is not None else None


def key_matches(presented: str | None, expected: str) -> bool:
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def check_key(settings: ApiConfig, presented: str | None, write: bool) -> None:
    expected = settings.key()
    if expected is None:
        if write:
            raise ApiError(
                403,
                f"write endpoints are disabled: no API key is configured (set {settings.api_key_env} "
                "or api.api_key)",
                "header.authorization",
            )
        return
    if not write and not settings.protect_reads:
        return
    if presented is None:
        raise ApiError(401, "an API key is required: send Authorization: Bearer KEY", "header.authorization")
    if not key_matches(presented, expected):
        raise ApiError(401, "the API key is not valid", "header.authorization")


def _settings(request: Request) -> ApiConfig:
    settings: ApiConfig = request.app.state.settings
    return settings


def require_write(request: Request, presented: Annotated[str | None, Depends(presented_key)]) -> None:
    check_key(_settings(request), presented, write=True)


def require_read(request: Request, presented: Annotated[str | None, Depends(presented_key)]) -> None:
    check_key(_settings(request), presented, write=False)


# ---------------------------------------------------------------- bodies


def _limit(request: Request) -> int:
    limit: int = request.app.state.settings.max_body_bytes
    return limit


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"request body over {limit} bytes (api.max_body_bytes)", "body")


async def read_body(request: Request) -> bytes:
    limit = _limit(request)
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "Content-Length is not a number", "header.content-length")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        raise ApiError(400, "the request body is empty", "body")
    return body


async def read_json(request: Request) -> Any:
    body = await read_body(request)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise ApiError(400, f"the body is not valid JSON: {err}", "body") from None
