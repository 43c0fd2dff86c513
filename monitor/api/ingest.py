"""Write endpoints: upload a baseline, post events. Both need the API key.

Baselines: reference data as CSV or Parquet goes through the same reader and builder as
`driftline baseline build`; a built artifact (the JSON `baseline build` stores) is checked
against its content hash and the model's configured features. Either is saved to the
BaselineStore and, unless `activate=false`, swapped into the running service at once
(Service.swap_baseline).

Events: a JSON batch of prediction and outcome messages (or JSON lines, exactly as a file
source reads them) becomes a RawBatch for Service.handle, so validation, counting and
dead-lettering are those of every other source. The answer is 200 with the rejects listed
when some messages were accepted, and 422 (same body, plus the error) when none was: a
message the service cannot process is the client's to fix, never a 500 (Service.handle
dead-letters what fails to ingest as internal_error). Accepted events join partition 0, and the
answer comes after a checkpoint has made them durable (`Service.persist`, set by the embedded
runner of `driftline run`): a crash after a 200 loses none of them. A client that re-sends
after an error does not count a prediction twice: the join drops ids it has seen within the
outcome TTL.

A service reading Kafka refuses them (409): produce to its topics instead, where the
partitioning by prediction_id that the join relies on is kept. While `driftline run` is still
loading its checkpointed state at start-up (the restore would overwrite them), or is stopping
(no checkpoint would follow), they are refused with 503.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from monitor.api.models import configured_model, service_of
from monitor.api.protocol import ApiError, read_body, read_json, require_write
from monitor.baselines.baseline import Baseline, build_baseline
from monitor.baselines.reference_data import read_reference, reference_columns
from monitor.baselines.reference_performance import IN_SAMPLE_INFLATED, IN_SAMPLE_WARNING
from monitor.baselines.store import BaselineStore
from monitor.config import ModelConfig
from monitor.errors import DriftlineError
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service

router = APIRouter(prefix="/api/v1", tags=["writes"], dependencies=[Depends(require_write)])
DATA_TYPES = {
    "text/csv": ".csv",
    "application/csv": ".csv",
    "application/vnd.apache.parquet": ".parquet",
    "application/x-parquet": ".parquet",
}
ARTIFACT_TYPE = "application/json"
MAX_REJECTS_LISTED = 100
_BASELINE_BODY = {
    "required": True,
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
        ARTIFACT_TYPE: {"schema": {"type": "object", "description": "a baseline artifact"}},
    },
}
_message = {"type": "object", "additionalProperties": True}
_EVENTS_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "predictions": {"type": "array", "items": _message},
                    "outcomes": {"type": "array", "items": _message},
                    "messages": {
                        "type": "array",
                        "items": _message,
                        "description": "mixed, split by content",
                    },
                },
            }
        },
        "application/x-ndjson": {"schema": {"type": "string", "description": "one message per line"}},
    },
}


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _check_artifact(state: Any, cfg: ModelConfig, version: str | None) -> Baseline:
    if not isinstance(state, dict):
        raise ApiError(422, "a baseline artifact must be a JSON object", "body")
    try:
        baseline = Baseline.from_state(state)
    except (KeyError, TypeError, ValueError) as err:
        raise ApiError(422, f"not a baseline artifact: missing or bad field {err}", "body") from None
    if baseline.id != state.get("id"):
        raise ApiError(422, "the artifact does not match its content hash (edited or corrupt)", "body.id")
    if baseline.model != cfg.name:
        raise ApiError(422, f"the artifact is for model {baseline.model!r}, not {cfg.name!r}", "body.model")
    if version is not None and version != baseline.model_version:
        raise ApiError(
            422, f"the artifact is for version {baseline.model_version!r}, not {version!r}", "query.version"
        )
    expected = {f.name: f.kind for f in cfg.features}
    for name, kind in expected.items():
        if baseline.feature_kinds.get(name) != kind:
            found = baseline.feature_kinds.get(name, "absent")
            raise ApiError(
                422, f"feature {name!r}: configured {kind}, the artifact has {found}", "body.feature_kinds"
            )
    return baseline


def _build(
    service: Service, cfg: ModelConfig, data: bytes, suffix: str, version: str, require_target: bool
) -> Baseline:
    columns = reference_columns(cfg)
    with tempfile.TemporaryDirectory(prefix="driftline-upload-") as folder:
        path = FilePath(folder) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            frame = read_reference(path, columns)
            return build_baseline(
                frame,
                cfg,
                service.config.baselines,
                version,
                f"upload{suffix}",
                datetime.now(UTC),
                require_target=require_target,
            )
        except DriftlineError as err:
            raise ApiError(422, str(err).replace(str(path), "the uploaded data"), "body") from None
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as err:
            # Data the readers accept but cannot summarise (odd dtypes, ragged rows): the upload's fault.
            raise ApiError(422, f"cannot build a baseline from the uploaded data: {err}", "body") from None


def _store(service: Service, baseline: Baseline, activate: bool) -> dict[str, Any]:
    BaselineStore(service.config.baselines.path).save(baseline, activate=activate)
    if service.publish_baseline is not None:  # before the swap: no window here is built on an unpublished one
        service.publish_baseline(baseline, activate)
    replaced = service.swap_baseline(baseline) if activate else None
    origin = baseline.reference_origin or {}
    warnings = []
    if origin.get("method") == IN_SAMPLE_INFLATED:
        warnings.append(IN_SAMPLE_WARNING.format(margin=origin["margin"], floor=origin["floor"]))
    return {
        "model": baseline.model,
        "model_version": baseline.model_version,
        "baseline_id": baseline.id,
        "n_rows": baseline.n_rows,
        "active": activate,
        "replaced_baseline_id": None if replaced is None else replaced.id,
        "reference_performance_origin": origin.get("method"),
        "warnings": warnings,
    }


@router.post(
    "/models/{model}/baselines",
    status_code=201,
    summary="Upload reference data (CSV, Parquet) or a built baseline artifact (JSON)",
    openapi_extra={"requestBody": _BASELINE_BODY},
)
async def upload_baseline(
    request: Request,
    model: Annotated[str, Path(max_length=200)],
    version: Annotated[
        str | None,
        Query(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="model version (default: the artifact's, or 1)"),
    ] = None,
    activate: Annotated[bool, Query(description="make it the version's active baseline now")] = True,
    no_target: Annotated[
        bool,
        Query(description="reference data without the target column the config names, on purpose"),
    ] = False,
) -> JSONResponse:
    service = service_of(request)
    cfg = configured_model(service, model)
    if version is not None and set(version) == {"."}:
        raise ApiError(422, "version must not be '.' or '..'", "query.version")
    kind = media_type(request)
    if kind == ARTIFACT_TYPE:
        baseline = _check_artifact(await read_json(request), cfg, version)
    elif kind in DATA_TYPES:
        data = await read_body(request)
        baseline = await run_in_threadpool(
            _build, service, cfg, data, DATA_TYPES[kind], version or "1", not no_target
        )
    else:
        raise ApiError(
            415,
            f"Content-Type {kind or '(none)'} is not accepted: send text/csv, "
            "application/vnd.apache.parquet or application/json (a baseline artifact)",
            "header.content-type",
        )
    return JSONResponse(await run_in_threadpool(_store, service, baseline, activate), status_code=201)


def _raw_batch(request_type: str, body: bytes, document: Any, limit: int) -> tuple[RawBatch, list[bytes]]:
    """The RawBatch of a request, and its messages in request order (for the rejects' indexes)."""
    raw = RawBatch()
    ordered: list[bytes] = []
    if request_type == "application/x-ndjson":
        ordered = [line.rstrip(b"\r") for line in body.split(b"\n") if line.strip()]
        _check_count(len(ordered), limit)
        raw.add(ordered, "mixed")
        return raw, ordered
    if not isinstance(document, dict):
        raise ApiError(422, "expected a JSON object with predictions, outcomes or messages", "body")
    unknown = sorted(set(document) - {"predictions", "outcomes", "messages"})
    if unknown:
        raise ApiError(422, f"unknown key {unknown[0]!r}: expected predictions, outcomes, messages", "body")
    for key in ("predictions", "outcomes", "messages"):
        items = document.get(key, [])
        if not isinstance(items, list):
            raise ApiError(422, f"{key} must be an array of messages", f"body.{key}")
        _check_count(len(ordered) + len(items), limit)
        lines = [orjson.dumps(item) for item in items]
        raw.add(lines, "mixed" if key == "messages" else key)  # type: ignore[arg-type]
        ordered += lines
    return raw, ordered


def _check_count(count: int, limit: int) -> None:
    if count > limit:
        raise ApiError(413, f"more than {limit} messages in one request (api.max_events)", "body")


@router.post(
    "/events",
    summary="Ingest prediction and outcome messages (for services without Kafka)",
    openapi_extra={"requestBody": _EVENTS_BODY},
)
async def post_events(request: Request) -> Any:
    service = service_of(request)
    if service.config.sources.kafka is not None:
        raise ApiError(
            409,
            f"this service reads Kafka: produce to topics {service.config.sources.kafka.predictions_topic!r} "
            f"and {service.config.sources.kafka.outcomes_topic!r} instead",
            None,
        )
    if not service.state_loaded.is_set():
        raise ApiError(503, "not taking events while loading its checkpointed state or stopping: retry", None)
    kind = media_type(request)
    if kind == "application/json":
        document, body = await read_json(request), b""
    elif kind == "application/x-ndjson":
        document, body = None, await read_body(request)
    else:
        raise ApiError(
            415,
            f"Content-Type {kind or '(none)'} is not accepted: send application/json or application/x-ndjson",
            "header.content-type",
        )
    raw, ordered = _raw_batch(kind, body, document, request.app.state.settings.max_events)
    rejected = await run_in_threadpool(service.handle, raw)
    if service.persist is not None:
        await run_in_threadpool(service.persist)
    slots: dict[bytes, list[int]] = {}
    for i, message in enumerate(ordered):
        slots.setdefault(message, []).append(i)
    listed = []
    for r in rejected[:MAX_REJECTS_LISTED]:
        free = slots.get(r.raw)
        listed.append(
            {
                "index": free.pop(0) if free else None,  # position in the request, from 0
                "topic": r.topic,
                "reason": r.reason,
                "detail": r.detail,
            }
        )
    reasons = dict(Counter(r.reason for r in rejected))
    summary = {
        "received": len(raw),
        "accepted": len(raw) - len(rejected),
        "rejected": len(rejected),
        "reasons": reasons,
        "rejects": listed,
    }
    if rejected and len(rejected) == len(raw):
        # Nothing taken: the client's messages are at fault (and dead-lettered), so it should not
        # retry them as they are. A batch with some accepted stays 200 with the rejects listed.
        counts = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
        text = f"none of the {len(raw)} messages was accepted ({counts}); see rejects"
        error = {"status": 422, "message": text, "field": "body"}
        return JSONResponse({"error": error} | summary, status_code=422)
    return summary
