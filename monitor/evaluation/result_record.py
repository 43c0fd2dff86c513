"""A WindowResult as stored bytes, and back: what makes evaluated windows outlive the process.

A record is JSON with these sections:

    format        1
    window        window_document(result): the JSON form the API serves, as it is
    nonfinite     {"/drift/features/3/value": "nan", "/performance/metrics/r2": "-inf", ...}: the
                  floats the JSON form nulls (JSON has no NaN or infinity), by their JSON pointer
                  (RFC 6901) in `window`, so the rebuilt result exports to Prometheus exactly as
                  the original
    label_delay   the window's label-delay histogram (LabelDelayHistogram.to_state), or null

Readers ignore sections they do not know, so later writers can add some (concept-drift
episodes will be an `episodes` section) without a new format number.

The row sample, kept for Evidently reports, is a record of its own (`encode_sample`): a few
hundred kilobytes where the window is a few, and stored only for the newest windows.

Pure: bytes in, bytes out; where the records live is monitor.state.result_archive.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from datetime import datetime
from typing import Any

import orjson

from monitor.core.comparison import ComparisonResult, PredictionDrift, UnpairedComparison, Verdict
from monitor.core.estimation import EstimateVsRealised, MetricEstimate
from monitor.core.multivariate import MultivariateDriftResult
from monitor.core.performance import LabelDelayHistogram
from monitor.core.reservoir import RowReservoir
from monitor.core.segment_performance import SegmentPerformanceTest
from monitor.core.segment_quality import SegmentQualityTest
from monitor.core.segments import SegmentFeatureTest
from monitor.errors import DataError
from monitor.evaluation.multivariate import MultivariateReport
from monitor.evaluation.result_json import window_document
from monitor.evaluation.results import (
    DriftReport,
    EstimatedPerformance,
    FeatureDrift,
    FeatureQuality,
    PerformanceReport,
    SegmentDriftReport,
    VersionComparison,
    WindowResult,
)

FORMAT = 1
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def encode_result(result: WindowResult) -> bytes:
    """The record of one evaluated window (without its row sample)."""
    document = window_document(result)
    delay = result.label_delay
    record = {
        "format": FORMAT,
        "window": document,
        "nonfinite": dict(_nonfinite(result, document, "")),
        "label_delay": delay.to_state() if isinstance(delay, LabelDelayHistogram) else None,
    }
    return orjson.dumps(record)


def decode_result(raw: bytes, where: str = "record") -> WindowResult:
    """The WindowResult a record holds (`sample` None); DataError naming `where` if unreadable."""
    try:
        record = orjson.loads(raw)
        if record.get("format") != FORMAT:
            raise DataError(
                f"{where} has format {record.get('format')!r}; this driftline reads format {FORMAT} "
                "(a newer driftline wrote it?)"
            )
        document = record["window"]
        for path, kind in record.get("nonfinite", {}).items():
            _patch(document, path, _NONFINITE[kind])
        delay = record.get("label_delay")
        return _window(document, None if delay is None else LabelDelayHistogram.from_state(delay))
    except DataError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as err:
        raise DataError(f"{where} is corrupt: {type(err).__name__}: {err}") from None


def encode_sample(sample: RowReservoir) -> bytes:
    """A row sample as a record: its JSON state, deflated (category strings repeat a lot)."""
    return zlib.compress(orjson.dumps(sample.to_state(), option=orjson.OPT_SERIALIZE_NUMPY), 1)


def decode_sample(raw: bytes, where: str = "sample record") -> RowReservoir:
    try:
        return RowReservoir.from_state(orjson.loads(zlib.decompress(raw)))
    except (zlib.error, ValueError, KeyError, TypeError, IndexError, AttributeError) as err:
        raise DataError(f"{where} is corrupt: {type(err).__name__}: {err}") from None


# ---------------------------------------------------------------- the non-finite floats


def _nonfinite(value: Any, document: Any, path: str) -> list[tuple[str, str]]:
    """(path, "nan"|"inf"|"-inf") of every float of `value` that `document` (its JSON form) holds
    as null. The JSON form names its fields as the dataclasses do, so one walk fits every section."""
    if isinstance(value, float) and not math.isfinite(value):
        return [(path, "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))]
    found: list[tuple[str, str]] = []
    if is_dataclass(value) and isinstance(document, dict):
        for field in fields(value):
            if field.name in document:
                found += _nonfinite(
                    getattr(value, field.name), document[field.name], _pointer(path, field.name)
                )
    elif isinstance(value, Mapping) and isinstance(document, dict):
        for key, item in value.items():
            if str(key) in document:
                found += _nonfinite(item, document[str(key)], _pointer(path, str(key)))
    elif isinstance(value, tuple | list) and isinstance(document, list):
        for i, (item, doc) in enumerate(zip(value, document, strict=False)):
            found += _nonfinite(item, doc, _pointer(path, str(i)))
    return found


def _pointer(path: str, name: str) -> str:
    """`path` extended by one step, as a JSON pointer: any key (a statistic named "a/b.c") works."""
    return f"{path}/{name.replace('~', '~0').replace('/', '~1')}"


def _patch(document: Any, pointer: str, value: float) -> None:
    steps = [step.replace("~1", "/").replace("~0", "~") for step in pointer.split("/")[1:]]
    for step in steps[:-1]:
        document = document[int(step)] if isinstance(document, list) else document[step]
    if isinstance(document, list):
        document[int(steps[-1])] = value
    else:
        document[steps[-1]] = value


# ---------------------------------------------------------------- the JSON form, back to results


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _when(text: str | None) -> datetime | None:
    return None if text is None else _at(text)


def _float(value: Any) -> float:
    return float(value)


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


def _numbers(values: Mapping[str, Any]) -> dict[str, float | None]:
    return {str(k): _optional(v) for k, v in values.items()}


def _feature(doc: Mapping[str, Any]) -> FeatureDrift:
    return FeatureDrift(
        column=doc["column"],
        kind=doc["kind"],
        method=doc["method"],
        value=_float(doc["value"]),
        threshold=_float(doc["threshold"]),
        drift_detected=bool(doc["drift_detected"]),
        p_value=_optional(doc["p_value"]),
        n_reference=int(doc["n_reference"]),
        n_current=int(doc["n_current"]),
        exact=bool(doc["exact"]),
        statistics={str(k): _float(v) for k, v in doc["statistics"].items()},
    )


def _quality(doc: Mapping[str, Any]) -> FeatureQuality:
    return FeatureQuality(
        column=doc["column"],
        n_rows=int(doc["n_rows"]),
        missing_ratio=_float(doc["missing_ratio"]),
        out_of_range_ratio=_optional(doc["out_of_range_ratio"]),
        unseen_ratio=_optional(doc["unseen_ratio"]),
    )


def _window(doc: Mapping[str, Any], delay: LabelDelayHistogram | None) -> WindowResult:
    start, end = _at(doc["window_start"]), _at(doc["window_end"])
    drift, performance = doc["drift"], doc["performance"]
    return WindowResult(
        model=doc["model"],
        model_version=doc["model_version"],
        window_start=start,
        window_end=end,
        final=bool(doc["final"]),
        drift=DriftReport(
            model=doc["model"],
            model_version=doc["model_version"],
            baseline_id=drift["baseline_id"],
            n_rows=int(drift["n_rows"]),
            features=tuple(_feature(f) for f in drift["features"]),
            quality=tuple(_quality(q) for q in drift["quality"]),
            n_drifted=int(drift["n_drifted"]),
            drift_share=_float(drift["drift_share"]),
            drift_share_threshold=_float(drift["drift_share_threshold"]),
            dataset_drift=bool(drift["dataset_drift"]),
            prediction=None if drift["prediction"] is None else _feature(drift["prediction"]),
            target=None if drift["target"] is None else _feature(drift["target"]),
            window_start=start,
            window_end=end,
        ),
        performance=PerformanceReport(
            n_pairs=int(performance["n_pairs"]),
            metrics=_numbers(performance["metrics"]),
            reference=_numbers(performance["reference"]),
            degraded=bool(performance["degraded"]),
        ),
        concept_drift=bool(doc["concept_drift"]),
        concept_drift_at=_when(doc["concept_drift_at"]),
        expired_predictions=int(doc["expired_predictions"]),
        label_delay=delay,
        evaluated_at=_at(doc["evaluated_at"]),
        estimated=_estimated(doc.get("estimated")),  # absent from records written before estimates
        multivariate=_multivariate(doc.get("multivariate")),  # absent from records written before it
        segments=_segments(doc.get("segments")),  # likewise before segments
        comparison=_comparison(doc.get("comparison")),  # and before version comparison
    )


def _verdict(value: Any) -> Verdict:
    if value not in ("promote", "hold", "rollback"):
        raise ValueError(f"unknown verdict {value!r}")
    return value


def _unpaired(doc: Mapping[str, Any]) -> UnpairedComparison:
    return UnpairedComparison(
        str(doc["metric"]),
        int(doc["n_a"]),
        int(doc["n_b"]),
        _optional(doc["metric_a"]),
        _optional(doc["metric_b"]),
        _optional(doc["difference"]),
        _optional(doc["difference_lower"]),
        _optional(doc["difference_upper"]),
        _verdict(doc["verdict"]),
        str(doc["reason"]),
    )


def _drift(drift: Mapping[str, Any] | None) -> PredictionDrift | None:
    if drift is None:
        return None
    return PredictionDrift(
        str(drift["statistic"]),
        _float(drift["distance"]),
        _float(drift["p_value"]),
        bool(drift["drift_detected"]),
    )


def _paired(doc: Mapping[str, Any] | None) -> ComparisonResult | None:
    if doc is None:
        return None
    return ComparisonResult(
        int(doc["n_shared"]),
        _optional(doc["agreement"]),
        _optional(doc["agreement_lower"]),
        _optional(doc["agreement_upper"]),
        _drift(doc["prediction_drift"]),
        str(doc["metric"]),
        int(doc["n_joined"]),
        _optional(doc["metric_a"]),
        _optional(doc["metric_b"]),
        _optional(doc["difference"]),
        _optional(doc["difference_lower"]),
        _optional(doc["difference_upper"]),
        _optional(doc["mcnemar_p_value"]),
        _optional(doc["mcnemar_mid_p_value"]),
        _verdict(doc["verdict"]),
        str(doc["reason"]),
    )


def _comparison(doc: Mapping[str, Any] | None) -> VersionComparison | None:
    if doc is None:
        return None
    return VersionComparison(
        baseline_version=str(doc["baseline_version"]),
        candidate_version=str(doc["candidate_version"]),
        mode=str(doc["mode"]),
        since=_at(doc["since"]),
        verdict=_verdict(doc["verdict"]),
        verdict_since=_at(doc["verdict_since"]),
        verdict_window_start=_when(doc["verdict_window_start"]),
        cumulative=_unpaired(doc["cumulative"]),
        window=_unpaired(doc["window"]),
        prediction_drift=_drift(doc["prediction_drift"]),
        paired=_paired(doc.get("paired")),  # absent from records before shadow mode
        paired_window=_paired(doc.get("paired_window")),
    )


def _multivariate(doc: Mapping[str, Any] | None) -> MultivariateReport | None:
    if doc is None:
        return None
    return MultivariateReport(_detector(doc["pca"]), _detector(doc["domain_classifier"]))


def _detector(doc: Mapping[str, Any] | None) -> MultivariateDriftResult | None:
    if doc is None:
        return None
    return MultivariateDriftResult(
        method=doc["method"],
        value=_float(doc["value"]),
        lower=_optional(doc["lower"]),
        upper=_float(doc["upper"]),
        drift_detected=bool(doc["drift_detected"]),
        n_window=int(doc["n_window"]),
        n_reference=int(doc["n_reference"]),
        p_value=_optional(doc["p_value"]),
    )


def _segments(doc: Mapping[str, Any] | None) -> SegmentDriftReport | None:
    if doc is None:
        return None
    return SegmentDriftReport(
        method=str(doc["method"]),
        alpha=_float(doc["alpha"]),
        n_tests=int(doc["n_tests"]),
        segments=tuple(str(s) for s in doc["segments"]),
        drifted=tuple(
            SegmentFeatureTest(
                str(t["segment"]),
                str(t["feature"]),
                _optional(t["statistic"]),
                _optional(t["p_value"]),
                _optional(t["adjusted_p_value"]),
                True,
                int(t["n_reference"]),
                int(t["n_window"]),
            )
            for t in doc["drifted"]
        ),
        # Records from before quality per segment have neither key.
        quality_tests=int(doc.get("quality_tests", 0)),
        quality=tuple(
            SegmentQualityTest(
                str(t["segment"]),
                str(t["feature"]),
                str(t["measure"]),
                _float(t["ratio"]),
                _float(t["reference_ratio"]),
                int(t["n_window"]),
                int(t["n_reference"]),
                _optional(t["p_value"]),
                _optional(t["adjusted_p_value"]),
                True,
            )
            for t in doc.get("quality", ())
        ),
        # Records from before performance per segment have neither key.
        performance_tests=int(doc.get("performance_tests", 0)),
        performance=tuple(
            SegmentPerformanceTest(
                str(t["segment"]),
                int(t["n_pairs"]),
                str(t["metric"]),
                _optional(t["value"]),
                _optional(t["reference"]),
                _optional(t["p_value"]),
                _optional(t["adjusted_p_value"]),
                bool(t["degraded"]),
            )
            for t in doc.get("performance", ())
        ),
    )


def _estimated(doc: Mapping[str, Any] | None) -> EstimatedPerformance | None:
    if doc is None:
        return None
    return EstimatedPerformance(
        method=str(doc["method"]),
        n_rows=int(doc["n_rows"]),
        metrics={
            str(k): MetricEstimate(
                str(m["metric"]),
                _float(m["value"]),
                _float(m["lower"]),
                _float(m["upper"]),
                _float(m["std"]),
                int(m["n"]),
            )
            for k, m in doc["metrics"].items()
        },
        degraded=bool(doc["degraded"]),
        versus_realised={
            str(k): EstimateVsRealised(
                str(c["metric"]),
                _float(c["estimate"]),
                _float(c["realised"]),
                _float(c["error"]),
                bool(c["within_band"]),
                int(c["n_estimated"]),
                int(c["n_realised"]),
            )
            for k, c in doc["versus_realised"].items()
        },
    )
