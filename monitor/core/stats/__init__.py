"""Drift statistics: one statistic per module, pure functions over arrays or counts.

Each statistic has two entry points:

* ``*_samples(reference, current)`` works on exact samples and reproduces Evidently 0.7's
  computation (same binning, same zero handling), so the numbers agree to rounding.
* the binned form works on counts over shared bins (a stored baseline's bin edges or
  category list), which is how a monitor compares a window against a baseline without
  the raw training data. ``monitor/core/stats/README.md``-style notes on the approximation
  error live in each module's docstring.

Nothing here imports pandas, Kafka, HTTP clients or schedulers.
"""

from monitor.core.stats.chi_square import chi_square, chi_square_samples
from monitor.core.stats.hellinger import hellinger, hellinger_samples, hellinger_values
from monitor.core.stats.jensen_shannon import jensen_shannon, jensen_shannon_samples
from monitor.core.stats.ks import ks, ks_samples
from monitor.core.stats.psi import psi, psi_samples
from monitor.core.stats.result import TestResult
from monitor.core.stats.wasserstein import wasserstein_norm, wasserstein_norm_samples, wasserstein_norm_values

__all__ = [
    "TestResult",
    "chi_square",
    "chi_square_samples",
    "hellinger",
    "hellinger_samples",
    "hellinger_values",
    "jensen_shannon",
    "jensen_shannon_samples",
    "ks",
    "ks_samples",
    "psi",
    "psi_samples",
    "wasserstein_norm",
    "wasserstein_norm_samples",
    "wasserstein_norm_values",
]
