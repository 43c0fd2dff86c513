"""The range of numbers driftline accepts, and why every accumulator stays finite inside it.

Features, regression predictions and outcomes, and scores must satisfy |x| <= MAX_ABS_VALUE
(1e100). The decoder dead-letters a message holding a larger finite number with the reason
`value_out_of_range` (both decoder paths: monitor.pipeline.decoding), and `baseline build`
refuses training data holding one (monitor.baselines.baseline), so nothing past it reaches a
sketch, a performance sum or a detector.

Why 1e100: it is the largest round bound under which every quantity the accumulators form
stays finite in float64 (largest finite value ~1.8e308) at any row count they can count
(int64 counters, n <= 2**63 ~ 9.2e18), with room to spare:

- a sum of values (histogram value sums, moments' totals): |sum| <= n * 1e100 ~ 9.2e118;
- a squared deviation or squared error: (2 * 1e100)**2 = 4e200, and a sum of them (the moments'
  m2, squared-error sums) <= n * 4e200 ~ 3.7e220; the merge term delta**2 * n1 * n2 / n is
  bounded the same way;
- the square of a sum over every row, the largest product the statistics form (R2's
  sum(y)**2, variances from sums): (n * 2e100)**2 ~ 3.4e239;
- the exact performance sums need |x| < 1e150 to square a value exactly (Veltkamp split,
  monitor.core.performance.exact); errors |y - y_hat| <= 2e100 stay well inside;
- bin widths and their squares in rebinning and in the Sturges range: <= 4e200;
- the Wasserstein distance normed by a standard deviation of at least 0.001: <= 2e103.

A bound of 1e150 would already let the square of a sum over 2**63 rows overflow; values beyond
1e100 are not plausible model inputs (a probability, a price, a count in any unit), so the
bound costs users nothing and a message carrying one is far more likely to be a bug or an
attack. The accumulators themselves do not raise beyond it (monitor.core.sketch): a sum that
cannot be represented becomes inf there, and the evaluation of that one window reports an error.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

MAX_ABS_VALUE = 1e100


def out_of_range(values: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Where finite values lie outside [-MAX_ABS_VALUE, MAX_ABS_VALUE] (NaN and inf: False)."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & (np.abs(values) > MAX_ABS_VALUE)
