"""Golden test (d) through the Service: a canary version 3 accuracy points worse than the baseline
version, on comparable traffic (rows assigned at random, half to each), is rolled back within the
joined outcomes the unpaired power calculation predicts; an equal version is held or promoted, and
across many stationary streams rolled back in no more than alpha of them, with the verdict looked
at after every hourly window. The comparison's state continues across a restart."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from monitor.core.comparison import required_outcomes
from monitor.evaluation.comparison import verdict_rule
from monitor.service import Service
from tests.unit import canary_world as world

ROWS = 2000  # predictions per hourly window, both versions together (all joined)
CFG = world.config()
BASELINES = world.baselines(CFG)
RULE = verdict_rule(CFG.models[0].comparison)  # type: ignore[arg-type]


def first_rollback(seed: int, accuracy_b: float, hours: int, rows: int = ROWS) -> tuple[int | None, str]:
    """(joined outcomes of both versions when the verdict first said rollback, or None; last verdict)."""
    running = world.service(CFG, BASELINES)
    verdict = "hold"
    for result in world.looks(running, hours, rows, np.random.default_rng(seed), 0.865, accuracy_b):
        assert result.comparison is not None
        verdict = result.comparison.verdict
        if verdict == "rollback":
            return result.comparison.cumulative.n_a + result.comparison.cumulative.n_b, verdict
    return None, verdict


def test_three_points_worse_is_rolled_back_within_the_predicted_outcomes() -> None:
    predicted = required_outcomes(
        0.03, math.sqrt(0.865 * 0.135), math.sqrt(0.835 * 0.165), 0.5, RULE, power=0.8
    )
    assert predicted is not None
    streams = 40
    found = [first_rollback(seed, 0.835, 3 * predicted // ROWS + 1)[0] for seed in range(streams)]
    decided = sorted(f for f in found if f is not None)
    by_predicted = np.mean([f is not None and f <= predicted + ROWS for f in found])  # the next look
    by_slack = np.mean([f is not None and f <= 1.5 * predicted + ROWS for f in found])
    print(
        f"predicted {predicted} joined outcomes (power 0.8); "
        f"median decision at {decided[len(decided) // 2]}; "
        f"rolled back by the first look after the prediction in {by_predicted:.2f}, by 1.5x in {by_slack:.2f}"
    )
    assert by_predicted >= 0.8 - 3 * math.sqrt(0.8 * 0.2 / streams)
    assert by_slack >= 0.95
    assert decided[len(decided) // 2] <= predicted + ROWS


def test_an_equal_version_is_rolled_back_at_most_alpha_and_mostly_promoted() -> None:
    streams, hours, rows = 40, 20, 3000
    outcomes = [first_rollback(1000 + seed, 0.865, hours, rows) for seed in range(streams)]
    rate = np.mean([at is not None for at, _ in outcomes])
    promoted = np.mean([verdict == "promote" for _, verdict in outcomes])
    print(
        f"equal version, {streams} streams of {hours * rows} outcomes: "
        f"rollback {rate:.3f}, promote {promoted:.2f}"
    )
    assert rate <= RULE.alpha_rollback + 2 * math.sqrt(
        RULE.alpha_rollback * (1 - RULE.alpha_rollback) / streams
    )
    assert promoted >= 0.5


def feed(running: Service, hours: range) -> None:
    for hour in hours:
        batch = world.hour_batch(hour, 1000, np.random.default_rng(hour), 0.865, 0.80, 0.5)
        assert running.ingest(batch, [])[0] == []
        running.evaluate()


def test_the_comparison_continues_after_a_restart_and_counts_nothing_twice(tmp_path: Path) -> None:
    whole = world.service(CFG, BASELINES)
    feed(whole, range(10))
    expected = whole.evaluator.comparison.status("m")

    # The last checkpoint after hour 3; hours 4-6 evaluated (and counted), then the process dies.
    second, store = world.restarted(CFG, BASELINES, feed, tmp_path / "state.db", range(4), range(4, 7))
    feed(second, range(7, 10))
    status = second.evaluator.comparison.status("m")
    store.close()
    assert [s["verdict"] for s in status] == [s["verdict"] for s in expected] == ["rollback"]
    assert status[0]["since"] == expected[0]["since"]
    assert status[0]["joined"] == expected[0]["joined"]  # every window counted once
