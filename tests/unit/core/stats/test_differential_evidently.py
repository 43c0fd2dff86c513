"""Differential tests: driftline's drift statistics against Evidently 0.7.23 on the same data.

Three layers, each on normal, lognormal, heavy-tailed (Student t with 2 degrees of freedom,
Cauchy), NaN-holding, discrete (4 and 2 values) numeric columns and on categorical columns
with rare, unseen and missing values, below and above Evidently's 1000-row switch:

1. Evidently's legacy stattest functions called directly against our `*_samples`
   functions (the exact path): every statistic both compute agrees within 1e-6.
2. Evidently's `DataDriftPreset` (per-column value, method and decision) against
   `evaluate` when both row samples are complete (the exact path).
3. The stored-baseline path: a baseline built from the reference, a window sketch whose
   row sample is too small to be complete (so `evaluate` works from the binned
   summaries), compared with Evidently on the full data.

Evidently's chi-square is a one-sample goodness-of-fit test that takes the reference
counts as exact expected frequencies; ours is the two-sample test on the contingency
table. Their p-values are deliberately not compared; instead the false-positive rate of
ours is checked, and for two categories ours must equal Evidently's z-test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import evidently
import numpy as np
import pandas as pd
import pytest
from evidently.legacy.calculations.stattests import (
    chi_stat_test,
    hellinger_stat_test,
    jensenshannon_stat_test,
    ks_stat_test,
    psi_stat_test,
    wasserstein_stat_test,
    z_stat_test,
)
from evidently.legacy.calculations.stattests.registry import StatTest, get_stattest
from evidently.legacy.core import ColumnType
from evidently.presets import DataDriftPreset
from numpy.typing import NDArray

from monitor.baselines.baseline import Baseline, build_baseline
from monitor.config import BaselineStoreConfig, FeatureConfig, ModelConfig
from monitor.core import stats
from monitor.evaluation.drift import evaluate
from monitor.evaluation.results import DriftReport

# Evidently's one-sample chi-square divides by zero when the current data holds a
# category the reference lacks; that warning is Evidently's, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")

EXACT = 1e-6
SMALL = (300, 500)
LARGE = (5000, 20000)
LARGE_REFERENCE = (20000, 5000)
SIZES = [SMALL, LARGE, LARGE_REFERENCE]
NOW = datetime(2026, 1, 1, tzinfo=UTC)

CONTINUOUS = ["normal", "normal_nan", "lognormal", "student_t2", "cauchy"]
DISCRETE = ["discrete4", "binary"]
NUMERIC = CONTINUOUS + DISCRETE
CATEGORICAL = ["category", "category_unseen3", "flag"]

# Evidently's display names of its default methods, and the driftline method that reproduces each.
# Evidently runs a z-test on two-valued columns; our two-sample chi-square equals it there.
METHOD_BY_DISPLAY_NAME = {
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensen_shannon",
    "K-S p_value": "ks",
    "chi-square p_value": "chi_square",
    "Z-test p_value": "chi_square",
}


# ---------------------------------------------------------------- data


def numeric_column(kind: str, rng: np.random.Generator, n: int, drifted: bool) -> NDArray[np.float64]:
    """One numeric column; `drifted` shifts or reweights it a little (some cross 0.1, some not)."""
    d = 1.0 if drifted else 0.0
    if kind == "normal":
        return rng.normal(0.25 * d, 1.0, n)
    if kind == "normal_nan":
        values = rng.normal(0.05 * d, 1.0, n)
        values[rng.random(n) < 0.05] = np.nan
        return values
    if kind == "lognormal":
        return rng.lognormal(0.15 * d, 1.0, n)
    if kind == "student_t2":
        return rng.standard_t(2, n) + 0.2 * d
    if kind == "cauchy":
        return rng.standard_cauchy(n) + 0.3 * d
    if kind == "discrete4":
        shares = [0.15, 0.2, 0.3, 0.35] if drifted else [0.1, 0.2, 0.3, 0.4]
        return rng.choice([0.0, 1.0, 2.0, 3.0], n, p=shares)
    if kind == "binary":
        return rng.choice([0.0, 1.0], n, p=[0.6, 0.4] if drifted else [0.7, 0.3])
    raise ValueError(kind)


def categorical_column(kind: str, rng: np.random.Generator, n: int, drifted: bool) -> NDArray[Any]:
    if kind == "category":
        # a rare category in the reference; one category the reference never saw in the current data
        keys = ["a", "b", "c", "d", "rare", "unseen"]
        shares = [0.3, 0.3, 0.2, 0.16, 0.02, 0.02] if drifted else [0.4, 0.3, 0.2, 0.097, 0.003, 0.0]
        return rng.choice(np.array(keys, dtype=object), n, p=shares)
    if kind == "category_unseen3":
        keys = ["a", "b", "c", "d", "e", "u1", "u2", "u3"]
        base = [0.3, 0.25, 0.2, 0.15, 0.1]
        shares = [s * 0.94 for s in base] + [0.03, 0.02, 0.01] if drifted else [*base, 0.0, 0.0, 0.0]
        return rng.choice(np.array(keys, dtype=object), n, p=shares)
    if kind == "flag":
        values = rng.choice(
            np.array(["yes", "no"], dtype=object), n, p=[0.56, 0.44] if drifted else [0.5, 0.5]
        )
        values[rng.random(n) < 0.05] = None
        return values
    raise ValueError(kind)


def column_pair(kind: str, sizes: tuple[int, int], seed: int = 0) -> tuple[NDArray[Any], NDArray[Any]]:
    rng = np.random.default_rng([seed, *sizes, sum(map(ord, kind))])
    make: Callable[..., NDArray[Any]] = numeric_column if kind in NUMERIC else categorical_column
    return make(kind, rng, sizes[0], False), make(kind, rng, sizes[1], True)


def frame_pair(sizes: tuple[int, int], seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    ref: dict[str, Any] = {}
    cur: dict[str, Any] = {}
    for kind in NUMERIC + CATEGORICAL:
        ref[kind], cur[kind] = column_pair(kind, sizes, seed)
    rng = np.random.default_rng([seed, *sizes])
    ref["prediction"] = rng.integers(0, 2, sizes[0])
    cur["prediction"] = rng.integers(0, 2, sizes[1])
    return pd.DataFrame(ref), pd.DataFrame(cur)


MODEL = ModelConfig(
    name="differential",
    task="classification",
    features=[FeatureConfig(name=n, kind="numeric") for n in NUMERIC]
    + [FeatureConfig(name=n, kind="categorical") for n in CATEGORICAL],
)


# ---------------------------------------------------------------- Evidently helpers


def evidently_clean(values: NDArray[Any]) -> pd.Series:
    """What Evidently's `get_one_column_drift` passes to a stattest: infinities and NaN dropped."""
    return pd.Series(values).replace([-np.inf, np.inf], np.nan).dropna()


