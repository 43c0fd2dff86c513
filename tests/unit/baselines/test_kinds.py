"""Feature kinds inferred from a training file: the stated rule, each branch, and its invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.baselines.kinds import INTEGER_CATEGORIES_MAX, infer_kind, infer_kinds, infer_task

N = 200
rng = np.random.default_rng(0)


@pytest.mark.parametrize(
    ("name", "values", "kind", "words"),
    [
        ("income", rng.normal(50, 10, N), "numeric", "float"),
        ("children", rng.integers(0, 4, N), "categorical", "4 distinct"),
        ("age", rng.integers(18, 90, N), "numeric", "integer"),
        ("plan", rng.choice(["basic", "pro"], N), "categorical", "string, 2"),
        ("vip", rng.random(N) < 0.3, "categorical", "boolean"),
        ("region", pd.Categorical(rng.choice(["eu", "us"], N)), "categorical", "category"),
        ("customer_id", np.arange(N), None, "an id"),
        ("email", [f"user{i}@example.org" for i in range(N)], None, "distinct"),
        ("signup", pd.date_range("2026-01-01", periods=N, freq="h"), None, "dates"),
        ("signup_text", pd.date_range("2026-01-01", periods=N, freq="h").astype(str), None, "dates/times"),
        ("const", np.ones(N, dtype=int), None, "constant (1)"),
        ("empty", np.full(N, np.nan), None, "empty"),
        ("mixed", ["a", 1] * (N // 2), None, "mixed types"),
    ],
)
def test_each_branch_of_the_rule(name: str, values: object, kind: str | None, words: str) -> None:
    decided = infer_kind(name, pd.Series(values, name=name))
    assert decided.kind == kind
    assert words in decided.reason


def test_an_integer_column_distinct_per_row_is_a_feature_unless_named_like_an_id() -> None:
    values = pd.Series(rng.permutation(N) * 7)
    assert infer_kind("balance_cents", values).kind == "numeric"
    for name in ("id", "user_id", "userId", "row-index", "Unnamed: 0", "uuid"):
        assert infer_kind(name, values).kind is None, name


def test_agrees_with_evidentlys_column_types() -> None:
    """The rule is Evidently 0.7's: the same frame gets the same numeric/categorical split."""
    from evidently.core.datasets import ColumnType, infer_column_type

    frame = pd.DataFrame(
        {
            "f": rng.normal(0, 1, N),
            "few": rng.integers(0, INTEGER_CATEGORIES_MAX, N),
            "many": rng.integers(0, 1000, N),
            "s": rng.choice(list("abcde"), N),
            "b": rng.random(N) < 0.5,
        }
    )
    expected = {ColumnType.Numerical: "numeric", ColumnType.Categorical: "categorical"}
    for column in infer_kinds(frame):
        assert column.kind == expected[infer_column_type(frame[column.name])], column


@given(
    st.lists(
        st.one_of(
            st.lists(st.floats(allow_nan=True, allow_infinity=False, width=32), min_size=5, max_size=5),
            st.lists(st.integers(-5, 5), min_size=5, max_size=5),
            st.lists(st.sampled_from(["x", "y", None]), min_size=5, max_size=5),
            st.lists(st.booleans(), min_size=5, max_size=5),
        ),
        min_size=1,
        max_size=6,
    ),
    st.sets(st.integers(0, 5)),
)
def test_one_decision_per_column_in_order_and_labels_are_never_fractions(
    columns: list[list[object]], excluded: set[int]
) -> None:
    frame = pd.DataFrame({f"c{i}": values for i, values in enumerate(columns)})
    exclude = {f"c{i}" for i in excluded}
    decided = infer_kinds(frame, exclude)
    assert [d.name for d in decided] == [c for c in frame.columns if c not in exclude]
    for d in decided:
        assert d.reason
        values = frame[d.name].dropna()
        if d.kind == "categorical" and pd.api.types.is_float_dtype(values):
            raise AssertionError(f"{d.name}: a float column made categorical")
        if values.nunique() <= 1:
            assert d.kind is None  # nothing to compare in an empty or constant column


def test_task_from_the_target() -> None:
    assert infer_task(pd.Series(rng.integers(0, 2, N), name="y"))[0] == "classification"
    assert infer_task(pd.Series(rng.choice(["yes", "no"], N), name="y"))[0] == "classification"
    assert infer_task(pd.Series([0.0, 1.0, np.nan] * 10, name="y"))[0] == "classification"
    task, why = infer_task(pd.Series(rng.normal(100, 20, N), name="price"))
    assert task == "regression" and "'price'" in why
    assert infer_task(pd.Series(rng.integers(0, 500, N), name="count"))[0] == "regression"
