"""Concept-drift detector designs: one-sided CUSUMs on the joined error stream that alarm on
degradation, never on improvement.

Both are CUSUMs of a log-likelihood ratio (LLR) "degraded vs reference": ``S = max(0, S + w)``,
alarm when ``S > h``, then start again from 0 (`cusum_alarms`). A better-than-reference stream has
negative expected increments, so an improvement is even less likely to alarm than a stationary stream.

- `RateDesign` (classification): x = 1 for a wrong prediction, 0 for a right one. Bernoulli LLR of
  p1 = p0 + min_increase (capped halfway between p0 and 1) against p0 = reference error rate.
- `LevelDesign` (regression): x = absolute error. *Assumption*: with no drift the absolute errors
  are independent with mean m and spread s and a right tail no heavier than a gamma law with those
  two moments (shape k = (m / s)**2; |Gaussian| residuals give k = 1.75, |Laplace| give k = 1). The
  LLR of that gamma law for mean m1 = m * (1 + min_increase) against m is linear in the error,
  ``w = k * ((1/m - 1/m1) * x - log(m1/m))``. Errors are winsorised at about m + 6 s first (the cap
  is snapped down to an edge of the error histogram, monitor.core.error_summary, so the partitions
  need not know it), so a few outliers from a heavy tail cannot alarm alone.

Threshold. For an LLR CUSUM the mean run length to a false alarm is ARL0 ~ exp(h) / KL(p0 || p1)
(Wald's approximation). "At most probability a of any alarm within N events" means
ARL0 >= N / -log(1 - a); we take ``h = log(2 * ARL0 * KL)``: the factor 2 covers the approximation,
measured optimistic by up to ~1.4x (Bernoulli lattice effects near p0 = 0.5). The service's default
is a = 1 % within N = 1,000,000 pairs (`concept_drift.false_alarm_prob`, `.horizon`), i.e. at most
0.001 false alarms per 100,000 stationary pairs.

Buckets. The service runs the CUSUM on the summed LLR of each bucket of pairs (a minute of outcome
time, merged over the input partitions). The statistic at a bucket's end is then the per-pair
statistic of some order of those pairs with some of its intermediate maxima skipped, so it never
exceeds the per-pair one: bucketing can only lower the false-alarm rate (and delay an alarm to the
end of its bucket). The bound designed per pair carries over.

Reference. From the baseline's reference performance, which should come from held-out data
(`driftline baseline build --performance-data`); one measured on the training data is inflated
at build time (monitor.baselines.reference_performance). Without one, the detector estimates the
reference from the first `warmup` pairs. An estimate that is too good makes every later stretch look
degraded, so the design takes an upper confidence bound of it: the error rate's Wilson bound at
confidence 1 - a/2 (classification); the mean's bound at 1 - a/4 and the spread's at 1 - a/4, the
latter from the fourth moment so heavy tails widen it (regression). The CUSUM then gets the other
half of the budget (a/2), so P(any false alarm within N) <= a/2 + a/2. The alternative stays the
estimate plus `min_increase` (at least half of it above the bound), so the detector still looks
for the degradation it was asked to find.

Measured (tests/benchmarks/bench_concept.py, its table in tests/benchmarks/README.md), per pair,
with the service's defaults (a = 1 % within 1,000,000 pairs, min_increase 0.05 / 0.2), 500
stationary streams of 1,000,000 pairs per row, a logistic regression (error 0.207) and a linear
regression with Student-t noise, references held-out, in-sample inflated and warm-up: at most 3
of 500 streams alarmed (0.6 %), at most 0.0006 alarms per 100,000 pairs (the design: 0.001). The
same streams with the in-sample reference as it is alarmed 16 and 35 times per 100,000 pairs.
Mean delay once the error rate rises 0.207 -> 0.307: 652 pairs (held-out reference), about 1,050
(inflated, warm-up); the MAE rising 40 %: 273 pairs (held-out), 357-472 (warm-up, inflated).
With a = 1 % within 100,000 pairs: tests/unit/core/test_detectors.py (300 streams each).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.core.error_summary import BINS_PER_OCTAVE, ErrorSummary, bin_lower_edge
from monitor.errors import DataError

P0_FLOOR = 1e-4  # a reference error rate of exactly 0 would make a single error infinitely surprising
_CHUNK = 1 << 14


def cusum_threshold(kl_divergence: float, false_alarm_prob: float = 0.01, horizon: int = 100_000) -> float:
    """Decision threshold h (nats) of an LLR CUSUM for P(any false alarm within `horizon`) <= a."""
    if not 0.0 < false_alarm_prob < 1.0 or horizon < 1 or not kl_divergence > 0.0:
        raise DataError(
            f"need 0 < false_alarm_prob < 1, horizon >= 1 and KL > 0; "
            f"got {false_alarm_prob}, {horizon}, {kl_divergence}"
        )
    mean_run_length = horizon / -math.log1p(-false_alarm_prob)
    return max(math.log(2.0 * mean_run_length * kl_divergence), 1.0)


def cusum_alarms(start: float, increments: NDArray[np.float64], threshold: float) -> tuple[float, list[int]]:
    """Run ``S = max(0, S + w)`` from `start` over `increments`, restarting from 0 after each
    alarm (S > threshold); returns the final statistic and the offsets of the alarms.

    Vectorised with ``S_t = C_t - min(0, min_{u<=t} C_u)``, ``C_t = S_0 + w_1 + ... + w_t`` (exact
    for this recursion up to float rounding of the cumulative sums), so a million pairs take
    milliseconds."""
    alarms: list[int] = []
    statistic, position, size = float(start), 0, increments.size
    chunk = 256
    while position < size:
        cumulative = statistic + np.cumsum(increments[position : position + chunk])
        path = cumulative - np.minimum(np.minimum.accumulate(cumulative), 0.0)
        above = np.flatnonzero(path > threshold)
        if above.size:
            alarms.append(position + int(above[0]))
            position += int(above[0]) + 1
            statistic, chunk = 0.0, 256
            continue
        statistic = float(path[-1])
        position += cumulative.size
        chunk = min(chunk * 4, _CHUNK)
    return statistic, alarms


@dataclass(frozen=True)
class DetectorSettings:
    """What a model's configuration asks of its detector (monitor.config.ConceptDriftConfig)."""

    task: str  # "classification" or "regression"
    min_increase: float | None = None  # None: 0.05 (error rate, absolute) or 0.2 (MAE, relative)
    false_alarm_prob: float = 0.01
    horizon: int = 1_000_000
    warmup: int = 5000
    clip_spreads: float = 6.0

    @property
    def increase(self) -> float:
        if self.min_increase is not None:
            return self.min_increase
        return 0.05 if self.task == "classification" else 0.2


