"""Concept-drift detectors on the joined error stream: they alarm on degradation, never on improvement.

Both detectors are one-sided CUSUMs of a log-likelihood ratio (LLR) "degraded vs reference":
``S_t = max(0, S_{t-1} + w_t)``, alarm when ``S_t > h``. A better-than-reference stream has negative
expected increments, and a stream with fewer (or smaller) errors is stochastically below the reference
stream, so an improvement is even less likely to alarm than a stationary stream.

- `ErrorRateDetector` (classification): x_t = 1 for a wrong prediction, 0 for a right one. Bernoulli LLR of
  p1 = p0 + min_increase (capped halfway between p0 and 1) against p0 = reference error rate
  (1 - reference accuracy), or estimated from the first `warmup` errors when p0 is None.
- `ErrorLevelDetector` (regression): x_t = absolute error. The errors are standardised by the reference
  mean absolute error m and its spread s (std of the absolute errors). *Assumption*: with no drift the
  absolute errors are independent with mean m and std s and a right tail no heavier than a gamma law
  with those two moments (shape k = (m / s)**2; |Gaussian| residuals give k = 1.75, |Laplace| give
  k = 1). The LLR of that gamma law for mean m * (1 + min_increase) against m is linear in the error,
  ``w = k * ((1/m - 1/m1) * x - log(m1/m))``: a CUSUM on the standardised error with an allowance, the
  gamma model only fixing the allowance and h. Errors are winsorised at m + 6 s first, so a few
  outliers from a heavy tail (|Student t3| residuals) cannot alarm alone.

Threshold. For an LLR CUSUM the mean run length to a false alarm is ARL0 ~ exp(h) / KL(p0 || p1)
(Wald's approximation). "At most probability a of any alarm within N events" means
ARL0 >= N / -log(1 - a); we take ``h = log(2 * ARL0 * KL)``: the factor 2 covers the approximation,
which was measured optimistic by up to ~1.4x (Bernoulli lattice effects near p0 = 0.5).

Measured by simulation (seeded stationary streams, defaults: a = 1 %, N = 100,000, 2,000 streams each):

- ErrorRateDetector, p0 = 0.10, min_increase = 0.05 (h = 12.29): any alarm within 100,000 events in
  0.35 % of streams; for p0 from 0.01 to 0.8 with min_increase 0.02 or 0.05, between 0.15 % and 1.0 %.
  Within 1,000,000 events: 4 % (pass horizon=1_000_000 to design for that). Mean detection delay after
  the error rate jumps 0.10 -> 0.20: 341 events (5th-95th percentile 211-519, worst of 2,000: 768);
  0.10 -> 0.15: 925 events.
- ErrorLevelDetector, min_increase = 0.2 (h = 13.21): any alarm within 100,000 events for |Gaussian|
  errors in 0.25 % of streams, |Laplace| 0.20 %, gamma(3) 0.30 %, |Student t3| 0 %. Mean delay when
  the residual scale rises 20 % (so does the MAE): 408 events (95th percentile 725); 50 %: 113 events.

Partitioned input (Kafka): every input partition runs its own detector on its share of the error
stream, and a model alarms when any of them does. With P partitions and N events in all, each
detector has seen about N/P events, so by the union bound P(any false alarm) stays about a (P
detectors, each about a/P over N/P events: in this regime the chance of an alarm grows linearly with
the events seen; simulated with p0 = 0.10 and 2,000 streams of 100,000 events: any alarm in 0.30 % of
single streams and in 0.35 % of streams split over 4 partitions). What partitioning costs is delay:
each detector sees 1/P of the degraded errors, so the delay counted in the model's events grows
about P-fold.

A warm-up estimate of p0 (or of m and s) is noisy: an underestimate raises the false-alarm rate, so prefer
the baseline's reference performance when there is one.

`update_many` runs the recursion in chunks with the identity ``S_t = C_t - min(0, min_{s<=t} C_s)`` where
``C_t = S_0 + w_1 + ... + w_t`` (exact for this recursion up to float rounding of the cumulative sums),
so 1M events take milliseconds.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Self

import numpy as np

from monitor.errors import DataError

_CHUNK = 1 << 16
P0_FLOOR = 1e-4  # a reference error rate of exactly 0 would make a single error infinitely surprising


def cusum_threshold(kl_divergence: float, false_alarm_prob: float = 0.01, horizon: int = 100_000) -> float:
    """Decision threshold h (nats) of an LLR CUSUM for P(any false alarm within `horizon`) <= a."""
    if not 0.0 < false_alarm_prob < 1.0 or horizon < 1 or not kl_divergence > 0.0:
        raise DataError(
            f"need 0 < false_alarm_prob < 1, horizon >= 1 and KL > 0; "
            f"got {false_alarm_prob}, {horizon}, {kl_divergence}"
        )
    mean_run_length = horizon / -math.log1p(-false_alarm_prob)
    return max(math.log(2.0 * mean_run_length * kl_divergence), 1.0)


def _run_cusum(
    start: float, increments: np.ndarray, threshold: float, find_alarm: bool
) -> tuple[float, int | None]:
    """Final statistic and, if asked, the offset of the first step with statistic > threshold."""
    statistic, first = start, None
    for lo in range(0, increments.size, _CHUNK):
        cumulative = statistic + np.cumsum(increments[lo : lo + _CHUNK])
        if find_alarm and first is None:
            path = cumulative - np.minimum(np.minimum.accumulate(cumulative), 0.0)
            above = np.flatnonzero(path > threshold)
            if above.size:
                first = lo + int(above[0])
        statistic = float(cumulative[-1] - min(float(cumulative.min()), 0.0))
    return statistic, first


class _LikelihoodRatioCusum:
    """Shared machinery: warm-up, chunked recursion, latched alarm, state. Subclasses define the LLR."""

    KIND: ClassVar[str]

    def __init__(self, *, false_alarm_prob: float, horizon: int, warmup: int) -> None:
        if warmup < 2 or horizon < 1 or not 0.0 < false_alarm_prob < 1.0:
            raise DataError(
                f"need warmup >= 2, horizon >= 1 and 0 < false_alarm_prob < 1; "
                f"got {warmup}, {horizon}, {false_alarm_prob}"
            )
        self.false_alarm_prob = false_alarm_prob
        self.horizon = horizon
        self.warmup = warmup
        self._threshold: float | None = None
        self._clear()

    def _clear(self) -> None:
        self._statistic = 0.0
        self._n_seen = 0
        self._alarm_index: int | None = None
        # Count, sum and sum of squares of the warm-up values (used only when no reference is given).
        self._warm_count, self._warm_sum, self._warm_squares = 0, 0.0, 0.0

    # --- read-only view -------------------------------------------------------------------------------
    @property
    def drift_detected(self) -> bool:
        """True from the first alarm on, until `reset()`."""
        return self._alarm_index is not None

    @property
    def n_seen(self) -> int:
        return self._n_seen

    @property
    def statistic(self) -> float:
        """Current CUSUM value in nats (log-likelihood ratio units)."""
        return self._statistic

    @property
    def threshold(self) -> float | None:
        """Decision threshold h in nats; None while warming up."""
        return self._threshold

    @property
    def alarm_index(self) -> int | None:
        """0-based position in the stream (warm-up included) of the first alarm."""
        return self._alarm_index

    # --- updates --------------------------------------------------------------------------------------
    def update(self, x: float) -> Self:
        return self.update_many(np.array([x], dtype=np.float64))

    def update_many(self, xs: Any) -> Self:
        values = self._validate(np.asarray(xs, dtype=np.float64).ravel())
        if self._threshold is None:
            take = min(self.warmup - self._warm_count, values.size)
            head, values = values[:take], values[take:]
            self._warm_count += take
            self._warm_sum += float(head.sum())
            self._warm_squares += float(head @ head)
            self._n_seen += take
            if self._warm_count == self.warmup:
                self._configure_from_warmup(self._warm_count, self._warm_sum, self._warm_squares)
        if values.size and self._threshold is not None:
            find_alarm = self._alarm_index is None
            self._statistic, first = _run_cusum(
                self._statistic, self._increments(values), self._threshold, find_alarm
            )
            if first is not None:
                self._alarm_index = self._n_seen + first
            self._n_seen += int(values.size)
        return self

    def reset(self) -> Self:
        """Forget the stream (and a warm-up estimate, which is re-learnt); keep a given reference."""
        self._clear()
        if not self._has_given_reference():
            self._threshold = None
        return self

    # --- subclass hooks -------------------------------------------------------------------------------
    def _validate(self, values: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _increments(self, values: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _configure_from_warmup(self, count: float, total: float, squares: float) -> None:
        raise NotImplementedError

    def _has_given_reference(self) -> bool:
        raise NotImplementedError

    # --- state ----------------------------------------------------------------------------------------
    def _base_state(self) -> dict[str, Any]:
        return {
            "kind": self.KIND,
            "false_alarm_prob": self.false_alarm_prob,
            "horizon": self.horizon,
            "warmup": self.warmup,
            "statistic": self._statistic,
            "n_seen": self._n_seen,
            "alarm_index": self._alarm_index,
            "warmup_count": self._warm_count,
            "warmup_sum": self._warm_sum,
            "warmup_sum_squares": self._warm_squares,
        }

    def _restore_base(self, state: dict[str, Any]) -> None:
        self._statistic = float(state["statistic"])
        self._n_seen = int(state["n_seen"])
        alarm = state["alarm_index"]
        self._alarm_index = None if alarm is None else int(alarm)
        self._warm_count = int(state["warmup_count"])
        self._warm_sum = float(state["warmup_sum"])
        self._warm_squares = float(state["warmup_sum_squares"])


def _check_kind(state: dict[str, Any], kind: str) -> None:
    if state.get("kind") != kind:
        raise DataError(f"detector state has kind {state.get('kind')!r}, expected {kind!r}")


class ErrorRateDetector(_LikelihoodRatioCusum):
    """Bernoulli CUSUM on 0/1 prediction errors; alarms when the error rate rises above p0."""

    KIND = "error_rate_detector"

    def __init__(
        self,
        p0: float | None = None,
        *,
        min_increase: float = 0.05,
        false_alarm_prob: float = 0.01,
        horizon: int = 100_000,
        warmup: int = 1000,
    ) -> None:
        if not 0.0 < min_increase < 1.0:
            raise DataError(f"min_increase must be in (0, 1), got {min_increase}")
        if p0 is not None and not 0.0 <= p0 < 1.0:
            raise DataError(f"reference error rate p0 must be in [0, 1), got {p0}")
        super().__init__(false_alarm_prob=false_alarm_prob, horizon=horizon, warmup=warmup)
        self.min_increase = min_increase
        self._given_p0 = p0
        self.p0: float | None = None
        self.p1: float | None = None
        if p0 is not None:
            self._configure(p0)

    def _configure(self, p0: float) -> None:
        p0 = min(max(p0, P0_FLOOR), 1.0 - P0_FLOOR)
        p1 = min(p0 + self.min_increase, (1.0 + p0) / 2.0)
        self.p0, self.p1 = p0, p1
        self._step_error = math.log(p1 / p0)
        self._step_correct = math.log1p(-p1) - math.log1p(-p0)
        kl = p0 * -self._step_error - (1.0 - p0) * self._step_correct  # KL(p0 || p1)
        self._threshold = cusum_threshold(kl, self.false_alarm_prob, self.horizon)

    def _has_given_reference(self) -> bool:
        return self._given_p0 is not None

    def _configure_from_warmup(self, count: float, total: float, squares: float) -> None:
        # Add-one-half smoothing: a warm-up without errors must not give p0 = 0.
        self._configure((total + 0.5) / (count + 1.0))

    def _validate(self, values: np.ndarray) -> np.ndarray:
        if ((values != 0.0) & (values != 1.0)).any():
            raise DataError("error stream: values must be 0 (right prediction) or 1 (wrong prediction)")
        return values

    def _increments(self, values: np.ndarray) -> np.ndarray:
        return np.where(values == 1.0, self._step_error, self._step_correct)

    def to_state(self) -> dict[str, Any]:
        return self._base_state() | {
            "min_increase": self.min_increase,
            "given_p0": self._given_p0,
            "p0": self.p0,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ErrorRateDetector:
        _check_kind(state, cls.KIND)
        out = cls(
            state["given_p0"],
            min_increase=state["min_increase"],
            false_alarm_prob=state["false_alarm_prob"],
            horizon=state["horizon"],
            warmup=state["warmup"],
        )
        if state["p0"] is not None:
            out._configure(float(state["p0"]))
        out._restore_base(state)
        return out


class ErrorLevelDetector(_LikelihoodRatioCusum):
    """CUSUM on standardised absolute errors; alarms when the mean absolute error rises.

    `min_increase` is relative: 0.2 targets a mean absolute error 20 % above the reference.
    `reference_spread` is the standard deviation of the reference absolute errors.
    """

    KIND = "error_level_detector"

    def __init__(
        self,
        reference_mae: float | None = None,
        reference_spread: float | None = None,
        *,
        min_increase: float = 0.2,
        false_alarm_prob: float = 0.01,
        horizon: int = 100_000,
        warmup: int = 1000,
        clip_spreads: float = 6.0,
    ) -> None:
        if not min_increase > 0.0 or not clip_spreads > 0.0:
            raise DataError(f"need min_increase > 0 and clip_spreads > 0, got {min_increase}, {clip_spreads}")
        if (reference_mae is None) != (reference_spread is None):
            raise DataError("give both reference_mae and reference_spread, or neither (warm-up estimate)")
        super().__init__(false_alarm_prob=false_alarm_prob, horizon=horizon, warmup=warmup)
        self.min_increase = min_increase
        self.clip_spreads = clip_spreads
        self._given = None if reference_mae is None else (reference_mae, reference_spread)
        self.reference_mae: float | None = None
        self.reference_spread: float | None = None
        if reference_mae is not None and reference_spread is not None:
            self._configure(reference_mae, reference_spread)

    def _configure(self, mae: float, spread: float) -> None:
        if not (math.isfinite(mae) and math.isfinite(spread) and mae > 0.0 and spread > 0.0):
            raise DataError(
                f"reference absolute errors need a positive mean and spread, got mean {mae}, spread {spread}"
            )
        self.reference_mae, self.reference_spread = mae, spread
        shape = (mae / spread) ** 2  # gamma law with the reference mean and spread
        degraded = mae * (1.0 + self.min_increase)
        self._slope = shape * (1.0 / mae - 1.0 / degraded)
        self._offset = shape * math.log(degraded / mae)
        self._cap = mae + self.clip_spreads * spread
        ratio = mae / degraded
        kl = shape * (ratio - 1.0 - math.log(ratio))  # KL(gamma(mean=mae) || gamma(mean=degraded))
        self._threshold = cusum_threshold(kl, self.false_alarm_prob, self.horizon)

    def _has_given_reference(self) -> bool:
        return self._given is not None

    def _configure_from_warmup(self, count: float, total: float, squares: float) -> None:
        mean = total / count
        variance = max(squares - count * mean * mean, 0.0) / (count - 1.0)
        self._configure(mean, math.sqrt(variance))

    def _validate(self, values: np.ndarray) -> np.ndarray:
        if not np.all(np.isfinite(values)) or (values < 0.0).any():
            raise DataError("absolute error stream: values must be finite and non-negative")
        return values

    def _increments(self, values: np.ndarray) -> np.ndarray:
        return self._slope * np.minimum(values, self._cap) - self._offset

    def to_state(self) -> dict[str, Any]:
        given = self._given or (None, None)
        return self._base_state() | {
            "min_increase": self.min_increase,
            "clip_spreads": self.clip_spreads,
            "given_reference_mae": given[0],
            "given_reference_spread": given[1],
            "reference_mae": self.reference_mae,
            "reference_spread": self.reference_spread,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ErrorLevelDetector:
        _check_kind(state, cls.KIND)
        out = cls(
            state["given_reference_mae"],
            state["given_reference_spread"],
            min_increase=state["min_increase"],
            false_alarm_prob=state["false_alarm_prob"],
            horizon=state["horizon"],
            warmup=state["warmup"],
            clip_spreads=state["clip_spreads"],
        )
        if state["reference_mae"] is not None:
            out._configure(float(state["reference_mae"]), float(state["reference_spread"]))
        out._restore_base(state)
        return out