def evidently_score(test: StatTest, ref: NDArray[Any], cur: NDArray[Any], numeric: bool) -> float:
    kind = ColumnType.Numerical if numeric else ColumnType.Categorical
    return float(test(evidently_clean(ref), evidently_clean(cur), kind, None).drift_score)


@dataclass(frozen=True)
class EvidentlyColumn:
    method: str  # driftline's name for Evidently's method
    display_name: str
    value: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class PresetRun:
    sizes: tuple[int, int]
    reference: pd.DataFrame
    current: pd.DataFrame
    columns: dict[str, EvidentlyColumn]
    n_drifted: int
    share_drifted: float


def run_data_drift_preset(
    ref: pd.DataFrame, cur: pd.DataFrame
) -> tuple[dict[str, EvidentlyColumn], float, float]:
    definition = evidently.DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    report = evidently.Report([DataDriftPreset()], include_tests=True)
    snapshot = report.run(
        current_data=evidently.Dataset.from_pandas(cur, data_definition=definition),
        reference_data=evidently.Dataset.from_pandas(ref, data_definition=definition),
    ).dict()
    # Evidently's own decision per column is the status of its "drift" test.
    failed = {
        t["metric_config"]["params"]["column"]
        for t in snapshot["tests"]
        if t["id"] == "drift" and getattr(t["status"], "value", t["status"]) == "FAIL"
    }
    columns: dict[str, EvidentlyColumn] = {}
    count = share = float("nan")
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":ValueDrift"):
            name = config["column"]
            columns[name] = EvidentlyColumn(
                METHOD_BY_DISPLAY_NAME[config["method"]],
                config["method"],
                float(metric["value"]),
                float(config["threshold"]),
                name in failed,
            )
        elif config["type"].endswith(":DriftedColumnsCount"):
            count, share = metric["value"]["count"], metric["value"]["share"]
    return columns, count, share