@dataclass(frozen=True)
class RateDesign:
    """Bernoulli LLR CUSUM on 0/1 errors: reference error rate p0 against degraded p1."""

    p0: float
    p1: float
    threshold: float
    origin: str  # "reference" (the baseline's) or "warmup" (an upper bound of an estimate)

    @property
    def _steps(self) -> tuple[float, float]:
        return math.log(self.p1 / self.p0), math.log1p(-self.p1) - math.log1p(-self.p0)

    def llr(self, summary: ErrorSummary) -> float:
        error, correct = self._steps
        return summary.total * error + (summary.n - summary.total) * correct

    def increments(self, errors: NDArray[np.float64]) -> NDArray[np.float64]:
        """Per-pair LLRs (the same as `llr` of one-pair summaries)."""
        error, correct = self._steps
        return np.where(errors == 1.0, error, correct)

    @property
    def expected_delay(self) -> float:
        """Wald's approximation of the pairs to an alarm once the error rate is p1."""
        return self.threshold / _bernoulli_kl(self.p1, self.p0)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "error_rate",
            "origin": self.origin,
            "p0": self.p0,
            "p1": self.p1,
            "threshold": self.threshold,
        }


MIN_CV = 1e-3  # the smallest coefficient of variation of reference errors a level design uses


@dataclass(frozen=True)
class LevelDesign:
    """Gamma LLR CUSUM on winsorised absolute errors: reference mean m0 against degraded m1."""

    m0: float
    m1: float
    spread: float
    cap_bin: int
    threshold: float
    origin: str

    @property
    def shape(self) -> float:
        return (self.m0 / self.spread) ** 2

    @property
    def cap(self) -> float:
        return bin_lower_edge(self.cap_bin)

    @property
    def _line(self) -> tuple[float, float]:
        return self.shape * (1.0 / self.m0 - 1.0 / self.m1), self.shape * math.log(self.m1 / self.m0)

    def llr(self, summary: ErrorSummary) -> float:
        slope, offset = self._line
        return slope * summary.clipped_sum(self.cap_bin) - offset * summary.n

    def increments(self, errors: NDArray[np.float64]) -> NDArray[np.float64]:
        slope, offset = self._line
        return slope * np.minimum(errors, self.cap) - offset

    @property
    def expected_delay(self) -> float:
        ratio = self.m1 / self.m0
        return self.threshold / (self.shape * (ratio - 1.0 - math.log(ratio)))

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "error_level",
            "origin": self.origin,
            "mae": self.m0,
            "degraded_mae": self.m1,
            "spread": self.spread,
            "clip": self.cap,
            "threshold": self.threshold,
        }


