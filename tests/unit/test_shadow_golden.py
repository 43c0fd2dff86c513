"""Golden test through the Service for shadow mode: both versions predict every row under the same
prediction id, and the verdict comes from the paired comparison. A shadow candidate 3 accuracy
points worse on the same rows is rolled back within the joined pairs `pairs_to_decide` predicts; an
identical-quality candidate is rolled back in no more than alpha of many stationary streams, with
the verdict looked at after every hourly window. The pairs and the verdict continue across a
restart without counting a window twice."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from monitor.core.comparison import pairs_to_decide
from monitor.evaluation.comparison import verdict_rule
from monitor.evaluation.result_json import window_document
from monitor.evaluation.result_record import decode_result, encode_result
from monitor.evaluation.result_view import comparison_lines
from monitor.evaluation.results import WindowResult
from monitor.pipeline.monitor import Batch
from monitor.service import Service
from monitor.sinks.comparison_metrics import comparison_metrics
from tests.unit import canary_world as world

ROWS = 500  # requests per hourly window, each predicted by both versions (all joined)
ACCURACY_A = 0.865
SAME = 0.8  # share of rows on which the candidate is right exactly when the baseline version is
CFG = world.config(mode="shadow")
BASELINES = world.baselines(CFG)
RULE = verdict_rule(CFG.models[0].comparison)  # type: ignore[arg-type]


def discordant(accuracy_b: float) -> float:
    """P(exactly one version right): on the SAME share both use one uniform draw, else two."""
    shared = abs(ACCURACY_A - accuracy_b)
    independent = ACCURACY_A * (1 - accuracy_b) + (1 - ACCURACY_A) * accuracy_b
    return SAME * shared + (1 - SAME) * independent


def hour_batch(hour: int, rng: np.random.Generator, accuracy_b: float, rows: int = ROWS) -> Batch:
    return world.shadow_hour_batch(hour, rows, rng, ACCURACY_A, accuracy_b, SAME)


def looks(running: Service, hours: int, seed: int, accuracy_b: float, rows: int) -> Iterator[WindowResult]:
    rng = np.random.default_rng(seed)
    batches = (hour_batch(hour, rng, accuracy_b, rows) for hour in range(hours))
    return world.candidate_windows(running, batches)


def first_rollback(
    seed: int, accuracy_b: float, hours: int, rows: int = ROWS
) -> tuple[int | None, WindowResult | None]:
    """(joined pairs when the verdict first said rollback, or None; the last candidate result)."""
    last = None
    for result in looks(world.service(CFG, BASELINES), hours, seed, accuracy_b, rows):
        assert result.comparison is not None and result.comparison.mode == "shadow"
        last = result
        if result.comparison.verdict == "rollback":
            assert result.comparison.paired is not None
            return result.comparison.paired.n_joined, last
    return None, last


def test_three_points_worse_in_shadow_is_rolled_back_within_the_predicted_pairs() -> None:
    effect = 0.03
    predicted = pairs_to_decide(effect, math.sqrt(discordant(ACCURACY_A - effect) - effect**2), RULE)
    assert predicted is not None
    streams = 20
    found = [
        first_rollback(seed, ACCURACY_A - effect, 3 * predicted // ROWS + 1)[0] for seed in range(streams)
    ]
    decided = sorted(f for f in found if f is not None)
    by_predicted = np.mean([f is not None and f <= predicted + ROWS for f in found])  # the next look
    print(
        f"shadow, 3 points worse: predicted {predicted} joined pairs (power 0.8); "
        f"median decision at {decided[len(decided) // 2]}; "
        f"rolled back by the first look after the prediction in {by_predicted:.2f}, "
        f"at all in {len(decided) / streams:.2f}"
    )
    assert by_predicted >= 0.8 - 3 * math.sqrt(0.8 * 0.2 / streams)
    assert decided[len(decided) // 2] <= predicted + ROWS


def test_an_identical_quality_shadow_is_rolled_back_at_most_alpha() -> None:
    streams, hours, rows = 40, 4, 1500
    runs = [first_rollback(1000 + seed, ACCURACY_A, hours, rows) for seed in range(streams)]
    rate = np.mean([at is not None for at, _ in runs])
    promoted = np.mean([r is not None and r.comparison.verdict == "promote" for _, r in runs])  # type: ignore[union-attr]
    print(
        f"identical shadow, {streams} streams of {hours * rows} pairs: rollback {rate:.3f}, "
        f"promote {promoted:.2f}"
    )
    assert rate <= RULE.alpha_rollback + 2 * math.sqrt(
        RULE.alpha_rollback * (1 - RULE.alpha_rollback) / streams
    )


def test_the_window_reports_agreement_and_paired_evidence_everywhere() -> None:
    _, last = first_rollback(7, ACCURACY_A - 0.03, 4)
    assert last is not None and last.comparison is not None
    own = last.comparison.paired_window
    assert own is not None and own.n_shared == own.n_joined == ROWS
    assert own.agreement is not None and own.agreement_lower <= own.agreement <= own.agreement_upper  # type: ignore[operator]
    assert own.mcnemar_p_value is not None
    document = window_document(last)["comparison"]
    assert document["paired_window"]["n_shared"] == ROWS and document["paired"]["n_joined"] >= ROWS
    assert decode_result(encode_result(last)).comparison == last.comparison
    lines = comparison_lines(last)
    assert lines[-2].startswith("  paired (the verdict's)") and "McNemar p-value" in lines[-1]
    metrics = {m.name: m for m in comparison_metrics([last])}
    (sample,) = metrics["driftline_version_agreement_ratio"].samples
    assert sample.value == own.agreement


def feed(running: Service, hours: range) -> None:
    for hour in hours:
        assert running.ingest(hour_batch(hour, np.random.default_rng(hour), 0.80), [])[0] == []
        running.evaluate()


def test_the_paired_comparison_continues_after_a_restart_and_counts_nothing_twice(tmp_path: Path) -> None:
    whole = world.service(CFG, BASELINES)
    feed(whole, range(8))
    expected = whole.evaluator.comparison.status("m")

    # The last checkpoint after hour 2; hours 3-5 evaluated (and counted), then the process dies.
    second, store = world.restarted(CFG, BASELINES, feed, tmp_path / "state.db", range(3), range(3, 6))
    feed(second, range(6, 8))
    status = second.evaluator.comparison.status("m")
    store.close()
    assert [s["verdict"] for s in status] == [s["verdict"] for s in expected] == ["rollback"]
    assert status[0]["paired"] == expected[0]["paired"]  # every window's pairs counted once
    assert status[0]["paired"]["joined"] == 7 * ROWS  # the last hour's window is not closed yet