def evidently_default(ref: NDArray[Any], cur: NDArray[Any], numeric: bool) -> EvidentlyColumn:
    """Evidently's default method, value and decision for one column: what `ValueDrift` runs
    inside the preset (`get_one_column_drift` -> `get_stattest`), without the preset's plots."""
    kind = ColumnType.Numerical if numeric else ColumnType.Categorical
    ref_s, cur_s = evidently_clean(ref), evidently_clean(cur)
    test = get_stattest(ref_s, cur_s, kind, None)
    result = test(ref_s, cur_s, kind, None)
    return EvidentlyColumn(
        METHOD_BY_DISPLAY_NAME[test.display_name],
        test.display_name,
        float(result.drift_score),
        float(result.actual_threshold),
        bool(result.drifted),
    )


def one_sample_chi_square(column: EvidentlyColumn) -> bool:
    """Evidently's chi-square (more than two values): a different test from ours, not compared."""
    return column.display_name == "chi-square p_value"


# ---------------------------------------------------------------- driftline helpers


def build(ref: pd.DataFrame, reservoir_size: int, seed: int = 0) -> Baseline:
    settings = BaselineStoreConfig(reservoir_size=reservoir_size, seed=seed)
    return build_baseline(ref, MODEL, settings, "1", "differential-test", NOW)


def evaluate_window(baseline: Baseline, cur: pd.DataFrame, window_reservoir: int) -> DriftReport:
    window = baseline.profile.empty_like(reservoir_size=window_reservoir)
    window.update(
        {name: cur[name].to_numpy() for name in NUMERIC + CATEGORICAL}, cur["prediction"].to_numpy()
    )
    return evaluate(window, baseline, MODEL)


# ================================================================ 1. legacy stattests, exact path


@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: f"{s[0]}-{s[1]}")
@pytest.mark.parametrize("kind", NUMERIC)
def test_numeric_sample_statistics_equal_evidentlys(kind: str, sizes: tuple[int, int]) -> None:
    ref, cur = column_pair(kind, sizes)
    ours = {
        "psi": (psi_stat_test, stats.psi_samples(ref, cur, numeric=True)),
        "jensen_shannon": (jensenshannon_stat_test, stats.jensen_shannon_samples(ref, cur, numeric=True)),
        "hellinger": (hellinger_stat_test, stats.hellinger_samples(ref, cur, numeric=True)),
        "wasserstein": (wasserstein_stat_test, stats.wasserstein_norm_samples(ref, cur)),
        "ks": (ks_stat_test, stats.ks_samples(ref, cur).p_value),
    }
    for name, (evidently_test, value) in ours.items():
        assert value == pytest.approx(evidently_score(evidently_test, ref, cur, numeric=True), abs=EXACT), (
            name
        )


@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: f"{s[0]}-{s[1]}")
@pytest.mark.parametrize("kind", CATEGORICAL)
def test_categorical_sample_statistics_equal_evidentlys(kind: str, sizes: tuple[int, int]) -> None:
    ref, cur = column_pair(kind, sizes)
    ours = {
        "psi": (psi_stat_test, stats.psi_samples(ref, cur, numeric=False)),
        "jensen_shannon": (jensenshannon_stat_test, stats.jensen_shannon_samples(ref, cur, numeric=False)),
        "hellinger": (hellinger_stat_test, stats.hellinger_samples(ref, cur, numeric=False)),
    }
    for name, (evidently_test, value) in ours.items():
        assert value == pytest.approx(evidently_score(evidently_test, ref, cur, numeric=False), abs=EXACT), (
            name
        )