Design = RateDesign | LevelDesign


def _bernoulli_kl(p: float, q: float) -> float:
    return p * math.log(p / q) + (1.0 - p) * math.log((1.0 - p) / (1.0 - q))


def rate_design(p0: float, p1: float, false_alarm_prob: float, horizon: int, origin: str) -> RateDesign:
    p0 = min(max(p0, P0_FLOOR), 1.0 - P0_FLOOR)
    p1 = min(max(p1, p0 + P0_FLOOR), (1.0 + p0) / 2.0)
    threshold = cusum_threshold(_bernoulli_kl(p0, p1), false_alarm_prob, horizon)
    return RateDesign(p0, p1, threshold, origin)


def level_design(
    m0: float, m1: float, spread: float, settings: DetectorSettings, false_alarm_prob: float, origin: str
) -> LevelDesign:
    if not (math.isfinite(m0) and math.isfinite(spread) and m0 > 0.0 and spread > 0.0 and m1 > m0):
        raise DataError(
            f"reference absolute errors need a positive mean and spread, got mean {m0}, spread {spread}"
        )
    # Errors that barely vary (coefficient of variation under MIN_CV) are taken to vary by MIN_CV:
    # a gamma law of shape 10^6 is already a point mass for any stream, and the square of a
    # larger ratio overflows.
    spread = max(spread, m0 * MIN_CV)
    cap_bin = math.floor(math.log2(m0 + settings.clip_spreads * spread) * BINS_PER_OCTAVE)
    shape, ratio = (m0 / spread) ** 2, m0 / m1
    kl = shape * (ratio - 1.0 - math.log(ratio))  # KL(gamma(mean=m0) || gamma(mean=m1))
    return LevelDesign(
        m0, m1, spread, cap_bin, cusum_threshold(kl, false_alarm_prob, settings.horizon), origin
    )


def design_from_reference(
    settings: DetectorSettings, reference: Mapping[str, float | None] | None
) -> Design | None:
    """The design for a baseline's reference performance; None when it lacks what the task needs,
    or has no usable value of it (then the detector estimates the reference from a warm-up)."""
    reference = reference or {}
    increase, a = settings.increase, settings.false_alarm_prob
    if settings.task == "classification":
        accuracy = reference.get("accuracy")
        if accuracy is None or not math.isfinite(accuracy):
            return None
        p0 = 1.0 - accuracy
        return rate_design(p0, p0 + increase, a, settings.horizon, "reference")
    mae, spread = reference.get("mae"), reference.get("abs_error_std")
    if mae is None or spread is None or not (0.0 < mae < math.inf and 0.0 < spread < math.inf):
        return None  # no usable reference (a perfect fit has no spread): estimate one instead
    return level_design(mae, mae * (1.0 + increase), spread, settings, a, "reference")


def _z(tail: float) -> float:
    return NormalDist().inv_cdf(1.0 - tail)


def design_from_warmup(settings: DetectorSettings, warm: ErrorSummary) -> Design:
    """The design for a reference estimated from the warm-up pairs in `warm`, with the upper
    confidence bounds described in the module docstring."""
    n, a, increase = warm.n, settings.false_alarm_prob, settings.increase
    if n < 2:
        raise DataError(f"a warm-up estimate needs at least 2 pairs, got {n}")
    if settings.task == "classification":
        rate = (warm.total + 0.5) / (n + 1.0)  # add-one-half: no errors in the warm-up must not give 0
        z = _z(a / 2.0)
        centre = rate + z * z / (2 * n)
        spread = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
        upper = min((centre + spread) / (1 + z * z / n), 1.0 - P0_FLOOR)
        return rate_design(
            upper, max(rate + increase, upper + increase / 2.0), a / 2.0, settings.horizon, "warmup"
        )
    s1, s2, s3, s4 = warm.sums
    mean = s1 / n
    variance = max(s2 - n * mean * mean, 0.0) / (n - 1.0)
    fourth = max((s4 - 4 * mean * s3 + 6 * mean * mean * s2 - 3 * n * mean**4) / n, 0.0)
    z = _z(a / 4.0)
    mean_upper = mean + z * math.sqrt(variance / n)
    spread_upper = math.sqrt(variance + z * math.sqrt(max(fourth - variance * variance, 0.0) / n))
    degraded = max(mean * (1.0 + increase), mean_upper * (1.0 + increase / 2.0))
    return level_design(mean_upper, degraded, spread_upper, settings, a / 2.0, "warmup")


def llrs(design: Design, summaries: Sequence[ErrorSummary]) -> NDArray[np.float64]:
    return np.fromiter((design.llr(s) for s in summaries), np.float64, len(summaries))
