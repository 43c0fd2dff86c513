"""Data quality per segment: a rise of missing or out-of-range values in one segment is flagged
there and nowhere else; stationary segments keep the family's false alarms at the level."""

import numpy as np
import pytest

from monitor.core.segment_quality import segment_quality, segment_quality_tests
from monitor.core.segments import SegmentProfiles

KINDS = {f"n{i}": "numeric" for i in range(10)} | {"c0": "categorical", "c1": "categorical"}
SEGMENTS = [f"s{i:02d}" for i in range(12)]


def stream(rng: np.random.Generator, n: int) -> tuple[dict, np.ndarray]:
    rows: dict[str, np.ndarray] = {f"n{i}": rng.normal(size=n) for i in range(10)}
    for name in ("c0", "c1"):
        rows[name] = np.array(["a", "b", "c"], dtype=object)[rng.choice(3, n)]
    for name in rows:  # 2 % missing everywhere
        missing = rng.random(n) < 0.02
        rows[name] = rows[name].astype(object if name.startswith("c") else float)
        rows[name][missing] = None if name.startswith("c") else np.nan
    return rows, np.array(SEGMENTS, dtype=object)[rng.choice(len(SEGMENTS), n)]


@pytest.fixture(scope="module")
def reference() -> SegmentProfiles:
    rows, segment = stream(np.random.default_rng(1), 60_000)
    return SegmentProfiles.fit(rows, KINDS, segment, max_segments=10)


def test_a_quality_drop_in_one_segment_is_flagged_there_only(reference):
    rng = np.random.default_rng(2)
    rows, segment = stream(rng, 12_000)
    in_s03 = segment == "s03"
    rows["n4"][in_s03 & (rng.random(len(segment)) < 0.10)] = np.nan  # 2 % -> ~12 % missing
    rows["n7"][in_s03 & (rng.random(len(segment)) < 0.05)] = 1e6  # out of the reference's range
    rows["c1"][in_s03 & (rng.random(len(segment)) < 0.05)] = "zz"  # a category never seen
    window = reference.window().update(rows, segment)
    result = segment_quality(reference, window)
    flagged = {(t.segment, t.feature, t.measure) for t in result.degraded}
    assert flagged == {("s03", "n4", "missing"), ("s03", "n7", "out_of_range"), ("s03", "c1", "unseen")}
    missing = next(t for t in result.degraded if t.measure == "missing")
    assert missing.ratio > 0.08 and missing.reference_ratio < 0.03 and missing.adjusted_p_value < 0.05
    assert result.n_tests == 11 * 12 * 2  # 11 segments (10 + other) x 12 features x 2 measures


def test_fewer_bad_rows_than_the_reference_is_no_alarm_and_small_segments_are_untested(reference):
    rng = np.random.default_rng(3)
    rows, segment = stream(rng, 4000)
    for name, values in rows.items():  # no missing values at all: quality improved
        rows[name] = np.nan_to_num(values) if values.dtype == float else np.where(values == None, "a", values)  # noqa: E711
    segment[:200] = "s00"
    segment[200:] = np.where(segment[200:] == "s00", "s01", segment[200:])  # s00: 200 rows, s01 ~ 700
    window = reference.window().update(rows, segment)
    assert not segment_quality(reference, window, min_rows=30).degraded
    small = segment_quality(reference, window, min_rows=250)
    untested = {t.segment for t in small.tests if t.p_value is None}
    assert untested == {"s00"}
    assert small.n_tests == 10 * 12 * 2


def test_golden_stationary_windows_keep_the_family_wise_rate_at_the_level(reference):
    """200 stationary windows of 12,000 rows (11 segments x 12 features x 2 measures = 264 tests
    each, ~2 % missing everywhere): the share of windows with any quality alarm stays at or below
    alpha = 0.05 under either control (measured: 2 of 200 for both), where testing each share at
    0.05 alarms in every window."""
    rng = np.random.default_rng(4)
    alarms = dict.fromkeys(("benjamini_hochberg", "holm"), 0)
    uncontrolled = 0
    for _ in range(200):
        rows, segment = stream(rng, 12_000)
        window = reference.window().update(rows, segment)
        for method in alarms:
            alarms[method] += bool(segment_quality(reference, window, method=method).degraded)  # type: ignore[arg-type]
        uncontrolled += any(
            t.p_value is not None and t.p_value <= 0.05 for t in segment_quality_tests(reference, window)
        )
    assert all(count <= 0.05 * 200 for count in alarms.values()), alarms
    assert uncontrolled >= 0.9 * 200
