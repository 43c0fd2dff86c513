"""A window's performance estimated without outcomes, beside the realised one.

The estimate covers every prediction of the window (the outcomes may be days away); once the
window has `performance.min_pairs` joined pairs, each estimated metric is compared with the
realised one. The comparison is with the estimate over all the window's predictions, which is
fair when outcomes arrive for a random share of them (how late an outcome is does not depend on
how right the prediction was): the realised metric of the final window covers nearly all rows.
"""

from __future__ import annotations

from monitor.baselines.baseline import Baseline
from monitor.config import ModelConfig
from monitor.core.estimation import CBPEWindow, compare
from monitor.core.estimation.result import shown_drop
from monitor.evaluation.results import EstimatedPerformance, PerformanceReport
from monitor.pipeline.windows import WindowState


def estimated_performance(
    window: WindowState, baseline: Baseline, cfg: ModelConfig, realised: PerformanceReport
) -> EstimatedPerformance | None:
    if window.estimation is None:
        return None
    estimate = window.estimation.estimate()
    if not estimate.metrics:
        return None
    reference = baseline.reference_performance or {}
    degraded = False
    if cfg.task == "classification":
        headline = estimate.metrics.get("accuracy")
        drop = None if headline is None else shown_drop(headline, reference.get("accuracy"))
        degraded = drop is not None and drop > cfg.performance.max_accuracy_drop
    else:
        headline, ref = estimate.metrics.get("mae"), reference.get("mae")
        drop = None if headline is None else shown_drop(headline, ref)
        degraded = drop is not None and ref is not None and drop > ref * cfg.performance.max_mae_increase
    versus = {}
    for name, metric in estimate.metrics.items():
        compared = compare(metric, realised.metrics.get(name), realised.n_pairs, cfg.performance.min_pairs)
        if compared is not None:
            versus[name] = compared
    return EstimatedPerformance(
        method="cbpe" if isinstance(window.estimation, CBPEWindow) else "dle",
        n_rows=estimate.n,
        metrics=dict(estimate.metrics),
        degraded=degraded,
        versus_realised=versus,
    )