@pytest.mark.parametrize(
    ("n_ref", "n_cur", "p_ref", "p_cur", "labels"),
    [
        (300, 500, 0.5, 0.56, ("no", "yes")),
        (40, 25, 0.2, 0.5, ("no", "yes")),
        (1000, 1000, 0.3, 0.3, (0.0, 1.0)),
        (900, 200, 0.05, 0.12, (0.0, 1.0)),
        (5000, 20000, 0.7, 0.69, ("a", "b")),
    ],
)
def test_two_category_chi_square_equals_evidentlys_z_test(
    n_ref: int, n_cur: int, p_ref: float, p_cur: float, labels: tuple[Any, Any]
) -> None:
    rng = np.random.default_rng(n_ref + n_cur)
    keys = np.array(labels, dtype=object if isinstance(labels[0], str) else np.float64)
    ref = rng.choice(keys, n_ref, p=[1 - p_ref, p_ref])
    cur = rng.choice(keys, n_cur, p=[1 - p_cur, p_cur])
    theirs = evidently_score(z_stat_test, ref, cur, numeric=False)
    assert stats.chi_square_samples(ref, cur).p_value == pytest.approx(theirs, abs=1e-9)


def test_two_sample_chi_square_keeps_its_nominal_false_positive_rate() -> None:
    """Stationary data, 300 reference and 500 current rows, 600 seeded repeats at alpha = 0.05.

    Evidently's one-sample chi-square ignores the reference's own sampling noise, which
    inflates its statistic by a factor of about 1 + n_current / n_reference (2.7 here), so it
    flags identical distributions far more often than 5% (measured: 41%; ours 5.2%). The
    two-sample test on the contingency table accounts for both samples and stays near 5%: we
    require a rate in [0.02, 0.09] (with 600 repeats the binomial standard error at 5% is 0.9
    points).
    """
    rng = np.random.default_rng(20260101)
    keys = np.array(["a", "b", "c", "d"], dtype=object)
    shares = [0.4, 0.3, 0.2, 0.1]
    repeats = 600
    ours = theirs = 0
    for _ in range(repeats):
        ref = rng.choice(keys, 300, p=shares)
        cur = rng.choice(keys, 500, p=shares)
        ours += stats.chi_square_samples(ref, cur).p_value < 0.05
        theirs += evidently_score(chi_stat_test, ref, cur, numeric=False) < 0.05
    ours_rate, theirs_rate = ours / repeats, theirs / repeats
    assert 0.02 <= ours_rate <= 0.09, ours_rate
    assert theirs_rate > 2 * ours_rate, (theirs_rate, ours_rate)


# ================================================================ 2. DataDriftPreset, exact path

PRESET_SIZES = [SMALL, (2000, 5000)]  # the preset costs ~0.7 s a run; 5000/20000 is covered above


@pytest.fixture(scope="module", params=PRESET_SIZES, ids=lambda s: f"{s[0]}-{s[1]}")
def preset_run(request: pytest.FixtureRequest) -> PresetRun:
    ref, cur = frame_pair(request.param)
    columns, count, share = run_data_drift_preset(ref, cur)
    return PresetRun(request.param, ref, cur, columns, int(count), float(share))


def exact_statistic(method: str, ref: NDArray[Any], cur: NDArray[Any], numeric: bool) -> float:
    if method == "wasserstein":
        return stats.wasserstein_norm_samples(ref, cur)
    if method == "jensen_shannon":
        return stats.jensen_shannon_samples(ref, cur, numeric)
    if method == "ks":
        return stats.ks_samples(ref, cur).p_value
    if method == "chi_square":
        return stats.chi_square_samples(ref, cur).p_value
    raise ValueError(method)


def test_preset_chooses_the_documented_methods(preset_run: PresetRun) -> None:
    """The preset's choice is what `monitor.evaluation.drift.auto_method` mirrors: pinned to show a change."""
    small = preset_run.sizes == SMALL
    assert set(preset_run.columns) == set(NUMERIC + CATEGORICAL)
    for name, column in preset_run.columns.items():
        if name in CONTINUOUS:
            assert column.method == ("ks" if small else "wasserstein"), name
        else:
            assert column.method == ("chi_square" if small else "jensen_shannon"), name


def test_preset_flags_some_columns_and_not_others(preset_run: PresetRun) -> None:
    """Guard on the test data itself: decisions are only worth comparing if both outcomes occur."""
    assert {c.drifted for c in preset_run.columns.values()} == {True, False}


def test_preset_equals_evidentlys_default_stattest_per_column(preset_run: PresetRun) -> None:
    """Validates the shortcut used in section 3: one column's `get_stattest` result is the preset's."""
    for name, column in preset_run.columns.items():
        direct = evidently_default(
            preset_run.reference[name].to_numpy(), preset_run.current[name].to_numpy(), name in NUMERIC
        )
        assert direct == column, name


