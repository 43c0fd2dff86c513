"""The per-segment reference profiles a baseline carries (monitor.core.segments), fitted at build
time on the reference rows' segment column, when the model's config has `segments`; and the
reference performance per segment (monitor.core.segment_performance)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import pandas as pd

from monitor.baselines.reference_performance import HELD_OUT, IN_SAMPLE_INFLATED, inflate
from monitor.config import ModelConfig
from monitor.core.performance.classification import ClassificationPerformance
from monitor.core.performance.regression import RegressionPerformance
from monitor.core.segment_performance import Performance, SegmentReference, per_segment, summary
from monitor.core.segments import SegmentMap, SegmentProfiles
from monitor.errors import DataError


def fit_segment_profiles(
    frame: pd.DataFrame, features: Mapping[str, Any], model: ModelConfig
) -> dict[str, Any] | None:
    """The state of `model`'s segment profiles over `features` (the reference's checked feature
    columns), or None when the model has no segments configured."""
    segments = model.segments
    if segments is None:
        return None
    if segments.column not in frame.columns:
        raise DataError(
            f"model {model.name!r}: segments.column {segments.column!r} is not a column of the reference "
            f"data (it has {list(frame.columns)[:20]}); add it, or set `segments: null`"
        )
    # The core's own 20 bins and 50 categories, not the baseline's (100 and 1,000 by default): a
    # segment's window holds a few hundred rows, and each window keeps (max_segments + 1) x
    # features sketches, checkpointed with it, so finer bins cost state without adding power.
    profiles = SegmentProfiles.fit(
        features,
        {f.name: f.kind for f in model.features},
        frame[segments.column].to_numpy(dtype=object),
        max_segments=segments.max_segments,
    )
    return profiles.to_state()


def fit_segment_performance(
    segment_map: SegmentMap, segments: Any, y_true: Any, y_pred: Any, model: ModelConfig, *, in_sample: bool
) -> dict[str, Any]:
    """The reference performance per segment of `segment_map` (accuracy for classifiers, MAE for
    regressors, with each segment's rows), on the rows the global reference performance comes from.
    In-sample values (the training rows') are inflated by the same margin as the global ones
    (monitor.baselines.reference_performance); segments without rows are left out."""
    make: Callable[[], Performance]
    if model.task == "classification":
        metric, make = (
            "accuracy",
            partial(ClassificationPerformance, model.performance.positive_label, n_bins=1),
        )
    else:
        metric, make = "mae", RegressionPerformance
    found = {}
    for label, performance in per_segment(
        segment_map.codes(segments), segment_map.labels, make, y_true, y_pred
    ).items():
        reference = summary(performance)
        if reference is None:
            continue
        if in_sample:
            inflated = inflate({metric: reference.value})[metric]
            reference = SegmentReference(reference.n, reference.value if inflated is None else inflated)
        found[label] = reference.to_state()
    return {"metric": metric, "origin": IN_SAMPLE_INFLATED if in_sample else HELD_OUT, "segments": found}


def segment_references(state: Mapping[str, Any]) -> dict[str, SegmentReference]:
    return {label: SegmentReference.from_state(s) for label, s in state["segments"].items()}
