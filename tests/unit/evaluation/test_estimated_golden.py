"""Golden test of performance estimated without outcomes, through the real Service (JSON messages
into Service.handle, windows evaluated by its evaluator), on a scored classifier (CBPE) and on a
regressor (DLE): four stationary hours, then four hours of a covariate shift that lowers accuracy
(raises the MAE) while outcomes still follow inputs as on the reference. No outcome arrives while
the windows are first evaluated; they all come a day later.

- Before any outcome, the stationary windows' estimate stays near the reference and is not
  degraded; the shifted windows' estimate falls with the realised metric still unknown, and they
  are flagged degraded.
- Once the outcomes are in, the realised metric of each window falls within the band of the
  estimate made without them (at most one window of eight outside a 95 % band), and the window
  reports the estimate against it.
"""

from __future__ import annotations

import numpy as np
import pytest

from monitor.evaluation.results import WindowResult
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service
from monitor.sinks.dead_letters import MemoryDeadLetters
from tests.unit import estimation_world as world

CONFIG = world.config()
BASELINES = world.baselines(CONFIG)
HOURS, SHIFT_FROM, N = 8, 4, 2000
HEADLINE = {"churn": "accuracy", "price": "mae"}


def hour_of(result: WindowResult) -> int:
    return (int(result.window_start.timestamp() * 1000) - world.START_MS) // world.HOUR_MS


def run(model: str, seed: int) -> tuple[dict[int, WindowResult], dict[int, WindowResult]]:
    """Each window's first result (before any outcome) and its last (every outcome joined)."""
    service = Service(CONFIG, BASELINES, MemoryDeadLetters(), clock=lambda: world.NOW)
    rng = np.random.default_rng(seed)
    outcomes: list[bytes] = []
    first: dict[int, WindowResult] = {}
    for hour in range(HOURS):
        predictions, answers, _ = world.messages(model, hour, N, rng, shifted=hour >= SHIFT_FROM)
        service.handle(RawBatch(predictions=predictions))
        outcomes += answers
        for result in service.evaluate():
            first.setdefault(hour_of(result), result)
    for result in service.evaluate(flush=True):
        first.setdefault(hour_of(result), result)
    service.handle(RawBatch(outcomes=outcomes))
    last = {hour_of(r): r for r in service.evaluate(flush=True) if r.model == model}
    return {h: r for h, r in first.items() if r.model == model}, last


@pytest.mark.parametrize(("model", "seed"), [("churn", 1), ("price", 2)])
def test_the_estimate_tracks_a_covariate_shift_before_outcomes_and_the_realised_metric_after(
    model: str, seed: int
) -> None:
    metric = HEADLINE[model]
    reference = BASELINES[(model, "1")].reference_performance
    assert reference is not None
    first, last = run(model, seed)
    assert sorted(first) == sorted(last) == list(range(HOURS))
    inside = 0
    for hour in range(HOURS):
        before, after = first[hour], last[hour]
        assert before.performance.n_pairs == 0, "the first evaluation has no outcome yet"
        assert before.estimated is not None and after.estimated is not None
        estimate = before.estimated.metrics[metric]
        if hour < SHIFT_FROM:  # stationary: near the reference, not degraded
            assert estimate.value == pytest.approx(reference[metric], rel=0.05), hour
            assert not before.estimated.degraded, hour
        elif metric == "accuracy":  # shifted: the estimate falls, before any outcome says so
            assert estimate.value < reference[metric] - 0.15 and before.estimated.degraded, hour
        else:
            assert estimate.value > 1.4 * reference[metric] and before.estimated.degraded, hour
        # The estimate needs no outcome: the same once they arrived.
        assert after.estimated.metrics[metric] == estimate
        realised = after.performance.metrics[metric]
        assert after.performance.n_pairs == N and realised is not None
        compared = after.estimated.versus_realised[metric]
        assert compared.realised == realised and compared.error == pytest.approx(estimate.value - realised)
        assert compared.within_band == estimate.contains(realised)
        assert abs(compared.error) < 4 * estimate.std, (hour, estimate, realised)
        inside += compared.within_band
    assert inside >= HOURS - 1, f"{HOURS - inside} of {HOURS} realised values outside a 95 % band"
