"""Reading reference (training) data from CSV or Parquet, with progress for large files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from monitor.config import ModelConfig
from monitor.errors import DataError

CHUNK_ROWS = 200_000
Progress = Callable[[int, int], None]  # (bytes or rows done, total)


def reference_columns(model: ModelConfig) -> list[str]:
    """The columns a baseline of `model` is built from: features, prediction, score, target and
    the segment column."""
    columns = [f.name for f in model.features]
    columns += [c for c in (model.prediction, model.score, model.target) if c]
    if model.segments is not None:
        columns.append(model.segments.column)
    return columns


def read_reference(
    path: Path, columns: Sequence[str] | None, progress: Progress | None = None
) -> pd.DataFrame:
    """Read the named columns (those present; None: every column) of a CSV or Parquet file."""
    if not path.is_file():
        raise DataError(f"reference data file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in {".parquet", ".pq"}:
        return _read_parquet(path, columns, progress)
    if suffix in {".csv", ".gz", ".tsv"}:
        return _read_csv(path, columns, progress)
    raise DataError(f"cannot read {path}: expected a .csv or .parquet file")


def _read_csv(path: Path, columns: Sequence[str] | None, progress: Progress | None) -> pd.DataFrame:
    total = path.stat().st_size
    if total == 0:
        raise DataError(f"reference data file {path} is empty")
    wanted = None if columns is None else set(columns)
    chunks = []
    try:
        with path.open("rb") as raw:
            reader = pd.read_csv(
                raw,
                sep="\t" if path.suffix == ".tsv" else ",",
                chunksize=CHUNK_ROWS,
                usecols=None if wanted is None else (lambda c: c in wanted),
                compression="gzip" if path.suffix == ".gz" else None,
                low_memory=False,
            )
            for chunk in reader:
                chunks.append(chunk)
                if progress:
                    progress(min(raw.tell(), total), total)
    except pd.errors.EmptyDataError:
        raise DataError(f"reference data file {path} has no header or rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"cannot parse {path} as CSV: {err}") from None
    frame = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()
    if frame.empty:
        raise DataError(f"reference data file {path} has no rows")
    return frame


def _read_parquet(path: Path, columns: Sequence[str] | None, progress: Progress | None) -> pd.DataFrame:
    try:
        handle = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise DataError(f"cannot read {path} as Parquet: {err}") from None
    names = handle.schema_arrow.names
    present = names if columns is None else [c for c in columns if c in names]
    total = handle.metadata.num_rows
    tables, done = [], 0
    for i in range(handle.num_row_groups):
        table = handle.read_row_group(i, columns=present)
        tables.append(table)
        done += table.num_rows
        if progress:
            progress(done, total)
    if total == 0:
        raise DataError(f"reference data file {path} has no rows")
    return pa.concat_tables(tables).to_pandas()
