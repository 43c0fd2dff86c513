"""The per-segment profiles that monitor/core/grouped_sketch.py replaced, kept as the reference its
test compares with and the "before" rows of tests/benchmarks/bench_segments.py: a sketch object per
segment and feature, a batch split by segment (one stable sort) and each part given to its
sketch's own `update`, a fork copying every sketch. Only what ingest calls (window, update, copy)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from monitor.core.encoding import column
from monitor.core.labels import canonical_labels
from monitor.core.segments import SegmentMap, SegmentProfiles, Sketch
from monitor.core.sketch import NumericSketch


class PerSegmentProfiles:
    def __init__(self, segment_map: SegmentMap, sketches: dict[str, dict[str, Sketch]]) -> None:
        self.segment_map, self.sketches = segment_map, sketches

    @classmethod
    def empty_like(cls, profiles: SegmentProfiles) -> PerSegmentProfiles:
        """Empty per-segment sketches on the bins and categories of `profiles`."""
        window = profiles.window().sketches
        return cls(profiles.segment_map, window)

    def window(self) -> PerSegmentProfiles:
        return PerSegmentProfiles(
            self.segment_map,
            {s: {n: sk.empty_like() for n, sk in f.items()} for s, f in self.sketches.items()},
        )

    def update(self, columns: Mapping[str, Any], segments: Any) -> PerSegmentProfiles:
        labels = self.segment_map.labels
        codes = self.segment_map.codes(segments)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(labels) + 1))
        for name, template in self.sketches[labels[-1]].items():
            values = column(columns, name, len(codes))
            if isinstance(template, NumericSketch):
                ordered = np.asarray(values, dtype=np.float64)[order]
            else:
                ordered = canonical_labels(values)[order]
            for i, label in enumerate(labels):
                if bounds[i + 1] > bounds[i]:
                    self.sketches[label][name].update(ordered[bounds[i] : bounds[i + 1]])
        return self

    def copy(self) -> PerSegmentProfiles:
        return PerSegmentProfiles(
            self.segment_map,
            {s: {n: _copy(sk) for n, sk in f.items()} for s, f in self.sketches.items()},
        )

    __fork__ = copy


def _copy(sketch: Any) -> Any:
    copied = object.__new__(type(sketch))
    copied.__dict__.update(sketch.__dict__)
    copied.counts = sketch.counts.copy()
    if isinstance(sketch, NumericSketch):
        copied.sums = sketch.sums.copy()
        copied.values = None if sketch.values is None else _copy(sketch.values)
    else:
        copied.unseen = dict(sketch.unseen)
    return copied
