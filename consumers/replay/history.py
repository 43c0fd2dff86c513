"""A historical log of predictions (and outcomes) to replay, read and put in event-time order.

Two shapes:
- columnar (.csv, .csv.gz, .parquet): one row per prediction of one model, with its feature
  columns (named as in the config), an id, a timestamp, the prediction and score columns of the
  model's config, optionally a model version column, and optionally an outcome and the time it
  was known (without that time, the outcome counts as known at the prediction's time);
- JSON lines (.jsonl, .ndjson, .json): the message format (README, "Messages"), predictions and
  outcomes of any configured model mixed.

Events are sorted by event time (a prediction by its timestamp, an outcome by its own), predictions
first at equal times, so the replay sees the stream as it happened. An event whose time cannot be
read sorts first, where the decoder rejects it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from consumers.replay.columnar import Names, time_ms
from monitor.baselines.reference_data import read_reference
from monitor.config import DriftlineConfig, ModelConfig
from monitor.errors import DataError
from monitor.pipeline.decoding.columns import Faults
from monitor.pipeline.decoding.timestamps import timestamps_ms
from monitor.pipeline.raw_batch import FEATURES_KEY

JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ColumnOptions:
    """Column names given on the command line (None: the default, if the file has it)."""

    model: str | None = None
    version: str | None = None  # every row's version, whatever the file says
    only_version: str | None = None  # the model's only baseline version: used if the file has none
    id: str = "prediction_id"
    timestamp: str = "timestamp"
    version_column: str = "model_version"
    outcome: str | None = None
    outcome_timestamp: str = "outcome_timestamp"
    segment: str = "segment"


@dataclass
class Columnar:
    frame: pd.DataFrame
    config: ModelConfig
    names: Names
    times: np.ndarray  # event time (ms) of each prediction row; -1 where unreadable
    time_good: np.ndarray
    outcome_rows: np.ndarray  # rows with an outcome
    outcome_times: np.ndarray
    outcome_time_good: np.ndarray
    order: np.ndarray  # merged event order: index < n is a prediction row, else an outcome
    sort_times: np.ndarray  # event time of each index of `order` (ms; -1 where unreadable)

    @property
    def events(self) -> int:
        return len(self.order)

    def chunks(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(prediction rows, positions into outcome_rows) of each batch: at most `size` events,
        and a batch ends at the first event past a window's close (so windows are evaluated at
        the event time they closed, not at the end of a long batch)."""
        n = len(self.frame)
        times = self.sort_times[self.order]
        for start, end in batch_bounds(times, self.order < n, size, self.config):
            part = self.order[start:end]
            yield part[part < n], part[part >= n] - n


@dataclass
class Jsonl:
    lines: list[bytes]  # in event-time order
    times: np.ndarray  # their event times (ms; -1 where unreadable)
    config: ModelConfig  # the model with the shortest window: its closes cut the batches

    @property
    def events(self) -> int:
        return len(self.lines)

    def chunks(self, size: int) -> Iterator[tuple[int, int]]:
        """[start, end) of each batch of lines (see `batch_bounds`)."""
        predictions = np.array([FEATURES_KEY in line for line in self.lines], dtype=bool)
        return batch_bounds(self.times, predictions, size, self.config)


def batch_bounds(
    times: np.ndarray, predictions: np.ndarray, size: int, model: ModelConfig
) -> Iterator[tuple[int, int]]:
    """[start, end) of each batch over sorted event times: at most `size` events, and the first
    two predictions at or past a window close (window end + allowed lateness) end a batch of their
    own: the second is the event that closes the window when the service ingests it (the
    watermark is the second-largest prediction time, monitor.pipeline.windows.running_watermark;
    outcomes close none), so the service evaluates right after it, and the time before them (a
    gap in the history) is seen."""
    window = int(model.window.total_seconds() * 1000)
    lateness = int(model.allowed_lateness.total_seconds() * 1000)
    at = np.flatnonzero(predictions)
    period = (times[at] - lateness) // window
    first = np.flatnonzero(np.diff(period) != 0) + 1  # index into `at` of each close's first prediction
    closing = at[first]
    closed_by = at[np.minimum(first + 1, len(at) - 1)] + 1  # just past the second one
    cuts = np.unique(np.concatenate([closing, closed_by]))
    start = 0
    for cut in [*cuts.tolist(), len(times)]:
        while cut - start > size:
            yield start, start + size
            start += size
        if cut > start:
            yield start, cut
            start = cut


History = Columnar | Jsonl


def read_history(path: Path, config: DriftlineConfig, options: ColumnOptions, progress: Progress) -> History:
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if not path.is_file():
        raise DataError(f"history file {path} does not exist")
    if suffixes and suffixes[-1] in JSONL_SUFFIXES:
        return _read_jsonl(path, config, progress)
    frame = read_reference(path, None, progress)
    return _columnar(frame, config, options, path.name)


