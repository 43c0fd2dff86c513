"""Two versions of a model on different rows (a canary serving a share of the traffic): an unpaired
anytime-valid comparison of their mean per-row performance.

Per version the joined rows give a per-row metric x (1 if right, 0 if wrong for classifiers; the
absolute error for regressors), kept as `MeanSums` (n, sum x, sum x²): mergeable, and read back
from a window's accuracy, or its MAE and RMSE (sum x² = n·RMSE²), so no new accumulator is needed.

The difference of means D = mean_B - mean_A (accuracy) or mean_A - mean_B (MAE; positive: B is
better) has variance v = s_A²/n_A + s_B²/n_B. With the assignment of rows to versions random and
its share fixed, D behaves like the mean of n_eff = (s_A² + s_B²) / v pairs of spread
sqrt(s_A² + s_B²) (n_eff = n when both versions have n rows), so the paired boundary of
`sequential.half_width` at n_eff is the same normal-mixture confidence sequence in the estimate's
own time scale: checking it after every window keeps its level over any number of looks
(asymptotically, as the paired one; the verdict waits for `min_pairs` rows per version).
For classifiers the spread uses one pseudo right and one pseudo wrong answer per version, so that a
version right (or wrong) on every row so far is not taken as certain.

`required_outcomes` is the power calculation: joined outcomes (both versions together) needed to
call a true difference `effect` with probability `power` when a share `share_b` goes to B.

Assumptions: rows are assigned to versions at random (comparable traffic), independently of
everything that drives the outcome; outcomes of both versions are joined alike (the same label
delay); rows are independent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Self

from monitor.core.comparison.sequential import half_width, required_pairs
from monitor.core.comparison.verdict import Verdict, VerdictRule
from monitor.errors import DataError

Task = Literal["classification", "regression"]


@dataclass
class MeanSums:
    """n, sum and sum of squares of one version's per-row metric."""

    n: int = 0
    total: float = 0.0
    squares: float = 0.0

    def add(self, other: MeanSums) -> Self:
        self.n += other.n
        self.total += other.total
        self.squares += other.squares
        return self

    @classmethod
    def of_metrics(cls, task: Task, n: int, mean: float | None, rmse: float | None = None) -> MeanSums:
        """From a window's realised metrics: accuracy (classifiers), or MAE and RMSE (regressors)."""
        if n == 0 or mean is None:
            return cls()
        if task == "classification":
            return cls(n, n * mean, n * mean)
        if rmse is None:
            raise DataError("a regressor's window needs its RMSE for the comparison")
        return cls(n, n * mean, n * rmse * rmse)

    def variance(self, task: Task) -> float:
        if task == "classification":  # one pseudo right and one pseudo wrong answer
            p = (self.total + 1.0) / (self.n + 2)
            return p * (1.0 - p)
        mean = self.total / self.n
        return max(self.squares / self.n - mean * mean, 0.0)

    def to_state(self) -> list[float]:
        return [self.n, self.total, self.squares]

    @classmethod
    def from_state(cls, state: Sequence[float]) -> MeanSums:
        n, total, squares = state
        if n < 0 or int(n) != n:
            raise DataError(f"comparison sums have n = {n}")
        return cls(int(n), float(total), float(squares))


@dataclass(frozen=True)
class UnpairedComparison:
    metric: str  # "accuracy" or "mae"
    n_a: int  # joined rows of the baseline version (A)
    n_b: int  # joined rows of the candidate version (B)
    metric_a: float | None
    metric_b: float | None
    difference: float | None  # B minus A in "better" units: accuracy_b - accuracy_a, or mae_a - mae_b
    difference_lower: float | None  # the confidence sequence at alpha_rollback
    difference_upper: float | None
    verdict: Verdict
    reason: str


def unpaired_sequence(
    task: Task, a: MeanSums, b: MeanSums, alpha: float, planned_pairs: int = 10_000
) -> tuple[float, float, float]:
    """(difference, lower, upper): the confidence sequence at `alpha` on B's advantage over A."""
    if a.n < 1 or b.n < 1:
        return math.nan, -math.inf, math.inf
    mean_a, mean_b = a.total / a.n, b.total / b.n
    difference = mean_b - mean_a if task == "classification" else mean_a - mean_b
    var_a, var_b = a.variance(task), b.variance(task)
    spread = var_a + var_b
    if spread == 0.0:  # two regressors without error: nothing to tell apart
        return difference, difference, difference
    n_eff = spread / (var_a / a.n + var_b / b.n)
    width = half_width(n_eff, math.sqrt(spread), alpha, planned_pairs)
    return difference, difference - width, difference + width


def compare_unpaired(task: Task, a: MeanSums, b: MeanSums, rule: VerdictRule) -> UnpairedComparison:
    """The evidence and the verdict of `verdict.VerdictRule` (rollback when the sequence lies below
    -rollback_margin, promote when it lies above -promote_margin, else hold; hold until both
    versions have `min_pairs` joined rows) for B against A."""
    metric = "accuracy" if task == "classification" else "mae"
    metric_a = a.total / a.n if a.n else None
    metric_b = b.total / b.n if b.n else None
    if a.n < 1 or b.n < 1:
        return UnpairedComparison(
            metric, a.n, b.n, metric_a, metric_b, None, None, None, "hold", "no joined rows of a version yet"
        )
    difference, lower, upper = unpaired_sequence(task, a, b, rule.alpha_rollback, rule.planned_pairs)
    _, lower_promote, _ = unpaired_sequence(task, a, b, rule.alpha_promote, rule.planned_pairs)
    promote_margin = rule.promote_margin * (1.0 if task == "classification" else (metric_a or 0.0))
    verdict: Verdict = "hold"
    if min(a.n, b.n) < rule.min_pairs:
        reason = f"{min(a.n, b.n)} joined rows of a version, fewer than the {rule.min_pairs} a verdict needs"
    elif upper < -rule.rollback_margin:
        verdict = "rollback"
        reason = f"B is worse: the difference is below {upper:.4g} (alpha {rule.alpha_rollback})"
    elif lower_promote > -promote_margin:
        verdict = "promote"
        reason = (
            f"B is not worse by more than {promote_margin:.4g}: "
            f"the difference is above {lower_promote:.4g} (alpha {rule.alpha_promote})"
        )
    else:
        reason = f"the difference lies in [{lower:.4g}, {upper:.4g}]: not yet decided"
    return UnpairedComparison(metric, a.n, b.n, metric_a, metric_b, difference, lower, upper, verdict, reason)


def required_outcomes(
    effect: float,
    std_a: float,
    std_b: float,
    share_b: float,
    rule: VerdictRule,
    power: float = 0.8,
) -> int | None:
    """Joined outcomes of both versions together after which a true difference `effect` (> 0, in the
    verdict's units) is called with probability `power`, when B serves a share `share_b` of the rows
    and the per-row metric has spread `std_a`, `std_b` (accuracy p: sqrt(p (1 - p))). None if more
    than a billion."""
    if not 0.0 < share_b < 1.0:
        raise DataError(f"need 0 < share_b < 1, got {share_b}")
    var_a, var_b = std_a * std_a, std_b * std_b
    n_eff = required_pairs(effect, math.sqrt(var_a + var_b), rule.alpha_rollback, power, rule.planned_pairs)
    if n_eff is None:
        return None
    total = math.ceil(n_eff * (var_a / (1.0 - share_b) + var_b / share_b) / (var_a + var_b))
    return max(total, math.ceil(rule.min_pairs / min(share_b, 1.0 - share_b)))
