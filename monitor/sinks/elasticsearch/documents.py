"""Window results as Elasticsearch documents: a summary per window and one document per column
per window, with deterministic ids and date-suffixed index names. Pure: no client here.

Built from `monitor.evaluation.result_json.window_document`, so a field means what it means in the HTTP API
and in alert evidence. Documents are flat where Kibana charts them (`drift_share`,
`feature` + `statistic`), so a line chart needs no scripted fields.

Ids are `model|version|window|kind[|column]` (window = start as epoch seconds): re-sending, a
re-evaluation after late outcomes and the final evaluation overwrite the same documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.evaluation.result_json import window_document
from monitor.evaluation.results import WindowResult

WINDOWS = "windows"
FEATURES = "features"
EVENTS = "events"
KINDS = (WINDOWS, FEATURES, EVENTS)


@dataclass(frozen=True)
class Action:
    """One document to index under a fixed id (a bulk `index` operation)."""

    index: str
    id: str
    source: Mapping[str, Any]

    def to_bulk(self) -> dict[str, Any]:
        return {"_op_type": "index", "_index": self.index, "_id": self.id, "_source": self.source}

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "source": self.source}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Action:
        return cls(str(data["index"]), str(data["id"]), data["source"])


def index_name(prefix: str, kind: str, moment: datetime) -> str:
    """`<prefix>-<kind>-YYYY.MM.DD`, the UTC day of `moment` (a window's start, an event's time)."""
    return f"{prefix}-{kind}-{moment.astimezone(UTC):%Y.%m.%d}"


def document_id(model: str, version: str, window: str, kind: str, column: str | None = None) -> str:
    parts = [model, version, window, kind] + ([column] if column is not None else [])
    return "|".join(parts)


def _common(doc: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("model", "model_version", "window_id", "window_start", "window_end", "final", "evaluated_at")
    return {k: doc[k] for k in keys}


def _column_drift(drift: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if drift is None:
        return None
    keys = ("method", "value", "threshold", "drift_detected", "p_value", "distance", "distance_method")
    return {k: drift[k] for k in keys}


def _quality_summary(quality: list[dict[str, Any]]) -> dict[str, Any]:
    def worst(key: str) -> float | None:
        values = [q[key] for q in quality if q[key] is not None]
        return max(values) if values else None

    return {
        "max_missing_ratio": worst("missing_ratio"),
        "max_out_of_range_ratio": worst("out_of_range_ratio"),
        "max_unseen_ratio": worst("unseen_ratio"),
        "columns_with_missing": sorted(q["column"] for q in quality if (q["missing_ratio"] or 0) > 0),
    }


def _estimated(estimated: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Performance estimated without outcomes, flat by metric as `performance` is (a Kibana line
    chart of `estimated.metrics.accuracy` beside `performance.metrics.accuracy` needs no script)."""
    if estimated is None:
        return None
    metrics, versus = estimated["metrics"], estimated["versus_realised"]
    return {
        "method": estimated["method"],
        "n_rows": estimated["n_rows"],
        "degraded": estimated["degraded"],
        "metrics": {name: m["value"] for name, m in metrics.items()},
        "lower": {name: m["lower"] for name, m in metrics.items()},
        "upper": {name: m["upper"] for name, m in metrics.items()},
        "error": {name: c["error"] for name, c in versus.items()},
    }


