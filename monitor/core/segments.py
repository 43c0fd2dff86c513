"""Per-segment drift with a cap on segments and control over features x segments.

`SegmentMap` (fit on the reference's segment column): the `max_segments` most frequent segments
keep their own profile, ties broken by name; every other value, a segment first seen live, and a
missing segment all go to `OTHER`. So a segment label that explodes in cardinality costs at most
max_segments + 1 profiles, and the Prometheus label stays bounded.

`SegmentProfiles` (fit on the reference): per segment and feature, a sketch of the reference
(`NumericSketch` on the reference's quantile edges, shared by all segments; `ValueCounts` over the
reference's categories). `profiles.window()` makes the same structure empty for a live window;
`update(columns, segments)` adds a batch to every segment's sketches of a feature in one grouped
update (monitor/core/grouped_sketch.py); `merge` and `to_state` / `from_state` as every sketch.

`segment_drift(profiles, window)` = `decide(segment_tests(...))`: per segment and feature a p-value
(binned Kolmogorov-Smirnov for numbers, the two-sample chi-square for categories, from
monitor/core/stats), pairs with fewer than
`min_rows` rows on either side left untested, then one multiple-testing control over the whole
family of pairs (`stats.multiple_testing`: Benjamini-Hochberg by default, or Holm), so 50 segments
do not mean 50 times the false alarms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import kstwobign

from monitor.core.encoding import Kind, column
from monitor.core.grouped_sketch import CountGroups, NumericGroups
from monitor.core.labels import canonical_labels
from monitor.core.sketch import NumericSketch, ValueCounts, quantile_edges, sketch_from_state
from monitor.core.stats import chi_square
from monitor.core.stats.multiple_testing import Method, control
from monitor.errors import DataError

OTHER = "__other__"
Sketch = NumericSketch | ValueCounts
Groups = NumericGroups | CountGroups


class SegmentMap:
    def __init__(self, segments: tuple[str, ...]) -> None:
        if OTHER in segments or len(set(segments)) != len(segments):
            raise DataError(f"segment names must be distinct and not {OTHER!r}")
        self.segments = segments
        self.labels = (*segments, OTHER)
        self._index = pd.Index(segments, dtype=object)

    @classmethod
    def fit(cls, values: Any, max_segments: int = 20) -> SegmentMap:
        if max_segments < 1:
            raise DataError(f"max_segments must be at least 1, got {max_segments}")
        counts = pd.Series(canonical_labels(np.asarray(values, dtype=object))).value_counts(dropna=True)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
        return cls(tuple(str(k) for k, _ in ranked[:max_segments] if str(k) != OTHER))

    def codes(self, values: Any) -> NDArray[np.int64]:
        """Per row, the index of its segment in `labels` (the last one is OTHER)."""
        found = self._index.get_indexer(canonical_labels(np.asarray(values, dtype=object)))
        return np.where(found < 0, len(self.segments), found).astype(np.int64)


class SegmentProfiles:
    """Per segment (of a `SegmentMap`) and feature, a sketch; also what a live window keeps. Each
    feature's sketches of all segments are held together (monitor/core/grouped_sketch.py), so a
    batch updates them at once and a fork copies a few arrays per feature."""

    def __init__(self, segment_map: SegmentMap, groups: dict[str, Groups]) -> None:
        self.segment_map, self.groups = segment_map, groups

    @classmethod
    def from_sketches(
        cls, segment_map: SegmentMap, sketches: Mapping[str, Mapping[str, Sketch]]
    ) -> SegmentProfiles:
        if set(sketches) != set(segment_map.labels):
            raise DataError("segment profiles must hold every segment of the map, and OTHER")
        groups: dict[str, Groups] = {}
        for name, template in sketches[OTHER].items():
            column_of = [sketches[label][name] for label in segment_map.labels]
            if isinstance(template, NumericSketch):
                groups[name] = NumericGroups.from_sketches(column_of)  # type: ignore[arg-type]
            else:
                groups[name] = CountGroups.from_sketches(column_of)  # type: ignore[arg-type]
        return cls(segment_map, groups)

    @classmethod
    def fit(
        cls,
        reference: Mapping[str, Any],
        kinds: Mapping[str, Kind],
        segments: Any,
        *,
        max_segments: int = 20,
        bins: int = 20,
        max_categories: int = 50,
    ) -> SegmentProfiles:
        segment_map = SegmentMap.fit(segments, max_segments)
        n_groups = len(segment_map.labels)
        groups: dict[str, Groups] = {}
        for name, kind in kinds.items():
            values = column(reference, name)
            if kind == "numeric":
                present = np.asarray(values, dtype=np.float64)
                present = present[~np.isnan(present)]
                if present.size == 0:
                    raise DataError(f"feature {name!r}: no values in the reference")
                groups[name] = NumericGroups.empty(quantile_edges(present, bins), n_groups)
            else:
                counts = pd.Series(canonical_labels(values)).value_counts(dropna=True)
                ranked = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
                groups[name] = CountGroups.empty(
                    ValueCounts(tuple(str(k) for k, _ in ranked[:max_categories])), n_groups
                )
        return cls(segment_map, groups).update(reference, segments)

    def window(self) -> SegmentProfiles:
        """Empty profiles on the same segments, bins and categories (a live window's)."""
        n_groups = len(self.segment_map.labels)
        return SegmentProfiles(
            self.segment_map,
            {
                name: NumericGroups.empty(g.edges, n_groups)
                if isinstance(g, NumericGroups)
                else CountGroups.empty(g.template, n_groups)
                for name, g in self.groups.items()
            },
        )

    def update(self, columns: Mapping[str, Any], segments: Any) -> SegmentProfiles:
        codes = self.segment_map.codes(segments)
        for name, groups in self.groups.items():
            values = column(columns, name, len(codes))
            if isinstance(groups, NumericGroups):
                groups.update(codes, values)
            else:
                groups.update(codes, canonical_labels(values))
        return self

    def merge(self, other: SegmentProfiles) -> SegmentProfiles:
        if other.segment_map.labels != self.segment_map.labels:
            raise DataError("cannot merge segment profiles over different segments")
        return SegmentProfiles(
            self.segment_map,
            {name: g.merge(other.groups[name]) for name, g in self.groups.items()},  # type: ignore[arg-type]
        )

    def copy(self) -> SegmentProfiles:
        """A copy sharing nothing that `update` changes in place, and all the rest (edges, keys, the
        map). What a savepoint forks before each group of a batch."""
        return SegmentProfiles(self.segment_map, {name: g.copy() for name, g in self.groups.items()})

    __fork__ = copy  # monitor.pipeline.savepoint

    def sketch(self, segment: str, feature: str) -> Sketch:
        return self.groups[feature].sketch(self.segment_map.labels.index(segment))

    @property
    def sketches(self) -> dict[str, dict[str, Sketch]]:
        """Every segment's sketch of every feature, materialised (a copy: updating it changes nothing)."""
        return {
            label: {name: g.sketch(i) for name, g in self.groups.items()}
            for i, label in enumerate(self.segment_map.labels)
        }

    def rows(self, segment: str, feature: str) -> int:
        return self.sketch(segment, feature).n_present

    def to_state(self) -> dict[str, Any]:
        """Each numeric feature's bin edges once (`edges`), not once per segment: every segment's
        sketch of a feature has the same edges, and they were nearly half a window's state."""
        edges = {n: g.edges for n, g in self.groups.items() if isinstance(g, NumericGroups)}

        def compact(name: str, sketch: Sketch) -> dict[str, Any]:
            state = sketch.to_state()
            if isinstance(sketch, NumericSketch):
                del state["edges"]
            return state

        return {
            "segments": list(self.segment_map.segments),
            "edges": {n: e.tolist() for n, e in edges.items()},
            "sketches": {s: {n: compact(n, sk) for n, sk in f.items()} for s, f in self.sketches.items()},
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> SegmentProfiles:
        segment_map = SegmentMap(tuple(str(s) for s in state["segments"]))
        edges = state.get("edges", {})

        def restore(name: str, sketch: dict[str, Any]) -> Sketch:
            if name in edges and "edges" not in sketch and "known" not in sketch:
                sketch = {**sketch, "edges": edges[name]}
            return sketch_from_state(sketch)

        sketches = {s: {n: restore(n, sk) for n, sk in f.items()} for s, f in state["sketches"].items()}
        return cls.from_sketches(segment_map, sketches)


@dataclass(frozen=True)
class SegmentFeatureTest:
    segment: str
    feature: str
    statistic: float | None
    p_value: float | None  # None: too few rows to test
    adjusted_p_value: float | None
    drift_detected: bool
    n_reference: int
    n_window: int


@dataclass(frozen=True)
class SegmentDriftResult:
    tests: tuple[SegmentFeatureTest, ...]
    method: Method
    alpha: float
    n_tests: int

    @property
    def drifted(self) -> tuple[SegmentFeatureTest, ...]:
        return tuple(t for t in self.tests if t.drift_detected)


def _feature_tests(
    reference: Groups, window: Groups, tested: NDArray[np.bool_]
) -> list[tuple[float, float] | None]:
    """Per segment of one feature, (statistic, p-value), or None where untested."""
    if isinstance(reference, NumericGroups) and isinstance(window, NumericGroups):
        # D as `stats.ks` computes it, for all segments at once, with the asymptotic Kolmogorov
        # p-value instead of its exact finite-n one: that costs ~2 ms per test and a window has
        # ~1,000 tests here. sqrt(n)·D approaches its limit from below, and the binned D is a lower
        # bound of the exact one, so this p-value errs on the large side (fewer alarms).
        n, m = reference.counts.sum(axis=1), window.counts.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):  # untested segments may have no rows
            gap = (
                np.cumsum(reference.counts, axis=1) / n[:, None]
                - np.cumsum(window.counts, axis=1) / m[:, None]
            )
            statistic = np.abs(gap).max(axis=1)
            p_value = np.clip(kstwobign.sf(statistic * np.sqrt(n * m / (n + m))), 0.0, 1.0)
        return [
            (float(d), float(p)) if ok else None for d, p, ok in zip(statistic, p_value, tested, strict=True)
        ]
    if isinstance(reference, CountGroups) and isinstance(window, CountGroups):
        out: list[tuple[float, float] | None] = []
        for g, ok in enumerate(tested.tolist()):
            result = chi_square(*reference.sketch(g).aligned(window.sketch(g))) if ok else None
            out.append(None if result is None else (result.statistic, result.p_value))
        return out
    raise DataError("reference and window sketches differ in kind")


def segment_tests(
    reference: SegmentProfiles, window: SegmentProfiles, min_rows: int = 30
) -> list[SegmentFeatureTest]:
    """Per segment and feature, the statistic and p-value (None below `min_rows` rows on either side),
    before any multiple-testing control; in segment order, then feature order."""
    if window.segment_map.labels != reference.segment_map.labels:
        raise DataError("the window's segments are not the reference's")
    by_feature = {}
    for feature, ref_groups in reference.groups.items():
        win_groups = window.groups[feature]
        n_ref, n_win = _present(ref_groups), _present(win_groups)
        tested = (n_ref >= min_rows) & (n_win >= min_rows)
        by_feature[feature] = (n_ref, n_win, _feature_tests(ref_groups, win_groups, tested))
    tests = []
    for g, segment in enumerate(reference.segment_map.labels):
        for feature, (n_ref, n_win, results) in by_feature.items():
            statistic, p = results[g] or (None, None)
            tests.append(
                SegmentFeatureTest(segment, feature, statistic, p, None, False, int(n_ref[g]), int(n_win[g]))
            )
    return tests


def _present(groups: Groups) -> NDArray[np.int64]:
    """Per segment, the rows with a value (what a sketch's `n_present` counts)."""
    present = groups.counts.sum(axis=1)
    if isinstance(groups, CountGroups):
        present = (
            present + groups.overflow + np.array([sum(u.values()) for u in groups.unseen], dtype=np.int64)
        )
    return present


def decide(
    tests: list[SegmentFeatureTest], alpha: float = 0.05, method: Method = "benjamini_hochberg"
) -> SegmentDriftResult:
    """Which pairs drift, under one control over the whole family."""
    family = control([t.p_value for t in tests], alpha, method)
    decided = tuple(
        replace(t, adjusted_p_value=None if np.isnan(adjusted) else float(adjusted), drift_detected=bool(hit))
        for t, adjusted, hit in zip(tests, family.adjusted, family.rejected, strict=True)
    )
    return SegmentDriftResult(decided, method, alpha, family.n_tests)


def segment_drift(
    reference: SegmentProfiles,
    window: SegmentProfiles,
    *,
    alpha: float = 0.05,
    method: Method = "benjamini_hochberg",
    min_rows: int = 30,
) -> SegmentDriftResult:
    return decide(segment_tests(reference, window, min_rows), alpha, method)
