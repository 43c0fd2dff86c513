"""FeatureDrift.distance: one direction (higher is more drift) whatever statistic decided."""

import math

import pytest

from monitor.evaluation.results import FeatureDrift

STATISTICS = {"wasserstein": 0.31, "jensen_shannon": 0.12, "psi": 0.4, "hellinger": 0.2}


def drift(method: str, kind: str = "numeric", statistics: dict[str, float] | None = None) -> FeatureDrift:
    stats = STATISTICS if statistics is None else statistics
    value = 0.003 if method in {"ks", "chi_square"} else stats.get(method, math.nan)
    return FeatureDrift("x", kind, method, value, 0.05, True, 0.003, 500, 400, True, stats)


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("wasserstein", ("wasserstein", 0.31)),
        ("jensen_shannon", ("jensen_shannon", 0.12)),
        ("psi", ("psi", 0.4)),
        ("hellinger", ("hellinger", 0.2)),
        ("ks", ("wasserstein", 0.31)),  # the p-value's stand-in is the distance auto pairs with it
        ("chi_square", ("jensen_shannon", 0.12)),
    ],
)
def test_distance_is_the_methods_own_or_the_one_paired_with_its_test(
    method: str, expected: tuple[str, float]
) -> None:
    assert drift(method).distance == expected


def test_a_categorical_column_tested_by_ks_falls_back_to_jensen_shannon() -> None:
    categorical = {k: v for k, v in STATISTICS.items() if k != "wasserstein"}
    assert drift("ks", "categorical", categorical).distance == ("jensen_shannon", 0.12)


def test_no_distance_without_statistics_or_with_a_non_finite_one() -> None:
    assert drift("ks", statistics={}).distance is None
    assert drift("wasserstein", statistics={"wasserstein": math.nan}).distance is None
