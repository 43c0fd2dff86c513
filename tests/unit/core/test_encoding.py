"""The shared row encoder: standardised numbers, indicator columns, missing values, state."""

import json

import numpy as np
import pytest

from monitor.core import encoding
from monitor.core.encoding import OTHER, TabularEncoder
from monitor.core.labels import canonical_label
from monitor.errors import DataError


def test_reference_columns_come_out_standardised():
    rng = np.random.default_rng(0)
    ref = {"a": rng.normal(5, 2, 10_000), "c": rng.choice(["x", "y", "z"], 10_000, p=[0.6, 0.3, 0.1])}
    enc = TabularEncoder.fit(ref, {"a": "numeric", "c": "categorical"})
    x = enc.transform(ref)
    assert x.shape == (10_000, 1 + 4)  # x, y, z, other
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(x[:, :4].std(axis=0), 1.0, atol=1e-9)  # "other" never fires: unit scale
    assert enc.columns[1].categories == ("x", "y", "z", OTHER)


def test_unseen_rare_and_missing_values():
    ref = {"c": np.array(["a"] * 90 + ["b"] * 9 + ["rare"] * 1, dtype=object), "n": np.arange(100.0)}
    enc = TabularEncoder.fit(ref, {"c": "categorical", "n": "numeric"}, min_share=0.05)
    rows = {"c": np.array(["a", "rare", "new", None], dtype=object), "n": np.array([49.5, np.nan, 0.0, 1.0])}
    x = enc.transform(rows)
    col = enc.columns[0]
    hot = (x[:, :3] * np.asarray(col.scales) + np.asarray(col.means)).round(9)
    np.testing.assert_array_equal(hot, [[1, 0, 0], [0, 0, 1], [0, 0, 1], [0, 0, 0]])
    assert x[1, 3] == 0.0 and x[0, 3] == pytest.approx(0.0)  # missing -> the mean
    assert TabularEncoder.fit({"c": np.array([1, 1, 2])}, {"c": "categorical"}).columns[0].categories[:2] == (
        "1",
        "2",
    )


def test_state_round_trip_and_errors():
    ref = {"a": np.arange(10.0), "c": np.array(list("aabbbccccd"), dtype=object)}
    enc = TabularEncoder.fit(ref, {"a": "numeric", "c": "categorical"})
    again = TabularEncoder.from_state(json.loads(json.dumps(enc.to_state())))
    np.testing.assert_array_equal(again.transform(ref), enc.transform(ref))
    with pytest.raises(DataError, match="'c': missing"):
        enc.transform({"a": np.arange(3.0)})
    with pytest.raises(DataError, match="'c': expected 2 values"):
        enc.transform({"a": np.arange(2.0), "c": ref["c"][:3]})
    with pytest.raises(DataError, match=r"'a'.*non-numeric"):
        TabularEncoder.fit({"a": np.array(["x"], dtype=object)}, {"a": "numeric"})
    with pytest.raises(DataError, match="unknown kind"):
        TabularEncoder.fit({"a": np.arange(3.0)}, {"a": "text"})  # type: ignore[dict-item]
    with pytest.raises(DataError, match="inconsistent"):
        TabularEncoder.from_state(
            {"columns": [{"name": "a", "kind": "numeric", "categories": [], "means": [], "scales": []}]}
        )


def test_transform_equals_the_rule_applied_row_by_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each distinct value is looked up once (`encoding._codes`); the matrix is the one the
    rule gives each row on its own, to the bit: mixed label types, missing, rare and unseen values;
    the same with the values' positions remembered from the calls before, and with that memory
    full."""
    rng = np.random.default_rng(3)
    n = 3_000
    ref = {
        "x": rng.normal(5, 2, n),
        "c": rng.choice(["a", "b", "c", "rare"], n, p=[0.6, 0.3, 0.0995, 0.0005]).astype(object),
        "i": rng.integers(0, 5, n),
        "f": rng.integers(0, 4, n).astype(float),
    }
    kinds = {"x": "numeric", "c": "categorical", "i": "categorical", "f": "categorical"}
    enc = TabularEncoder.fit(ref, kinds, min_share=0.01)  # type: ignore[arg-type]
    rows = {
        "x": np.r_[rng.normal(5, 2, 96), np.nan, 0.0, 1e300, -1.5],
        "c": np.array(
            [*rng.choice(["a", "b", "c", "rare", "new"], 95), None, np.nan, 1, 1.0, "1"], dtype=object
        ),
        "i": rng.integers(0, 7, 100),
        "f": np.r_[rng.integers(0, 6, 98).astype(float), np.nan, 2.5],
    }
    expected = np.empty((100, enc.width))
    for r in range(100):
        row: list[float] = []
        for col in enc.columns:
            value = rows[col.name][r]
            if col.kind == "numeric":
                row.append(0.0 if np.isnan(value) else (value - col.means[0]) / col.scales[0])
                continue
            label = canonical_label(value)
            hot = [0.0] * col.width
            if label is not None:
                kept = col.categories[:-1]
                hot[kept.index(label) if label in kept else col.width - 1] = 1.0
            row += [(h - m) / s for h, m, s in zip(hot, col.means, col.scales, strict=True)]
        expected[r] = row
    np.testing.assert_array_equal(enc.transform(rows), expected)
    as_objects = {name: np.asarray(values, dtype=object) for name, values in rows.items()}
    np.testing.assert_array_equal(enc.transform(as_objects), expected)
    np.testing.assert_array_equal(enc.transform(rows), expected)  # every value from the memo now
    bounded = TabularEncoder(enc.columns)
    monkeypatch.setattr(encoding, "_MEMO", 2)  # most values looked up again each time
    for _ in range(2):
        np.testing.assert_array_equal(bounded.transform(as_objects), expected)
    assert all(len(memo) <= 2 for memo in bounded._memos)