def _segments(segments: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Drift, data quality and performance per segment: the drifted pairs, the quality shares that
    rose and every segment's performance test as they are, and the segments with any (a Kibana
    terms chart of `segments.drifted_segments`, `segments.degraded_segments` or
    `segments.performance_degraded_segments` needs no script)."""
    if segments is None:
        return None
    drifted, quality = segments["drifted"], segments["quality"]
    return {
        "method": segments["method"],
        "alpha": segments["alpha"],
        "n_tests": segments["n_tests"],
        "n_drifted": len(drifted),
        "drifted_segments": sorted({d["segment"] for d in drifted}),
        "drifted": drifted,
        "quality_tests": segments["quality_tests"],
        "degraded_segments": sorted({q["segment"] for q in quality}),
        "quality": quality,
        # Records from before performance per segment have neither key.
        "performance_tests": segments.get("performance_tests", 0),
        "performance_degraded_segments": sorted(
            {p["segment"] for p in segments.get("performance", ()) if p["degraded"]}
        ),
        "performance": segments.get("performance", []),
    }


def summary_document(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The window as a whole: data drift, performance against the reference, concept drift, quality."""
    drift, performance, delay = doc["drift"], doc["performance"], doc["label_delay"]
    return {
        **_common(doc),
        "baseline_id": drift["baseline_id"],
        "n_rows": drift["n_rows"],
        "n_drifted": drift["n_drifted"],
        "n_features": len(drift["features"]),
        "drift_share": drift["drift_share"],
        "drift_share_threshold": drift["drift_share_threshold"],
        "dataset_drift": drift["dataset_drift"],
        "drifted_features": drift["drifted_features"],
        "prediction_drift": _column_drift(drift["prediction"]),
        "target_drift": _column_drift(drift["target"]),
        "performance": performance,
        "estimated": _estimated(doc["estimated"]),
        "segments": _segments(doc["segments"]),
        "comparison": doc["comparison"],  # a candidate version against the baseline version, or null
        "concept_drift": doc["concept_drift"],
        "concept_drift_at": doc["concept_drift_at"],
        "expired_predictions": doc["expired_predictions"],
        "label_delay_count": None if delay is None else delay["count"],
        "label_delay_sum_seconds": None if delay is None else delay["sum_seconds"],
        "quality": _quality_summary(drift["quality"]),
        "multivariate": doc["multivariate"],
    }


def column_document(
    doc: Mapping[str, Any], drift: Mapping[str, Any], role: str, quality: Mapping[str, Any] | None
) -> dict[str, Any]:
    """One column in one window: its drift statistic with the decision and its data quality.
    `statistic` is the deciding value (low means drift when it is a p-value); `distance` is what
    to rank or chart columns by (higher is more drift for every method)."""
    return {
        **_common(doc),
        "feature": drift["column"],
        "role": role,
        "column_kind": drift["kind"],
        "method": drift["method"],
        "statistic": drift["value"],
        "threshold": drift["threshold"],
        "drift_detected": drift["drift_detected"],
        "p_value": drift["p_value"],
        "distance": drift["distance"],
        "distance_method": drift["distance_method"],
        "n_reference": drift["n_reference"],
        "n_current": drift["n_current"],
        "exact": drift["exact"],
        "statistics": drift["statistics"],
        "n_rows": None if quality is None else quality["n_rows"],
        "missing_ratio": None if quality is None else quality["missing_ratio"],
        "out_of_range_ratio": None if quality is None else quality["out_of_range_ratio"],
        "unseen_ratio": None if quality is None else quality["unseen_ratio"],
    }


def window_actions(result: WindowResult, prefix: str) -> list[Action]:
    """The summary document and one document per feature (and the prediction and target, when
    the baseline has them: role says which) of one evaluated window."""
    doc = window_document(result)
    key = (result.model, result.model_version, doc["window_id"])
    actions = [
        Action(
            index_name(prefix, WINDOWS, result.window_start),
            document_id(*key, "window"),
            summary_document(doc),
        )
    ]
    quality = {q["column"]: q for q in doc["drift"]["quality"]}
    columns: list[tuple[str, Mapping[str, Any]]] = [("feature", f) for f in doc["drift"]["features"]]
    columns += [(role, doc["drift"][role]) for role in ("prediction", "target") if doc["drift"][role]]
    index = index_name(prefix, FEATURES, result.window_start)
    for role, drift in columns:
        body = column_document(doc, drift, role, quality.get(drift["column"]))
        actions.append(Action(index, document_id(*key, "feature", drift["column"]), body))
    return actions


def results_actions(results: Iterable[WindowResult], prefix: str) -> list[Action]:
    return [action for result in results for action in window_actions(result, prefix)]


def event_action(
    prefix: str, kind: str, doc_id: str, document: Mapping[str, Any], timestamp: datetime
) -> Action:
    """An event (an alert firing or resolving, a webhook delivery) in the daily events index of
    its time. `kind` and `@timestamp` are added so one data view can chart every kind of event."""
    if timestamp.tzinfo is None:
        raise ValueError(f"event {doc_id!r}: timestamp must be timezone-aware (UTC)")
    if not kind or not doc_id:
        raise ValueError("an event needs a kind and an id")
    when = timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z")
    source = {**document, "event_kind": kind, "@timestamp": when}
    return Action(index_name(prefix, EVENTS, timestamp), f"{kind}|{doc_id}", source)