def test_preset_values_equal_sample_functions(preset_run: PresetRun) -> None:
    for name, column in preset_run.columns.items():
        if one_sample_chi_square(column):
            continue
        ours = exact_statistic(
            column.method,
            preset_run.reference[name].to_numpy(),
            preset_run.current[name].to_numpy(),
            numeric=name in NUMERIC,
        )
        assert ours == pytest.approx(column.value, abs=EXACT), name


def test_evaluate_on_complete_samples_matches_preset(preset_run: PresetRun) -> None:
    n_ref, n_cur = preset_run.sizes
    baseline = build(preset_run.reference, reservoir_size=max(n_ref, 100))
    report = evaluate_window(baseline, preset_run.current, window_reservoir=n_cur)
    compared = 0
    for name, column in preset_run.columns.items():
        ours = report.feature(name)
        assert ours.exact, name
        assert ours.method == column.method, name
        if one_sample_chi_square(column):
            continue
        assert ours.value == pytest.approx(column.value, abs=EXACT), name
        assert ours.drift_detected == column.drifted, name
        compared += 1
    assert compared >= len(NUMERIC)
    if not any(one_sample_chi_square(c) for c in preset_run.columns.values()):
        assert report.n_drifted == preset_run.n_drifted
        assert report.drift_share == pytest.approx(preset_run.share_drifted, abs=1e-12)
        assert report.dataset_drift == (preset_run.share_drifted >= 0.5)


# ================================================================ 3. stored baseline, binned path

BINNED_SIZES = [LARGE, LARGE_REFERENCE]
WINDOW_RESERVOIR = 100  # far below the window's row count: the window's sample is incomplete


def binned_report(ref: pd.DataFrame, cur: pd.DataFrame) -> DriftReport:
    # The default baseline reservoir (5000 rows) keeps a 5000-row reference whole, not a 20000-row one;
    # either way the window's sample is incomplete, so every column goes through the binned path.
    report = evaluate_window(build(ref, reservoir_size=5000), cur, WINDOW_RESERVOIR)
    assert not any(f.exact for f in report.features)
    return report


@pytest.fixture(scope="module")
def binned_runs() -> list[tuple[pd.DataFrame, pd.DataFrame, DriftReport]]:
    """Both size pairs, seeds 0-2: reference and current frames and driftline's binned report."""
    runs = []
    for sizes in BINNED_SIZES:
        for seed in range(3):
            ref, cur = frame_pair(sizes, seed)
            runs.append((ref, cur, binned_report(ref, cur)))
    return runs


def binned_errors(
    runs: list[tuple[pd.DataFrame, pd.DataFrame, DriftReport]], column: str, statistic: str, test: StatTest
) -> list[float]:
    """|driftline's binned statistic - Evidently's on the full data| for each run."""
    errors = []
    for ref, cur, report in runs:
        theirs = evidently_score(test, ref[column].to_numpy(), cur[column].to_numpy(), column in NUMERIC)
        errors.append(abs(report.feature(column).statistics[statistic] - theirs))
    return errors


def test_stored_baseline_decisions_equal_evidentlys(
    binned_runs: list[tuple[pd.DataFrame, pd.DataFrame, DriftReport]],
) -> None:
    """At the preset's default methods and thresholds, the binned path flags exactly Evidently's columns."""
    for ref, cur, report in binned_runs:
        flagged = {
            name
            for name in NUMERIC + CATEGORICAL
            if evidently_default(ref[name].to_numpy(), cur[name].to_numpy(), name in NUMERIC).drifted
        }
        assert set(report.drifted_features) == flagged
        assert 0 < len(flagged) < len(NUMERIC + CATEGORICAL)  # both outcomes occur in the data


HEAVY_TAIL_WASSERSTEIN = (
    "binned normed Wasserstein misses Evidently's by 0.0054 on Cauchy data (20000-row reference, 5000-row "
    "window, seed 2; up to 0.0071 over seeds 0-9), not the 0.0015 stats/wasserstein.py states: the extreme "
    "quantile bins of a Cauchy reference (here [q(1e-4), q(3e-4)], 60 reference std wide, 4 and 2 values) "
    "are wide and the CDFs cross inside them, where |∫(F - G)| is only a lower bound"
)


