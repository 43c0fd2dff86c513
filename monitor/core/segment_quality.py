"""Data quality per segment: per segment and feature, the shares the global data-quality section
reports per feature (missing; outside the reference's range for numbers, categories the reference
never had for categories), each against the same share in the segment's reference rows.

A share is flagged only when it is higher in the window than in the reference beyond chance: per
(segment, feature, measure) a one-sided Fisher exact test (the hypergeometric tail P(X >= k) of the
window's k bad rows among the pooled bad rows of window and reference). It is exact for any count,
also for a reference share of zero, where a normal approximation would alarm on one bad row; and it
is one-sided, since fewer missing values is no alarm. Pairs with fewer than `min_rows` rows on
either side are untested. All the window's quality tests form one family under the same control
as drift per segment (`stats.multiple_testing`: Benjamini-Hochberg or Holm at `alpha`), so more
segments and features do not mean more false alarms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import hypergeom

from monitor.core.grouped_sketch import NumericGroups
from monitor.core.segments import SegmentProfiles
from monitor.core.stats.multiple_testing import Method, control
from monitor.errors import DataError


@dataclass(frozen=True)
class SegmentQualityTest:
    segment: str
    feature: str
    measure: str  # "missing", "out_of_range" (numbers) or "unseen" (categories)
    ratio: float  # in the window: of all rows for "missing", of the present rows for the others
    reference_ratio: float
    n_window: int  # rows the ratio is of
    n_reference: int
    p_value: float | None  # None: too few rows to test
    adjusted_p_value: float | None
    degraded: bool


@dataclass(frozen=True)
class SegmentQualityResult:
    tests: tuple[SegmentQualityTest, ...]
    method: Method
    alpha: float
    n_tests: int

    @property
    def degraded(self) -> tuple[SegmentQualityTest, ...]:
        return tuple(t for t in self.tests if t.degraded)


def _shares(
    profiles: SegmentProfiles, feature: str
) -> dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """Per measure, per segment (bad rows, rows the share is of)."""
    groups = profiles.groups[feature]
    present = groups.counts.sum(axis=1)
    shares = {"missing": (groups.missing, present + groups.missing)}
    if isinstance(groups, NumericGroups):
        shares["out_of_range"] = (groups.counts[:, 0] + groups.counts[:, -1], present)
    else:
        unseen = np.array([sum(u.values()) for u in groups.unseen], dtype=np.int64) + groups.overflow
        shares["unseen"] = (unseen, present)
    return shares


def segment_quality_tests(
    reference: SegmentProfiles, window: SegmentProfiles, min_rows: int = 30
) -> list[SegmentQualityTest]:
    """Every (segment, feature, measure) with its shares and one-sided p-value, before control."""
    if window.segment_map.labels != reference.segment_map.labels:
        raise DataError("the window's segments are not the reference's")
    labels = reference.segment_map.labels
    tests = []
    for feature in reference.groups:
        theirs = _shares(reference, feature)
        for measure, (bad, rows) in _shares(window, feature).items():
            ref_bad, ref_rows = theirs[measure]
            tested = (rows >= min_rows) & (ref_rows >= min_rows)
            # P(X >= bad) for X hypergeometric: rows drawn from the pooled rows, bad ones among them.
            p = hypergeom.sf(bad - 1, rows + ref_rows, bad + ref_bad, rows)
            for g, label in enumerate(labels):
                tests.append(
                    SegmentQualityTest(
                        label,
                        feature,
                        measure,
                        float(bad[g] / rows[g]) if rows[g] else 0.0,
                        float(ref_bad[g] / ref_rows[g]) if ref_rows[g] else 0.0,
                        int(rows[g]),
                        int(ref_rows[g]),
                        float(min(max(p[g], 0.0), 1.0)) if tested[g] else None,
                        None,
                        False,
                    )
                )
    return tests


def segment_quality(
    reference: SegmentProfiles,
    window: SegmentProfiles,
    *,
    alpha: float = 0.05,
    method: Method = "benjamini_hochberg",
    min_rows: int = 30,
) -> SegmentQualityResult:
    """Which (segment, feature, measure) shares rose, under one control over the whole family."""
    tests = segment_quality_tests(reference, window, min_rows)
    family = control([t.p_value for t in tests], alpha, method)
    decided = tuple(
        SegmentQualityTest(
            t.segment,
            t.feature,
            t.measure,
            t.ratio,
            t.reference_ratio,
            t.n_window,
            t.n_reference,
            t.p_value,
            None if np.isnan(adjusted) else float(adjusted),
            bool(hit),
        )
        for t, adjusted, hit in zip(tests, family.adjusted, family.rejected, strict=True)
    )
    return SegmentQualityResult(decided, method, alpha, family.n_tests)
