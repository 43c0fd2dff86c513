"""The per-segment reference profiles a baseline carries (monitor.core.segments), fitted at build
time on the reference rows' segment column, when the model's config has `segments`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from monitor.config import BaselineStoreConfig, ModelConfig
from monitor.core.segments import SegmentProfiles
from monitor.errors import DataError


def fit_segment_profiles(
    frame: pd.DataFrame, features: Mapping[str, Any], model: ModelConfig, settings: BaselineStoreConfig
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
    profiles = SegmentProfiles.fit(
        features,
        {f.name: f.kind for f in model.features},
        frame[segments.column].to_numpy(dtype=object),
        max_segments=segments.max_segments,
        bins=settings.bins,
        max_categories=settings.max_categories,
    )
    return profiles.to_state()