@pytest.mark.parametrize(
    "column",
    [
        *[c for c in NUMERIC if c != "cauchy"],
        pytest.param("cauchy", marks=pytest.mark.xfail(strict=True, reason=HEAVY_TAIL_WASSERSTEIN)),
    ],
)
def test_stored_baseline_wasserstein_within_0_005(
    binned_runs: list[tuple[pd.DataFrame, pd.DataFrame, DriftReport]], column: str
) -> None:
    errors = binned_errors(binned_runs, column, "wasserstein", wasserstein_stat_test)
    assert max(errors) <= 0.005, [round(e, 5) for e in errors]


@pytest.mark.parametrize("column", ["category", "flag", "category_unseen3", "discrete4", "binary"])
def test_stored_baseline_jensen_shannon_exact_on_value_counts(
    binned_runs: list[tuple[pd.DataFrame, pd.DataFrame, DriftReport]], column: str
) -> None:
    """Unseen categories share one bucket, which leaves Jensen-Shannon unchanged (its docstring)."""
    assert max(binned_errors(binned_runs, column, "jensen_shannon", jensenshannon_stat_test)) <= 1e-9


# Unseen categories are kept key by key (up to 100 per window), so PSI's per-key zero filling
# matches Evidently's exactly.
@pytest.mark.parametrize("column", ["category", "flag", "discrete4", "binary", "category_unseen3"])
def test_stored_baseline_psi_exact_on_value_counts(
    binned_runs: list[tuple[pd.DataFrame, pd.DataFrame, DriftReport]], column: str
) -> None:
    assert max(binned_errors(binned_runs, column, "psi", psi_stat_test)) <= 1e-9


REBINNED = (
    "{statistic} rebinned from the baseline's quantile bins onto Evidently's Sturges bins (binning.rebin, "
    "a linear density per bin matched to the bin's mean) misses Evidently's by {err} on {column} "
    "(max over 5000/20000 and 20000/5000 rows, seeds 0-2), above the 1e-3 target"
)
# Measured max |error|: PSI normal 0.0048, normal+NaN 0.00059, lognormal 0.0081, t(2) 0.011,
# Cauchy 0.015; JS normal 0.00057, normal+NaN 0.0029, lognormal 0.0016, t(2) 0.0040, Cauchy 0.0062.
REBINNED_ERRORS = {
    ("normal", "psi"): 0.0048,
    ("lognormal", "psi"): 0.0081,
    ("student_t2", "psi"): 0.011,
    ("cauchy", "psi"): 0.015,
    ("normal_nan", "jensen_shannon"): 0.0029,
    ("lognormal", "jensen_shannon"): 0.0016,
    ("student_t2", "jensen_shannon"): 0.0040,
    ("cauchy", "jensen_shannon"): 0.0062,
}


def rebinned_case(column: str, statistic: str) -> Any:
    err = REBINNED_ERRORS.get((column, statistic))
    if err is None:
        return pytest.param(column, statistic)
    reason = REBINNED.format(statistic=statistic, err=err, column=column)
    return pytest.param(column, statistic, marks=pytest.mark.xfail(strict=True, reason=reason))


@pytest.mark.parametrize(
    ("column", "statistic"),
    [rebinned_case(c, s) for c in CONTINUOUS for s in ("psi", "jensen_shannon")],
)
def test_stored_baseline_rebinned_psi_and_js_within_1e_3(
    binned_runs: list[tuple[pd.DataFrame, pd.DataFrame, DriftReport]], column: str, statistic: str
) -> None:
    test = psi_stat_test if statistic == "psi" else jensenshannon_stat_test
    errors = binned_errors(binned_runs, column, statistic, test)
    assert max(errors) <= 1e-3, [round(e, 5) for e in errors]


def test_stored_baseline_hellinger_of_binary_feature_equals_evidentlys(
    binned_runs: list[tuple[pd.DataFrame, pd.DataFrame, DriftReport]],
) -> None:
    # For two values Evidently's numeric Hellinger puts each value in its own Sturges bin, so it
    # equals the Hellinger distance of the value shares: a well-defined target. (Quantile edges
    # [0, 1] with a closed last bin once put both values in one bin, and the distance was 0.)
    assert max(binned_errors(binned_runs, "binary", "hellinger", hellinger_stat_test)) <= EXACT
