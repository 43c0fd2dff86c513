"""Baselines: a versioned, content-hashed summary of a model's reference (training) data.

A baseline holds, per feature, the sketch of the reference on its own quantile bins or
categories (see `monitor.core.sketch`), the same for prediction, score and target, a seeded
row sample for exact tests, and the reference performance. Windows are compared with it;
the raw training data is never read at run time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np
import orjson
import pandas as pd
from numpy.typing import NDArray

from monitor.baselines.estimator import fit_estimator
from monitor.baselines.multivariate import domain_classifier_of, fit_multivariate, pca_of
from monitor.baselines.reference_performance import held_out_origin, in_sample_origin, inflate
from monitor.baselines.segment_profiles import (
    fit_segment_performance,
    fit_segment_profiles,
    segment_references,
)
from monitor.config import BaselineStoreConfig, ModelConfig
from monitor.core.estimation.stored import Estimator, estimator_from_state
from monitor.core.labels import canonical_labels
from monitor.core.limits import MAX_ABS_VALUE, out_of_range
from monitor.core.multivariate import DomainClassifier, PCAReconstruction
from monitor.core.performance import compute_performance
from monitor.core.reservoir import RowReservoir
from monitor.core.segment_performance import SegmentReference
from monitor.core.segments import SegmentProfiles
from monitor.core.sketch import NumericSketch, Sketch, ValueCounts, quantile_edges
from monitor.core.stats.binning import DISCRETE_MAX_VALUES
from monitor.core.window_sketch import WindowSketch
from monitor.errors import DataError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Baseline:
    model: str
    model_version: str
    created_at: datetime
    source: str
    n_rows: int
    profile: WindowSketch
    feature_kinds: dict[str, str]
    reference_performance: dict[str, float | None] | None
    truncated_categories: tuple[str, ...] = ()
    # How reference_performance was obtained (monitor.baselines.reference_performance): held-out rows,
    # or the training data's inflated by a margin. None for baselines built before it was recorded.
    reference_origin: dict[str, Any] | None = None
    # The performance estimator's state (monitor.baselines.estimator), fitted on the rows the
    # reference performance comes from; None when there is none (or the baseline predates it).
    estimator: dict[str, Any] | None = None
    estimator_note: str = ""  # what was fitted, or why nothing was (not part of the content)
    # The fitted multivariate drift detectors (monitor.baselines.multivariate); None for baselines
    # built without them, which give no multivariate result.
    multivariate: dict[str, Any] | None = None
    # The per-segment reference profiles' state (monitor.baselines.segment_profiles); None when the
    # model has no segments configured (or the baseline predates them).
    segments: dict[str, Any] | None = None
    # The reference performance per segment (monitor.baselines.segment_profiles), on the rows the
    # reference performance comes from; None without segments or target (or in older baselines:
    # their windows' performance per segment is then not judged).
    segment_performance: dict[str, Any] | None = None

    @cached_property
    def id(self) -> str:
        """Content hash: identical reference data and settings give the identical id."""
        return content_id(self._content())

    def _content(self) -> dict[str, Any]:
        content = {
            "format": FORMAT_VERSION,
            "model": self.model,
            "model_version": self.model_version,
            "n_rows": self.n_rows,
            "feature_kinds": self.feature_kinds,
            "profile": self.profile.to_state(),
            "reference_performance": self.reference_performance,
            "truncated_categories": list(self.truncated_categories),
        }
        if self.reference_origin is not None:  # absent from older baselines: their ids stay as they were
            content["reference_origin"] = self.reference_origin
        if self.estimator is not None:  # likewise
            content["estimator"] = self.estimator
        if self.multivariate is not None:  # likewise
            content["multivariate"] = self.multivariate
        if self.segments is not None:  # likewise
            content["segments"] = self.segments
        if self.segment_performance is not None:  # likewise
            content["segment_performance"] = self.segment_performance
        return content

    @cached_property
    def performance_estimator(self) -> Estimator | None:
        """The estimator windows accumulate for (None: windows carry no estimate)."""
        return None if self.estimator is None else estimator_from_state(self.estimator)

    @cached_property
    def pca(self) -> PCAReconstruction | None:
        return pca_of(self.multivariate)

    @cached_property
    def domain_classifier(self) -> DomainClassifier | None:
        return domain_classifier_of(self.multivariate)

    @cached_property
    def segment_references(self) -> dict[str, SegmentReference] | None:
        """The reference performance per segment (None: windows' performance per segment is not judged)."""
        return None if self.segment_performance is None else segment_references(self.segment_performance)

    @cached_property
    def segment_profiles(self) -> SegmentProfiles | None:
        """The reference per segment (None: windows keep no segment profiles)."""
        return None if self.segments is None else SegmentProfiles.from_state(self.segments)

    def to_state(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "source": self.source,
            **self._content(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Baseline:
        return cls(
            model=state["model"],
            model_version=state["model_version"],
            created_at=datetime.fromisoformat(state["created_at"]),
            source=state["source"],
            n_rows=int(state["n_rows"]),
            profile=WindowSketch.from_state(state["profile"]),
            feature_kinds=dict(state["feature_kinds"]),
            reference_performance=state["reference_performance"],
            truncated_categories=tuple(state["truncated_categories"]),
            reference_origin=state.get("reference_origin"),
            estimator=state.get("estimator"),
            multivariate=state.get("multivariate"),
            segments=state.get("segments"),
            segment_performance=state.get("segment_performance"),
        )


def content_id(content: dict[str, Any]) -> str:
    blob = orjson.dumps(content, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    return hashlib.sha256(blob).hexdigest()[:16]


def _numeric_column(frame: pd.DataFrame, name: str, model: str) -> NDArray[np.float64]:
    column = frame[name]
    if pd.api.types.is_bool_dtype(column):
        column = column.astype(np.float64)
    if not pd.api.types.is_numeric_dtype(column):
        bad = column.dropna()
        bad = bad[pd.to_numeric(bad, errors="coerce").isna()]
        example = repr(bad.iloc[0]) if len(bad) else "?"
        raise DataError(
            f"model {model!r}: column {name!r} is configured numeric but holds non-numeric values "
            f"(e.g. {example}, dtype {column.dtype})"
        )
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        raise DataError(f"model {model!r}: column {name!r} holds infinite values")
    wide = np.flatnonzero(out_of_range(values))
    if len(wide):
        # The live decoder dead-letters such values (value_out_of_range): monitor.core.limits says why.
        raise DataError(
            f"model {model!r}: column {name!r} holds {len(wide)} value(s) outside the accepted range "
            f"[-{MAX_ABS_VALUE:g}, {MAX_ABS_VALUE:g}] (e.g. {float(values[wide[0]])!r} at index "
            f"{frame.index[wide[0]]!r}); live messages with such values are rejected as value_out_of_range"
        )
    return values


def numeric_sketch(values: NDArray[np.float64], bins: int) -> NumericSketch:
    """A reference column's sketch: quantile edges from its values, exact value counts when it
    has few distinct values (a window's sketch of the column is `.empty_like()` of this)."""
    # One sort serves the distinct values, the quantile edges and a cache-friendly binning.
    ordered = np.sort(values[~np.isnan(values)])
    first = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    n_distinct = int(first.sum())
    counts = ValueCounts(tuple(ordered[first].tolist())) if n_distinct <= DISCRETE_MAX_VALUES else None
    sketch = NumericSketch(quantile_edges(ordered, bins, presorted=True), values=counts).update(ordered)
    sketch.missing = len(values) - len(ordered)
    return sketch


def _categorical_sketch(values: NDArray[Any], limit: int) -> tuple[ValueCounts, bool]:
    """Categories most frequent first (ties in order of appearance), at most `limit`: the rest
    count as unseen, and the second value says whether any were cut."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    frequency = np.bincount(codes[codes >= 0], minlength=len(uniques))
    order = np.argsort(-frequency, kind="stable")
    keep = order[:limit]
    sketch = ValueCounts(tuple(str(k) for k in np.asarray(uniques, dtype=object)[keep].tolist()))
    sketch.counts = frequency[keep].astype(np.int64)
    sketch.missing = int((codes < 0).sum())
    for code in order[limit:].tolist():  # bounded tracking of the cut categories, as for unseen ones
        sketch.add_unseen(pd.Series({str(uniques[code]): int(frequency[code])}))
    return sketch, len(order) > limit


def _check_columns(frame: pd.DataFrame, model: ModelConfig) -> None:
    if len(frame) == 0:
        raise DataError(f"model {model.name!r}: the reference data has no rows")
    wanted = [f.name for f in model.features]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise DataError(
            f"model {model.name!r}: reference data lacks column(s) {missing}; "
            f"it has {list(frame.columns)[:20]}"
        )
    for name in wanted:
        if frame[name].isna().all():
            raise DataError(f"model {model.name!r}: column {name!r} is entirely missing (all NaN/empty)")


def build_baseline(
    frame: pd.DataFrame,
    model: ModelConfig,
    settings: BaselineStoreConfig,
    model_version: str,
    source: str,
    now: datetime,
    performance: pd.DataFrame | None = None,
    performance_source: str = "",
    require_target: bool = True,
) -> Baseline:
    """Summarise reference data for `model`. Raises DataError naming the offending column.

    The reference performance comes from `performance` (held-out rows with the prediction, score
    and target columns) when given, else from `frame` inflated by a margin (see
    monitor.baselines.reference_performance). A configured target that `frame` lacks is an error
    unless `require_target` is False (the baseline then has no target distribution)."""
    _check_columns(frame, model)
    features: dict[str, Sketch] = {}
    sample: dict[str, NDArray[Any]] = {}
    truncated: list[str] = []
    for feature in model.features:
        if feature.kind == "numeric":
            values = _numeric_column(frame, feature.name, model.name)
            features[feature.name] = numeric_sketch(values, settings.bins)
        else:
            values = canonical_labels(frame[feature.name])
            features[feature.name], cut = _categorical_sketch(values, settings.max_categories)
            if cut:
                truncated.append(feature.name)
        sample[feature.name] = values

    prediction, y_pred = _outcome_like(frame, model.prediction, model, settings)
    target, y_true = _outcome_like(frame, model.target, model, settings)
    score_sketch, scores = None, None
    if model.score and model.score in frame.columns:
        scores = _numeric_column(frame, model.score, model.name)
        score_sketch = numeric_sketch(scores, settings.bins)
    if prediction is None:
        raise DataError(
            f"model {model.name!r}: reference data lacks the prediction column {model.prediction!r} "
            "(needed for prediction drift)"
        )
    if model.target is not None and model.target not in frame.columns and require_target:
        raise DataError(
            f"model {model.name!r}: the config names target {model.target!r} but the reference data has "
            f"no such column (it has {list(frame.columns)[:20]}); add it, or build without a target "
            "on purpose (--no-target), which leaves the baseline without target drift and, unless "
            "--performance-data gives held-out rows, without reference performance"
        )
    reservoir = RowReservoir(settings.reservoir_size, settings.seed)
    sample["__prediction__"] = np.asarray(y_pred)
    if y_true is not None:
        sample["__target__"] = np.asarray(y_true)
    reservoir.update(sample, len(frame))
    profile = WindowSketch(features, prediction, score_sketch, target, reservoir, len(frame), len(frame))

    reference, origin = None, None
    fitted = fit_estimator(performance if performance is not None else frame, model)
    if performance is not None:
        reference = _held_out_performance(performance, model, settings)
        origin = held_out_origin(performance_source, len(performance))
    elif y_true is not None:
        in_sample = compute_performance(model.task, y_true, y_pred, scores, model.performance.positive_label)
        reference, origin = inflate(in_sample), in_sample_origin(in_sample)
    segments = fit_segment_profiles(frame, sample, model)
    return Baseline(
        model=model.name,
        model_version=model_version,
        created_at=now,
        source=source,
        n_rows=len(frame),
        profile=profile,
        feature_kinds={f.name: f.kind for f in model.features},
        reference_performance=reference,
        truncated_categories=tuple(truncated),
        reference_origin=origin,
        estimator=fitted.state,
        estimator_note=fitted.reason,
        multivariate=fit_multivariate(sample, model, settings.seed),
        segments=segments,
        segment_performance=_segment_performance(
            segments, frame, performance, y_true, y_pred, model, settings
        ),
    )


def _segment_performance(
    segments: dict[str, Any] | None,
    frame: pd.DataFrame,
    performance: pd.DataFrame | None,
    y_true: NDArray[Any] | None,
    y_pred: NDArray[Any] | None,
    model: ModelConfig,
    settings: BaselineStoreConfig,
) -> dict[str, Any] | None:
    """The reference performance per segment, from the held-out rows when given (which then need
    the segment column too), else from the reference rows inflated; None without either."""
    if segments is None or model.segments is None:
        return None
    segment_map = SegmentProfiles.from_state(segments).segment_map
    column = model.segments.column
    if performance is not None:
        if column not in performance.columns:
            return None
        _, held_true = _outcome_like(performance, model.target, model, settings)
        _, held_pred = _outcome_like(performance, model.prediction, model, settings)
        return fit_segment_performance(
            segment_map,
            performance[column].to_numpy(dtype=object),
            held_true,
            held_pred,
            model,
            in_sample=False,
        )
    if y_true is None:
        return None
    return fit_segment_performance(
        segment_map, frame[column].to_numpy(dtype=object), y_true, y_pred, model, in_sample=True
    )


def _held_out_performance(
    frame: pd.DataFrame, model: ModelConfig, settings: BaselineStoreConfig
) -> dict[str, float | None]:
    """Performance on held-out rows: they need the prediction and the target (and the score, when
    the config names one and the rows have it)."""
    if model.target is None:
        raise DataError(
            f"model {model.name!r}: held-out performance data needs a target column, and the config "
            "names none (set `target:` for the model)"
        )
    missing = [c for c in (model.prediction, model.target) if c not in frame.columns]
    if len(frame) == 0 or missing:
        raise DataError(
            f"model {model.name!r}: the performance data "
            + (f"lacks column(s) {missing}" if missing else "has no rows")
            + f"; it needs the prediction {model.prediction!r} and the target {model.target!r} "
            "of held-out rows"
        )
    _, y_pred = _outcome_like(frame, model.prediction, model, settings)
    _, y_true = _outcome_like(frame, model.target, model, settings)
    scores = None
    if model.score and model.score in frame.columns:
        scores = _numeric_column(frame, model.score, model.name)
    return compute_performance(model.task, y_true, y_pred, scores, model.performance.positive_label)


def _outcome_like(
    frame: pd.DataFrame, column: str | None, model: ModelConfig, settings: BaselineStoreConfig
) -> tuple[Sketch | None, NDArray[Any] | None]:
    """Sketch of a prediction or target column: categorical for classification, numeric for regression."""
    if column is None or column not in frame.columns:
        return None, None
    if model.task == "classification":
        labels = canonical_labels(frame[column])
        sketch, _ = _categorical_sketch(labels, settings.max_categories)
        return sketch, labels
    values = _numeric_column(frame, column, model.name)
    return numeric_sketch(values, settings.bins), values
