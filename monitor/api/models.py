"""Read endpoints: models with their versions, baselines and state; windows; alerts.

A stream's state is what the status page colours it: red when its latest window shows
dataset drift, degraded performance or concept drift, a concept-drift episode is open, or a
critical alert is active;
amber when some feature or the prediction drifted, the performance estimated without outcomes is
below the reference, some feature drifted within a segment, or another alert is active; green
otherwise; unknown before its first evaluated window.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request

from monitor.api.protocol import ApiError, require_read
from monitor.config import ModelConfig
from monitor.evaluation.result_json import comparison_document, episode_document, window_document, window_id
from monitor.evaluation.results import WindowResult
from monitor.service import Service

router = APIRouter(prefix="/api/v1", tags=["results"], dependencies=[Depends(require_read)])
STATES = ("unknown", "green", "amber", "red")
ModelName = Annotated[str, Path(description="model name, as in the config", max_length=200)]
Version = Annotated[
    str | None, Query(description="model version (needed when the model has several)", max_length=200)
]


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def stream_state(
    latest: WindowResult | None, alerts: list[dict[str, Any]], episode_open: bool = False
) -> tuple[str, list[str]]:
    """The state of one (model, version) and why, from its latest window, its active alerts and
    whether a concept-drift episode is open."""
    red, amber = [], []
    if episode_open:
        red.append("concept drift episode open")
    if latest is not None:
        drift = latest.drift
        if drift.dataset_drift:
            red.append(f"dataset drift: {drift.n_drifted} of {len(drift.features)} features drifted")
        elif drift.drifted_features:
            amber.append("drifted: " + ", ".join(drift.drifted_features))
        if drift.prediction is not None and drift.prediction.drift_detected:
            amber.append("prediction drift")
        if latest.multivariate is not None and latest.multivariate.drift_detected:
            amber.append("multivariate drift")
        if latest.performance.degraded:
            red.append("performance below reference")
        if latest.estimated is not None and latest.estimated.degraded:
            amber.append("estimated performance below reference (from predictions alone)")
        if latest.segments is not None and latest.segments.drifted:
            segments = sorted({t.segment for t in latest.segments.drifted})
            amber.append("drifted within segment(s): " + ", ".join(segments))
        if latest.segments is not None and latest.segments.quality:
            segments = sorted({t.segment for t in latest.segments.quality})
            amber.append("data quality worse within segment(s): " + ", ".join(segments))
        if latest.segments is not None and latest.segments.degraded_performance:
            segments = sorted({t.segment for t in latest.segments.degraded_performance})
            amber.append("performance below reference within segment(s): " + ", ".join(segments))
        if latest.concept_drift and not episode_open:
            red.append("concept drift")
        comparison = latest.comparison
        if comparison is not None and comparison.verdict == "rollback":
            red.append(f"rollback: worse than version {comparison.baseline_version}")
    for alert in alerts:
        name = str(alert.get("rule") or alert.get("name") or "alert")
        (red if str(alert.get("severity", "")).lower() == "critical" else amber).append(f"alert {name}")
    if red:
        return "red", red + amber
    if amber:
        return "amber", amber
    return ("green" if latest is not None else "unknown"), []


def _active_alerts(service: Service) -> list[dict[str, Any]]:
    try:
        return list(service.alert_snapshot().get("active", []))
    except Exception:  # a broken alert engine must not take the results API down with it
        return []


def _matches(alert: dict[str, Any], model: str, version: str) -> bool:
    found = alert.get("labels")
    labels: dict[str, Any] = found if isinstance(found, dict) else {}
    found_model = alert.get("model", labels.get("model"))
    found_version = alert.get("model_version", labels.get("model_version"))
    return found_model == model and found_version in (None, version)


def versions_of(service: Service, model: str) -> list[str]:
    with service.lock:
        known = {v for (m, v) in service.baselines if m == model}
    known |= {v for (m, v) in service.results.streams() if m == model}
    return sorted(known)


def configured_model(service: Service, model: str) -> ModelConfig:
    for cfg in service.config.models:
        if cfg.name == model:
            return cfg
    known = ", ".join(m.name for m in service.config.models)
    raise ApiError(404, f"unknown model {model!r}; the service monitors: {known}", "path.model")


def resolve(service: Service, model: str, version: str | None) -> str:
    """The version a request means; 404 for an unknown model or version."""
    configured_model(service, model)
    versions = versions_of(service, model)
    if version is not None:
        if version not in versions:
            raise ApiError(
                404,
                f"model {model!r} has no version {version!r} (versions: {', '.join(versions) or 'none'})",
                "query.version",
            )
        return version
    if len(versions) == 1:
        return versions[0]
    if not versions:
        raise ApiError(404, f"model {model!r} has no baseline yet", "path.model")
    raise ApiError(
        422, f"model {model!r} has versions {', '.join(versions)}: pass ?version=", "query.version"
    )


def _window_summary(result: WindowResult) -> dict[str, Any]:
    doc = window_document(result)
    return {
        key: doc[key]
        for key in ("window_id", "window_start", "window_end", "final", "evaluated_at", "concept_drift")
    } | {
        "dataset_drift": doc["drift"]["dataset_drift"],
        "drifted_features": doc["drift"]["drifted_features"],
        "performance_degraded": doc["performance"]["degraded"],
        "estimated_degraded": None if doc["estimated"] is None else doc["estimated"]["degraded"],
        "multivariate_drift": None if doc["multivariate"] is None else doc["multivariate"]["drift_detected"],
        "comparison_verdict": None if doc["comparison"] is None else doc["comparison"]["verdict"],
    }


@router.get("/models", summary="Models, their versions, baselines, last window and state")
def list_models(request: Request) -> dict[str, Any]:
    service = service_of(request)
    alerts = _active_alerts(service)
    models = []
    for cfg in service.config.models:
        versions = []
        for version in versions_of(service, cfg.name):
            with service.lock:
                baseline = service.baselines.get((cfg.name, version))
            latest = service.results.latest(cfg.name, version)
            concept = concept_summary(service, cfg.name, version)
            matching = [a for a in alerts if _matches(a, cfg.name, version)]
            state, reasons = stream_state(latest, matching, concept["open"])
            failing = service.evaluation_errors.failing(cfg.name, version)
            if failing and state in ("unknown", "green"):
                state = "amber"
            if failing:
                reasons.append(f"{len(failing)} window(s) could not be evaluated")
            versions.append(
                {
                    "version": version,
                    "baseline": None
                    if baseline is None
                    else {
                        "id": baseline.id,
                        "created_at": baseline.created_at.isoformat(),
                        "source": baseline.source,
                        "n_rows": baseline.n_rows,
                    },
                    "windows": len(service.results.windows(cfg.name, version)),
                    "open_windows": service.open_windows(cfg.name, version),
                    "last_window": None if latest is None else _window_summary(latest),
                    "concept_drift": concept,
                    # this version as a candidate against the model's baseline version, if configured
                    "comparison": None
                    if latest is None or latest.comparison is None
                    else comparison_document(latest.comparison),
                    "state": state,
                    "reasons": reasons,
                    "evaluation_errors": [e.document() for e in failing],
                }
            )
        worst = max((v["state"] for v in versions), key=STATES.index, default="unknown")
        models.append(
            {
                "name": cfg.name,
                "task": cfg.task,
                "features": [{"name": f.name, "kind": f.kind} for f in cfg.features],
                "state": worst,
                "versions": versions,
                # candidate versions against the baseline version, as of the last evaluation pass
                "comparisons": service.evaluator.comparison.status(cfg.name),
            }
        )
    return {"models": models}


@router.get("/models/{model}/windows", summary="Evaluated windows of a model version, oldest first")
def list_windows(
    request: Request,
    model: ModelName,
    version: Version = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="newest windows to return")] = 48,
) -> dict[str, Any]:
    service = service_of(request)
    version = resolve(service, model, version)
    results = service.results.windows(model, version)[-limit:]
    return {
        "model": model,
        "model_version": version,
        "windows": [window_document(r) for r in results],
        # windows whose latest evaluation failed (each is evaluated again when it changes)
        "evaluation_errors": [e.document() for e in service.evaluation_errors.failing(model, version)],
    }


def concept_summary(service: Service, model: str, version: str) -> dict[str, Any]:
    episodes = service.evaluator.concept.episodes(model, version)
    latest = episodes[-1] if episodes else None
    return {
        "open": bool(latest is not None and latest.open),
        "episodes_total": 0 if latest is None else latest.number,
        "latest_episode": None if latest is None else episode_document(model, version, latest),
    }


@router.get(
    "/models/{model}/episodes",
    summary="Concept-drift episodes of a model version, oldest first, and its detector",
)
def list_episodes(request: Request, model: ModelName, version: Version = None) -> dict[str, Any]:
    """Each episode runs from the error-stream detector's first alarm to its last, in the outcomes'
    event time; a window's `concept_drift` is true when its range overlaps one. `detector` is the
    detector's design (reference, threshold) and state, null before its first evaluation pass."""
    service = service_of(request)
    version = resolve(service, model, version)
    concept = service.evaluator.concept
    return {
        "model": model,
        "model_version": version,
        "detector": concept.status(model, version),
        "episodes": [episode_document(model, version, e) for e in concept.episodes(model, version)],
    }


def find_window(service: Service, model: str, version: str, wid: str) -> WindowResult:
    for result in service.results.windows(model, version):
        if window_id(result) == wid:
            return result
    raise ApiError(
        404,
        f"model {model!r} version {version!r} has no evaluated window {wid!r} "
        "(window ids are window starts in epoch seconds; list them at .../windows)",
        "path.window_id",
    )


@router.get("/models/{model}/windows/{window_id}", summary="One window: drift, quality, performance")
def get_window(
    request: Request,
    model: ModelName,
    window_id: Annotated[str, Path(description="the window's start, epoch seconds", max_length=40)],
    version: Version = None,
) -> dict[str, Any]:
    service = service_of(request)
    version = resolve(service, model, version)
    result = find_window(service, model, version, window_id)
    doc = window_document(result)
    doc["report_url"] = f"/api/v1/models/{model}/windows/{window_id}/report?{urlencode({'version': version})}"
    return doc


@router.get("/alerts", summary="Active and recent alerts (and pending ones, when the engine reports them)")
def alerts(request: Request) -> dict[str, Any]:
    snapshot = service_of(request).alert_snapshot()
    return {"active": [], "recent": []} | {kind: list(documents) for kind, documents in snapshot.items()}
