"""The value a hypothesis test returns."""

from typing import NamedTuple


class TestResult(NamedTuple):
    statistic: float
    p_value: float
