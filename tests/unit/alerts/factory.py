"""Hand-made WindowResults for alert tests: only the fields the rules read are meaningful."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.core.estimation import MetricEstimate
from monitor.evaluation.results import (
    DriftReport,
    EstimatedPerformance,
    FeatureDrift,
    FeatureQuality,
    PerformanceReport,
    WindowResult,
)

T0 = datetime(2026, 1, 5, tzinfo=UTC)
HOUR = timedelta(hours=1)
FEATURES = ("age", "spend", "region")


def window(
    index: int,
    drifted: tuple[str, ...] = (),
    accuracy: float | None = 0.9,
    pairs: int = 500,
    missing: float = 0.0,
    concept: bool = False,
    model: str = "churn",
    version: str = "1",
    estimated: tuple[float, float, float] | None = None,
) -> WindowResult:
    """`estimated`: the accuracy estimated without outcomes, with its band (value, lower, upper)."""
    start = T0 + index * HOUR
    features = tuple(
        FeatureDrift(
            column=name,
            kind="numeric",
            method="wasserstein",
            value=0.3 if name in drifted else 0.02,
            threshold=0.1,
            drift_detected=name in drifted,
            p_value=None,
            n_reference=5000,
            n_current=2000,
            exact=False,
            statistics={
                "wasserstein": 0.3 if name in drifted else 0.02,
                "psi": 0.4 if name in drifted else 0.01,
            },
        )
        for name in FEATURES
    )
    quality = tuple(FeatureQuality(name, 2000, missing, 0.0, None) for name in FEATURES)
    drift = DriftReport(
        model=model,
        model_version=version,
        baseline_id="b-123",
        n_rows=2000,
        features=features,
        quality=quality,
        n_drifted=len(drifted),
        drift_share=len(drifted) / len(FEATURES),
        drift_share_threshold=0.5,
        dataset_drift=len(drifted) / len(FEATURES) >= 0.5,
        prediction=None,
        target=None,
        window_start=start,
        window_end=start + HOUR,
    )
    performance = PerformanceReport(
        n_pairs=pairs,
        metrics={"accuracy": accuracy},
        reference={"accuracy": 0.9},
        degraded=accuracy is not None and accuracy < 0.85,
    )
    return WindowResult(
        model=model,
        model_version=version,
        window_start=start,
        window_end=start + HOUR,
        final=False,
        drift=drift,
        performance=performance,
        concept_drift=concept,
        concept_drift_at=None,
        expired_predictions=0,
        label_delay=None,
        evaluated_at=start + 2 * HOUR,
        estimated=None
        if estimated is None
        else EstimatedPerformance(
            method="cbpe",
            n_rows=2000,
            metrics={"accuracy": MetricEstimate("accuracy", *estimated, std=0.01, n=2000)},
            degraded=estimated[1] < 0.85,
        ),
    )
