"""A baseline's reference performance, and how it was obtained.

Both the concept-drift detector (monitor.core.detectors) and the per-window "performance degraded"
flag (monitor.core.performance.degradation) compare production against it, so it must be what the
model scores on data it has not seen: `driftline baseline build --performance-data FILE` computes
it on held-out rows (prediction, score, target), origin `held_out`.

Without such a file the only performance at hand is the training data's, which is in-sample: a
model scored on the rows it was fitted to looks better than it will in production. With that as
the reference, a stationary stream looks degraded (the detector alarms on it, the degraded flag
turns red). So it is inflated, origin `in_sample_inflated`: every error-like quantity is raised by
IN_SAMPLE_MARGIN (25 %), and for the 0..1 metrics by IN_SAMPLE_FLOOR (0.01) more, e.g.

    error rate e -> 1.25 e + 0.01      (accuracy, precision, recall, F1, ROC AUC: 1 - metric)
    MAE, RMSE, spread of the errors, log-loss, MAPE -> 1.25 x;      1 - R2 -> 1.25 (1 - R2)

Why that much: the detector tolerates a reference that is too good by up to about half of the
degradation it looks for (0.025 of error rate with the default `min_increase` 0.05; 9 % of the MAE
with the default 0.2) before a stationary stream drives it up. With the margin, a production error
rate up to about 1.25 e + 0.035, or a production MAE up to about 1.37 times the in-sample one, is
still stationary to it: regularised models (logistic regression, boosting with early stopping)
usually stay inside that. A model that fits its training data much more closely (deep trees,
random forests, whose training error is near 0) is outside any fixed margin: give it held-out
data. tests/benchmarks/bench_concept.py measures both on a mildly overfit model.

The raw in-sample values are kept in the baseline beside the inflated ones, with the margin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

HELD_OUT = "held_out"
IN_SAMPLE_INFLATED = "in_sample_inflated"
IN_SAMPLE_MARGIN = 0.25
IN_SAMPLE_FLOOR = 0.01

# Metrics in 0..1 where higher is better (their error is 1 - metric), and metrics where lower is better.
_RATIOS = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc"})
_ERRORS = frozenset({"mae", "rmse", "abs_error_std", "log_loss", "mape"})

IN_SAMPLE_WARNING = (
    "the reference performance is computed on the training data (in-sample), where a model looks "
    "better than in production; it is inflated by {margin:.0%} (+{floor} for ratios) so that a "
    "stationary stream does not look degraded, which a model that overfits more still will. "
    "Give held-out rows with --performance-data to measure it properly."
)


def inflate(metrics: Mapping[str, float | None], margin: float = IN_SAMPLE_MARGIN) -> dict[str, float | None]:
    """In-sample metrics made worse by the documented margin (counts and bounds unchanged)."""
    out: dict[str, float | None] = {}
    for name, value in metrics.items():
        if value is None:
            out[name] = None
        elif name in _RATIOS:
            out[name] = max(0.0, 1.0 - ((1.0 - value) * (1.0 + margin) + IN_SAMPLE_FLOOR))
        elif name in _ERRORS:
            out[name] = value * (1.0 + margin)
        elif name == "r2":
            out[name] = 1.0 - (1.0 - value) * (1.0 + margin)
        else:
            out[name] = value
    return out


def held_out_origin(source: str, rows: int) -> dict[str, Any]:
    return {"method": HELD_OUT, "source": source, "rows": rows}


def in_sample_origin(
    in_sample: Mapping[str, float | None], margin: float = IN_SAMPLE_MARGIN
) -> dict[str, Any]:
    return {
        "method": IN_SAMPLE_INFLATED,
        "margin": margin,
        "floor": IN_SAMPLE_FLOOR,
        "in_sample": dict(in_sample),
    }
