"""A bounded, mergeable, seeded uniform sample of rows (bottom-k sampling).

Every row gets a pseudo-random key in [0, 1); the sample keeps the k rows with the
smallest keys. The union of two samples' k smallest keys is the k smallest keys of the
union of their inputs, so `merge` is exact, associative and commutative as long as keys
are distinct (true for id-hashed keys, up to 64-bit hash collisions).

Where rows have an identity (a prediction id), the key is a hash of it (`keys_from_ids`):
the sample of a window is then the same whichever instance, partition or batch saw each
row, and a replay after a restart picks the same rows. Rows without one (a training file)
draw keys from a generator seeded with (seed, rows seen so far), reproducible for the
same input read in the same order; two such reservoirs with the same seed draw the same
keys, so they are not meant to be merged (baselines are built in one pass and never are).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray


def keys_from_ids(ids: NDArray[Any]) -> NDArray[np.float64]:
    """Uniform keys in [0, 1) from a stable 64-bit hash of each id (same in every process)."""
    hashed = pd.util.hash_array(np.asarray(ids, dtype=object), categorize=False)
    return (hashed >> np.uint64(11)).astype(np.float64) * 2.0**-53


@dataclass
class RowReservoir:
    capacity: int
    seed: int = 0
    n_seen: int = 0
    keys: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    columns: dict[str, NDArray[Any]] = field(default_factory=dict)

    # Replaced by every update, never changed in place: a copy of the reservoir may share them
    # (monitor.pipeline.savepoint.fork).
    __fork_shared__ = ("keys", "columns")

    def update(
        self, columns: dict[str, NDArray[Any]], n_rows: int, keys: NDArray[np.float64] | None = None
    ) -> RowReservoir:
        if n_rows == 0:
            return self
        new_keys = np.random.default_rng([self.seed, self.n_seen]).random(n_rows) if keys is None else keys
        self.n_seen += n_rows
        if len(self.keys) >= self.capacity:
            # Only rows that beat the current largest kept key can enter.
            cutoff = self.keys.max()
            take = np.flatnonzero(new_keys < cutoff)
        else:
            take = np.arange(n_rows)
        if len(take) > self.capacity:
            take = take[np.argpartition(new_keys[take], self.capacity - 1)[: self.capacity]]
        self._absorb(new_keys[take], {name: np.asarray(col)[take] for name, col in columns.items()})
        return self

    def _absorb(self, keys: NDArray[np.float64], columns: dict[str, NDArray[Any]]) -> None:
        if len(keys) == 0:
            return
        if not self.columns:
            all_keys, all_cols = keys, columns
        else:
            all_keys = np.concatenate([self.keys, keys])
            all_cols = {n: np.concatenate([self.columns[n], columns[n]]) for n in self.columns}
        if len(all_keys) > self.capacity:
            keep = np.argpartition(all_keys, self.capacity - 1)[: self.capacity]
        else:
            keep = np.arange(len(all_keys))
        keep = keep[np.argsort(all_keys[keep], kind="stable")]
        self.keys = all_keys[keep]
        self.columns = {n: c[keep] for n, c in all_cols.items()}

    def merge(self, other: RowReservoir) -> RowReservoir:
        out = RowReservoir(self.capacity, self.seed, self.n_seen + other.n_seen)
        out._absorb(self.keys, self.columns)
        out._absorb(other.keys, other.columns)
        return out

    @property
    def complete(self) -> bool:
        """True when the sample holds every row seen (so exact tests apply)."""
        return self.n_seen <= self.capacity

    def column(self, name: str) -> NDArray[Any]:
        return self.columns.get(name, np.empty(0))

    def __len__(self) -> int:
        return len(self.keys)

    def to_state(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "seed": self.seed,
            "n_seen": self.n_seen,
            "keys": self.keys.tolist(),
            "columns": {n: _column_to_list(c) for n, c in self.columns.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RowReservoir:
        return cls(
            capacity=int(state["capacity"]),
            seed=int(state["seed"]),
            n_seen=int(state["n_seen"]),
            keys=np.asarray(state["keys"], dtype=np.float64),
            columns={n: _column_from_list(v) for n, v in state["columns"].items()},
        )


def _column_to_list(col: NDArray[Any]) -> dict[str, Any]:
    if col.dtype.kind == "f":
        # NaN is not JSON: store missing positions separately.
        nan = np.isnan(col)
        return {
            "dtype": "float",
            "values": np.where(nan, 0.0, col).tolist(),
            "missing": np.flatnonzero(nan).tolist(),
        }
    return {"dtype": "object", "values": col.tolist()}


def _column_from_list(data: dict[str, Any]) -> NDArray[Any]:
    if data["dtype"] == "float":
        arr = np.asarray(data["values"], dtype=np.float64)
        arr[np.asarray(data["missing"], dtype=np.int64)] = np.nan
        return arr
    return np.asarray(data["values"], dtype=object)