def _read_jsonl(path: Path, config: DriftlineConfig, progress: Progress) -> Jsonl:
    lines = [line.rstrip(b"\r") for line in path.read_bytes().split(b"\n") if line.strip()]
    values = []
    for line in lines:
        try:
            found = orjson.loads(line)
        except orjson.JSONDecodeError:
            found = None
        values.append(found.get("timestamp") if isinstance(found, dict) else None)
    faults = Faults()
    times = timestamps_ms(values, faults)
    times[list(faults.found)] = -1
    order = np.argsort(times, kind="stable")
    progress(len(lines), len(lines))
    shortest = min(config.models, key=lambda m: m.window)
    return Jsonl([lines[i] for i in order.tolist()], times[order], shortest)


def _segment_column(frame: pd.DataFrame, model: ModelConfig, options: ColumnOptions) -> str | None:
    """Each row's segment: the `segment` column, else the model's configured segment
    column, as its reference file has it (None: the rows carry none)."""
    for name in (options.segment, None if model.segments is None else model.segments.column):
        if name is not None and name in frame.columns:
            return name
    return None


def _columnar(frame: pd.DataFrame, config: DriftlineConfig, options: ColumnOptions, name: str) -> Columnar:
    model = _model(config, options.model, name)
    columns = [str(c) for c in frame.columns]
    shown = ", ".join(columns[:30]) + (" ..." if len(columns) > 30 else "")
    for needed, what in ((options.id, "--id"), (options.timestamp, "--timestamp"), (model.prediction, "")):
        if needed not in frame.columns:
            where = what or f"the prediction column of model {model.name!r}"
            raise DataError(f"{name} has no column {needed!r} ({where}); its columns: {shown}")
    version_column = options.version_column if options.version_column in frame.columns else None
    version = options.version
    if version is not None:
        version_column = None
    elif version_column is None:
        version = options.only_version
    if version is None and version_column is None:
        raise DataError(
            f"{name} has no {options.version_column!r} column: pass --version "
            "(the model version that made these predictions)"
        )
    outcome = options.outcome or ("outcome" if "outcome" in frame.columns else model.target)
    if options.outcome is not None and options.outcome not in frame.columns:
        raise DataError(f"{name} has no column {options.outcome!r} (--outcome); its columns: {shown}")
    if outcome is not None and outcome not in frame.columns:
        outcome = None
    names = Names(
        id=options.id,
        timestamp=options.timestamp,
        version=version_column,
        prediction=model.prediction,
        score=model.score if model.score in frame.columns else None,
        outcome=outcome,
        outcome_timestamp=options.outcome_timestamp if options.outcome_timestamp in frame.columns else None,
        segment=_segment_column(frame, model, options),
        default_version=version,
    )
    times, good = _times(frame[names.timestamp], name)
    n = len(frame)
    outcome_rows = np.empty(0, dtype=np.int64)
    outcome_times, outcome_good = np.empty(0, dtype=np.int64), np.empty(0, dtype=bool)
    if names.outcome is not None:
        outcome_rows = np.flatnonzero(frame[names.outcome].notna().to_numpy())
        outcome_times, outcome_good = times[outcome_rows], good[outcome_rows]
        if names.outcome_timestamp is not None:
            known = frame[names.outcome_timestamp].iloc[outcome_rows]
            own, own_good = _times(known.reset_index(drop=True), name)
            has = known.notna().to_numpy()
            outcome_times = np.where(has, own, outcome_times)
            outcome_good = np.where(has, own_good, outcome_good)
    sort_times = np.concatenate([np.where(good, times, -1), np.where(outcome_good, outcome_times, -1)])
    kinds = np.concatenate([np.zeros(n, dtype=np.int8), np.ones(len(outcome_rows), dtype=np.int8)])
    order = np.lexsort((kinds, sort_times))  # by time; at equal times predictions first
    return Columnar(
        frame, model, names, times, good, outcome_rows, outcome_times, outcome_good, order, sort_times
    )


def _model(config: DriftlineConfig, model: str | None, name: str) -> ModelConfig:
    if model is not None:
        return config.model(model)
    if len(config.models) == 1:
        return config.models[0]
    known = ", ".join(m.name for m in config.models)
    raise DataError(f"{name}: pass --model (a columnar history holds one model's predictions): {known}")


def _times(column: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Event times (ms) of a timestamp column and which rows have a readable one, by the decoder's
    timestamp rules (a datetime column with a time zone is read directly)."""
    aware = time_ms(column)
    if aware is not None:
        return aware
    if pd.api.types.is_datetime64_any_dtype(column):
        raise DataError(
            f"{name}: column {column.name!r} holds datetimes without a time zone; store them in UTC "
            "with a zone (pandas: .dt.tz_localize('UTC')) or as ISO 8601 strings ending in Z"
        )
    values = column.astype(object).where(column.notna(), None).tolist()
    faults = Faults()
    ms = timestamps_ms(values, faults)
    good = np.ones(len(values), dtype=bool)
    good[list(faults.found)] = False
    return np.where(good, ms, 0), good
