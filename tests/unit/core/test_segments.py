"""Segments: the cardinality cap, per-segment sketches (merge, state), and golden test (c): 50
stationary segments x 20 features keep the family-wise false-alarm rate at the configured level."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kstwobign

from monitor.core.segments import OTHER, SegmentMap, SegmentProfiles, decide, segment_drift, segment_tests
from monitor.errors import DataError
from tests.unit.core.simulated import Classifier, regression_rows

N_SEGMENTS = 60  # values in the stream; the cap keeps 50
CAP = 50
NUMERIC = [f"n{i}" for i in range(15)]
CATEGORICAL = [f"c{i}" for i in range(3)]
KINDS = {name: "numeric" for name in NUMERIC} | {name: "categorical" for name in CATEGORICAL}
# The models' outputs are monitored per segment too: the classifier's score, the regressor's prediction.
KINDS |= {"score": "numeric", "prediction": "numeric"}
SHARES = 1.0 / np.arange(1, N_SEGMENTS + 1) ** 0.5
SHARES /= SHARES.sum()


def stream(rng: np.random.Generator, n: int, shift_segment: str | None = None) -> tuple[dict, np.ndarray]:
    segment = np.array([f"s{i:02d}" for i in rng.choice(N_SEGMENTS, n, p=SHARES)], dtype=object)
    rows: dict[str, np.ndarray] = {}
    for i, name in enumerate(NUMERIC):
        rows[name] = rng.gamma(2.0, 1.0, n) if i % 3 == 0 else rng.normal(size=n)
    for name in CATEGORICAL:
        rows[name] = np.array(["a", "b", "c", "d"], dtype=object)[rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])]
    f, prediction, _ = regression_rows(rng, n)
    rows["score"] = Classifier().score(f)
    rows["prediction"] = prediction
    if shift_segment is not None:
        rows["n1"] = rows["n1"] + np.where(segment == shift_segment, 0.5, 0.0)
    rows["n2"][rng.random(n) < 0.01] = np.nan  # some missing values
    return rows, segment


@pytest.fixture(scope="module")
def reference() -> SegmentProfiles:
    rows, segment = stream(np.random.default_rng(100), 100_000)
    return SegmentProfiles.fit(rows, KINDS, segment, max_segments=CAP)


def test_the_cap_keeps_the_most_frequent_segments():
    segment_map = SegmentMap.fit(["b", "a", "a", "c", "c", None, "d", "b"], max_segments=2)
    assert segment_map.segments == ("a", "b")  # a, b and c have 2 each: ties by name
    assert segment_map.labels == ("a", "b", OTHER)
    np.testing.assert_array_equal(segment_map.codes(["a", "c", None, "zz", "b"]), [0, 2, 2, 2, 1])
    assert SegmentMap.fit([1, 1, 2]).codes(np.array([1.0, 2])).tolist() == [0, 1]  # canonical labels


def test_profiles_hold_the_cap_plus_other(reference):
    assert len(reference.segment_map.labels) == CAP + 1
    assert reference.rows("s00", "n0") > reference.rows("s49", "n0") > 0
    assert reference.rows(OTHER, "n0") > 0  # the 10 rarest segments


@settings(max_examples=15, deadline=None)
@given(cut=st.integers(0, 3000), seed=st.integers(0, 5))
def test_merge_of_a_split_equals_one_window_and_state_round_trips(reference, cut, seed):
    rows, segment = stream(np.random.default_rng(seed), 3000)
    whole = reference.window().update(rows, segment)
    tail = reference.window().update({k: v[cut:] for k, v in rows.items()}, segment[cut:])
    head = reference.window().update({k: v[:cut] for k, v in rows.items()}, segment[:cut])
    merged = tail.merge(head)
    again = SegmentProfiles.from_state(json.loads(json.dumps(merged.to_state())))
    expected = whole.sketches
    for result in (merged, again):
        sketches = result.sketches
        for label in reference.segment_map.labels:
            for name in KINDS:
                a, b = sketches[label][name], expected[label][name]
                assert a.n_present == b.n_present and a.missing == b.missing
                np.testing.assert_array_equal(a.counts, b.counts)


def test_a_drifted_segment_is_found(reference):
    rows, segment = stream(np.random.default_rng(101), 50_000, shift_segment="s03")
    result = segment_drift(reference, reference.window().update(rows, segment))
    assert {(t.segment, t.feature) for t in result.drifted} == {("s03", "n1")}
    assert result.n_tests == (CAP + 1) * len(KINDS)


def test_small_segments_are_left_untested(reference):
    rows, segment = stream(np.random.default_rng(102), 500)
    result = segment_drift(reference, reference.window().update(rows, segment), min_rows=30)
    untested = [t for t in result.tests if t.p_value is None]
    assert untested and all(t.n_window < 30 and not t.drift_detected for t in untested)
    assert result.n_tests == len(result.tests) - len(untested)


@pytest.mark.slow
def test_golden_family_wise_false_alarms_stay_at_the_level(reference):
    """150 stationary windows of 10,000 rows (~25 to 1,000 rows per segment): the share of windows
    with any alarm among the 51 x 20 pairs stays at alpha under either control; tested one by one,
    nearly every window would alarm."""
    rng = np.random.default_rng(103)
    alpha, windows = 0.05, 150
    any_alarm = dict.fromkeys(("benjamini_hochberg", "holm"), 0)
    uncontrolled = 0
    for _ in range(windows):
        rows, segment = stream(rng, 10_000)
        tests = segment_tests(reference, reference.window().update(rows, segment))
        for method in any_alarm:
            any_alarm[method] += bool(decide(tests, alpha, method).drifted)  # type: ignore[arg-type]
        uncontrolled += any(t.p_value is not None and t.p_value <= alpha for t in tests)
    for method, alarms in any_alarm.items():
        rate = alarms / windows
        print(f"{method}: family-wise false-alarm rate {rate:.3f} (alpha {alpha})")
        assert rate <= alpha + 2 * np.sqrt(alpha * (1 - alpha) / windows), method
    print(f"uncontrolled: {uncontrolled / windows:.2f}")
    assert uncontrolled / windows > 0.9


def test_bad_input(reference):
    with pytest.raises(DataError, match="max_segments"):
        SegmentMap.fit(["a"], max_segments=0)
    with pytest.raises(DataError, match="'n0'"):
        reference.window().update({}, np.array(["s00"], dtype=object))
    other = SegmentProfiles.fit(
        {"n0": np.arange(100.0)}, {"n0": "numeric"}, np.array(["x"] * 100, dtype=object)
    )
    with pytest.raises(DataError, match="segments"):
        segment_drift(reference, other)


def test_the_state_holds_each_features_edges_once_and_the_older_form_still_loads(reference):
    rows, segment = stream(np.random.default_rng(7), 5000)
    window = reference.window().update(rows, segment)
    state = json.loads(json.dumps(window.to_state()))
    assert set(state["edges"]) == {n for n, k in KINDS.items() if k == "numeric"}
    assert not any("edges" in sk for f in state["sketches"].values() for sk in f.values())
    # The form with the edges in every sketch (written before) loads to the same profiles.
    older = {
        "segments": state["segments"],
        "sketches": {s: {n: sk.to_state() for n, sk in f.items()} for s, f in window.sketches.items()},
    }
    for restored in (
        SegmentProfiles.from_state(state),
        SegmentProfiles.from_state(json.loads(json.dumps(older))),
    ):
        assert restored.to_state() == window.to_state()
        assert segment_drift(reference, restored) == segment_drift(reference, window)


def test_each_numeric_pair_is_the_binned_ks_of_its_two_sketches(reference):
    """segment_tests computes every segment's D and p-value of a feature at once: each equals the
    binned Kolmogorov-Smirnov of that segment's reference and window sketches alone."""
    rows, segment = stream(np.random.default_rng(104), 20_000, shift_segment="s05")
    window = reference.window().update(rows, segment)
    tests = {(t.segment, t.feature): t for t in segment_tests(reference, window)}
    for label in ("s00", "s05", OTHER):
        ref, win = reference.sketch(label, "n1"), window.sketch(label, "n1")
        n, m = ref.n_present, win.n_present
        d = float(np.abs(np.cumsum(ref.counts) / n - np.cumsum(win.counts) / m).max())
        p = float(kstwobign.sf(d * np.sqrt(n * m / (n + m))))
        assert (tests[label, "n1"].statistic, tests[label, "n1"].p_value) == (d, p)
