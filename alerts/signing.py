"""HMAC-SHA256 signatures of webhook bodies, and the check a receiver runs.

The signature covers the timestamp and the body (`f"{timestamp}.".encode() + body`), so a
captured request cannot be replayed later with a fresh timestamp, and a receiver rejects
timestamps further than `tolerance` from its clock. Headers:

    X-Driftline-Timestamp: 1795000000              (Unix seconds)
    X-Driftline-Signature: sha256=<hex digest>
    Idempotency-Key: <id>                          (the same on every retry of one delivery)

A receiver (any Python 3, no driftline needed beyond this function):

    from alerts.signing import verify_signature
    ok = verify_signature(secret, request.headers["X-Driftline-Timestamp"], raw_body,
                          request.headers["X-Driftline-Signature"], now=time.time())
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Driftline-Timestamp"
SIGNATURE_HEADER = "X-Driftline-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE_S = 300.0


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(secret: bytes | None, timestamp: int, body: bytes, idempotency_key: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: idempotency_key}
    if secret is not None:
        headers[TIMESTAMP_HEADER] = str(timestamp)
        headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    return headers


def verify_signature(
    secret: bytes | str,
    timestamp: str | int | None,
    body: bytes,
    signature_header: str | None,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE_S,
) -> bool:
    """True when `signature_header` signs `timestamp` + `body` with `secret` and the timestamp is
    within `tolerance` seconds of `now` (Unix seconds). Constant-time comparison."""
    if timestamp is None or signature_header is None:
        return False
    try:
        moment = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now - moment) > tolerance:
        return False
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.compare_digest(signature(key, moment, body), signature_header.strip())
