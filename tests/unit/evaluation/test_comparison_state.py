"""The comparison's state: windows replaced as they are evaluated again, folded in window order once
both versions' are final, never counted again below the fold, and read back as stored; a
regressor's window read as sums of absolute errors."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any, cast

import pytest

from monitor.core.comparison import ComparisonSpec, MeanSums, PairedWindow
from monitor.evaluation.comparison import ComparisonState, window_sums
from tests.unit import canary_world as world


def test_windows_fold_in_order_once_both_versions_are_final_and_never_count_twice() -> None:
    state = ComparisonState(started=0)
    assert state.update(0, MeanSums(10, 8, 8), final=False, is_baseline=True)
    assert state.update(0, MeanSums(12, 9, 9), final=True, is_baseline=True)  # evaluated again: replaced
    assert state.update(1, MeanSums(5, 4, 4), final=True, is_baseline=True)
    state.fold()
    assert state.folded_before == -(2**62) and set(state.windows) == {0, 1}  # both wait for B
    assert state.update(0, MeanSums(7, 5, 5), final=True, is_baseline=False)
    state.fold()
    assert state.folded_before == 1 and set(state.windows) == {1}  # B's window 1 may still come
    assert state.update(2, MeanSums(6, 3, 3), final=True, is_baseline=False)
    state.fold()  # B had no window 1 (its window 2 is final): window 1 folds; 2 waits for A's
    assert state.folded_before == 2 and set(state.windows) == {2}
    assert (state.folded_a, state.folded_b) == (MeanSums(17, 13, 13), MeanSums(7, 5, 5))
    assert not state.update(0, MeanSums(7, 5, 5), final=True, is_baseline=False)  # a replay: ignored
    assert state.totals() == (MeanSums(17, 13, 13), MeanSums(13, 8, 8))
    back = ComparisonState.from_state(state.to_state())
    assert back == state and back.totals() == state.totals()
    broken = state.to_state() | {"verdict": "maybe"}
    with pytest.raises(ValueError, match="unknown verdict"):
        ComparisonState.from_state(broken)


def test_a_regressor_window_gives_sums_of_absolute_errors() -> None:
    cfg = world.config().models[0].model_copy(update={"task": "regression"})
    errors = [0.5, -1.5, 2.0, -0.25]
    metrics = {
        "n": 4,
        "mae": sum(abs(e) for e in errors) / 4,
        "rmse": math.sqrt(sum(e * e for e in errors) / 4),
    }
    result = cast(Any, SimpleNamespace(performance=SimpleNamespace(metrics=metrics)))
    sums = window_sums(cfg, result)
    assert sums.n == 4
    assert sums.total == pytest.approx(4.25) and sums.squares == pytest.approx(6.5625)


def _paired(n: int, agree: int) -> PairedWindow:
    window = PairedWindow(ComparisonSpec("classification", labels=("0", "1")))
    a = ["1"] * n
    window.add_predictions(a, ["1"] * agree + ["0"] * (n - agree))
    window.add_outcomes(a, ["1"] * agree + ["0"] * (n - agree), ["1"] * n)
    return window


def test_shadow_pairs_are_replaced_folded_once_and_read_back() -> None:
    state = ComparisonState(started=0)
    assert state.update(0, MeanSums(4, 4, 4), final=False, is_baseline=False, paired=_paired(4, 3))
    assert state.update(0, MeanSums(5, 4, 4), final=True, is_baseline=False, paired=_paired(5, 4))
    assert state.update(0, MeanSums(5, 5, 5), final=True, is_baseline=True)
    assert state.update(1, MeanSums(2, 2, 2), final=False, is_baseline=False, paired=_paired(2, 2))
    state.fold()
    assert state.folded_paired is not None and state.folded_paired.n_shared == 5  # the replacement
    assert not state.update(0, MeanSums(5, 4, 4), final=True, is_baseline=False, paired=_paired(5, 4))
    total = state.paired_total()
    assert total is not None and (total.n_shared, total.n_agree, total.only_a_right) == (7, 6, 1)
    back = ComparisonState.from_state(state.to_state())
    assert back.to_state() == state.to_state()
    # A record written before shadow mode: no paired sums anywhere.
    old = state.to_state()
    del old["folded_paired"]
    old["windows"] = [[start, pair[:4]] for start, pair in old["windows"]]
    assert ComparisonState.from_state(old).paired_total() is None
