"""The evidence of a comparison between two versions, and the verdict it supports.

`compare_versions(window, rule)` reads a `PairedWindow`: per window for the window's own numbers,
or the merge of every window since the comparison started for the verdict (the wiring step keeps
both). The verdict uses the anytime-valid confidence sequence of `sequential`, so evaluating it
after every window does not raise its error rates:

* `rollback` when the whole sequence at `alpha_rollback` lies below -`rollback_margin`: version B
  (the candidate) is worse. Over any number of looks, an equal (or better) B is rolled back with
  probability at most alpha_rollback.
* `promote` when the whole sequence at `alpha_promote` lies above -`promote_margin`: B is not worse
  than A by more than the margin (non-inferiority). Margins are in accuracy points for classifiers,
  and a share of A's MAE for regressors.
* `hold` otherwise, and always before `min_pairs` joined pairs (the sequence is asymptotic).

Rollback is checked first: a version shown worse is never promoted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

from monitor.core.comparison.paired import PairedWindow
from monitor.core.comparison.sequential import confidence_sequence, mcnemar, required_pairs
from monitor.core.sketch import NumericSketch, ValueCounts
from monitor.core.stats import chi_square, jensen_shannon, ks, wasserstein_norm
from monitor.errors import DataError

Verdict = Literal["promote", "hold", "rollback"]
DRIFT_DISTANCE = 0.1  # Wasserstein (normed) or Jensen-Shannon, as for feature drift


@dataclass(frozen=True)
class VerdictRule:
    alpha_rollback: float = 0.05
    alpha_promote: float = 0.05
    rollback_margin: float = 0.0
    promote_margin: float = 0.01
    min_pairs: int = 200
    planned_pairs: int = 10_000

    def __post_init__(self) -> None:
        if not (0 < self.alpha_rollback < 1 and 0 < self.alpha_promote < 1):
            raise DataError("alpha_rollback and alpha_promote must lie in (0, 1)")
        if (
            self.rollback_margin < 0
            or self.promote_margin < 0
            or self.min_pairs < 1
            or self.planned_pairs < 1
        ):
            raise DataError("margins must be >= 0, min_pairs and planned_pairs >= 1")


@dataclass(frozen=True)
class PredictionDrift:
    statistic: str  # "jensen_shannon" (labels) or "wasserstein_norm" (numbers)
    distance: float
    p_value: float  # chi-square (labels) or binned Kolmogorov-Smirnov (numbers)
    drift_detected: bool


@dataclass(frozen=True)
class ComparisonResult:
    n_shared: int
    agreement: float | None
    agreement_lower: float | None  # 95 % Wilson interval
    agreement_upper: float | None
    prediction_drift: PredictionDrift | None
    metric: str  # "accuracy" or "mae"
    n_joined: int
    metric_a: float | None
    metric_b: float | None
    difference: float | None  # B minus A in "better" units: accuracy_b - accuracy_a, or mae_a - mae_b
    difference_lower: float | None  # the confidence sequence at alpha_rollback
    difference_upper: float | None
    mcnemar_p_value: float | None  # classifiers: this window's fixed-sample test
    mcnemar_mid_p_value: float | None
    verdict: Verdict
    reason: str


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + z * z / n)), min(1.0, (centre + spread) / (1 + z * z / n))


def prediction_drift(
    a: NumericSketch | ValueCounts, b: NumericSketch | ValueCounts, reference_std: float
) -> PredictionDrift | None:
    """Drift of version B's prediction distribution against version A's; None when either is empty,
    or when numeric sketches were built on different bin edges (two versions' own baselines)."""
    if isinstance(a, ValueCounts) and isinstance(b, ValueCounts):
        if a.n_present == 0 or b.n_present == 0:
            return None
        counts_a, counts_b = a.aligned(b)
        distance = jensen_shannon(counts_a, counts_b)
        return PredictionDrift(
            "jensen_shannon", distance, chi_square(counts_a, counts_b).p_value, distance >= DRIFT_DISTANCE
        )
    if isinstance(a, NumericSketch) and isinstance(b, NumericSketch):
        if a.n_present == 0 or b.n_present == 0 or not np.array_equal(a.edges, b.edges):
            return None
        distance = wasserstein_norm(a.edges, a.counts, a.sums, b.counts, b.sums, reference_std)
        return PredictionDrift(
            "wasserstein_norm", distance, ks(a.counts, b.counts).p_value, distance >= DRIFT_DISTANCE
        )
    raise DataError("the two versions' prediction sketches differ in kind")


def compare_versions(window: PairedWindow, rule: VerdictRule | None = None) -> ComparisonResult:
    rule = rule or VerdictRule()
    classification = window.spec.task == "classification"
    agreement = lower_a = upper_a = None
    if window.n_shared:
        agreement = window.n_agree / window.n_shared
        lower_a, upper_a = wilson(window.n_agree, window.n_shared)
    n = window.n_joined
    total, squares, sum_a, sum_b = window.sums.tolist()
    if classification:
        # One pseudo pair each way: with no discordant pair yet the observed spread would be 0 and
        # the asymptotic sequence would claim certainty.
        squares_for_std, n_for_std = squares + 2.0, n + 2
    else:
        squares_for_std, n_for_std = squares, n
    metric_a = metric_b = difference = None
    lower = upper = None
    mcnemar_p = mid_p = None
    verdict: Verdict = "hold"
    reason = f"{n} joined pairs, fewer than the {rule.min_pairs} a verdict needs"
    if n:
        metric_a, metric_b = sum_a / n, sum_b / n
        scaled = squares_for_std / n_for_std * n  # the sum of squares on the regularised spread
        difference, lower, upper = confidence_sequence(
            n, total, scaled, rule.alpha_rollback, rule.planned_pairs
        )
        _, lower_promote, _ = confidence_sequence(n, total, scaled, rule.alpha_promote, rule.planned_pairs)
        if classification:
            mcnemar_p, mid_p = mcnemar(window.only_a_right, window.only_b_right)
        promote_margin = rule.promote_margin * (1.0 if classification else metric_a)
        if n >= rule.min_pairs:
            if upper < -rule.rollback_margin:
                verdict, reason = (
                    "rollback",
                    f"B is worse: the difference is below {upper:.4g} (alpha {rule.alpha_rollback})",
                )
            elif lower_promote > -promote_margin:
                verdict, reason = (
                    "promote",
                    f"B is not worse by more than {promote_margin:.4g}: "
                    f"the difference is above {lower_promote:.4g} (alpha {rule.alpha_promote})",
                )
            else:
                verdict, reason = (
                    "hold",
                    f"the difference lies in [{lower:.4g}, {upper:.4g}]: not yet decided",
                )
    return ComparisonResult(
        window.n_shared,
        agreement,
        lower_a,
        upper_a,
        prediction_drift(window.predictions_a, window.predictions_b, window.spec.reference_std),
        "accuracy" if classification else "mae",
        n,
        metric_a,
        metric_b,
        difference,
        lower,
        upper,
        mcnemar_p,
        mid_p,
        verdict,
        reason,
    )


def pairs_to_decide(
    effect: float, std: float, rule: VerdictRule | None = None, power: float = 0.8
) -> int | None:
    """Joined pairs after which a true difference `effect` (in the verdict's units, > 0) is called
    with probability `power`, for d with spread `std` (for accuracy: sqrt(discordant share - effect²))."""
    rule = rule or VerdictRule()
    needed = required_pairs(effect, std, rule.alpha_rollback, power, rule.planned_pairs)
    return None if needed is None else max(needed, rule.min_pairs)
