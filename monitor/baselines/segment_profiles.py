"""The per-segment reference profiles a baseline carries (monitor.core.segments), fitted at build
time on the reference rows' segment column, when the model's config has `segments`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from monitor.config import ModelConfig
from monitor.core.segments import SegmentProfiles
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
