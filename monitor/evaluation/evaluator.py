"""Turn partition states into window results.

The concept-drift flag of a window comes from the episodes of the error-stream detector, which
runs over every partition too (monitor.evaluation.concept, `Evaluator.concept`): a window is
flagged when its event-time range overlaps an episode, whenever it is evaluated.

Each input partition keeps its own windows (monitor.pipeline.monitor.Monitor). A window's result is
computed from the merge of that window across every partition (sketches and accumulators
merge exactly), so it is the same however partitions are spread over instances. The
evaluator remembers a fingerprint of what it last evaluated for each window and evaluates
again only when something changed: a window closing, late outcomes, expiry.

Collecting (`due`) is cheap and runs under the service's lock; it returns merged copies,
which `evaluate` then works on outside the lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.baselines.baseline import Baseline
from monitor.baselines.store import BaselineStore
from monitor.config import DriftlineConfig
from monitor.core.performance import performance_metrics
from monitor.core.performance.degradation import shown_drop
from monitor.errors import BaselineError
from monitor.evaluation.comparison import ComparisonEvaluator
from monitor.evaluation.concept import ConceptEvaluator
from monitor.evaluation.drift import evaluate
from monitor.evaluation.estimated import estimated_performance
from monitor.evaluation.multivariate import evaluate_multivariate
from monitor.evaluation.results import PerformanceReport, WindowResult
from monitor.evaluation.segment_drift import segment_drift_report
from monitor.pipeline.monitor import Monitor
from monitor.pipeline.windows import WindowState, ms_to_datetime

log = logging.getLogger("driftline.evaluator")
Key = tuple[str, str, int]  # model, version, window start


@dataclass(frozen=True)
class Due:
    model: str
    version: str
    window: WindowState  # merged across partitions; a private copy
    concept_drift: bool  # the window's event-time range overlaps a concept-drift episode
    concept_drift_at: int | None  # that episode's start, ms


class Evaluator:
    def __init__(self, config: DriftlineConfig, baselines: Mapping[tuple[str, str], Baseline]) -> None:
        self.models = {m.name: m for m in config.models}
        self.baselines = baselines
        self.store = BaselineStore(config.baselines.path)
        self.concept = ConceptEvaluator(config, baselines)  # the error-stream detector (concept drift)
        self.comparison = ComparisonEvaluator(config)  # candidate versions against the baseline version
        self._seen: dict[Key, tuple[int, ...]] = {}
        # Baselines by id that windows may still be built on: those swapped out while windows
        # were open (Service.swap_baseline), and those read back from the store after a restart.
        self._by_id: dict[str, Baseline] = {}
        # Where to look last for a baseline id: those other instances published (set by the
        # runner: monitor.baseline_sharing), which their windows may be built on before this
        # instance has swapped them in.
        self.fetch: Callable[[str, str, str], Baseline | None] | None = None

    def due(self, partitions: Sequence[Monitor]) -> list[Due]:
        """Merged copies of the closed windows (`_complete`) that changed since they were last
        evaluated."""
        parts: dict[Key, list[WindowState]] = {}
        furthest: dict[tuple[str, str], int] = {}  # the largest partition watermark per stream
        for monitor in partitions:
            for (model, version), stream in monitor.streams.items():
                furthest[(model, version)] = max(furthest.get((model, version), -1), stream.watermark)
                for start, window in stream.windows.items():
                    parts.setdefault((model, version, start), []).append(window)
        due = []
        for key, windows in sorted(parts.items()):
            closed = self._complete(key[0], windows, furthest[key[:2]])
            fingerprint = tuple(sum(values) for values in zip(*(w.fingerprint for w in windows), strict=True))
            # The concept flag is part of it: an episode reaching a window already evaluated re-evaluates it.
            concept = self.concept.flag(key[0], key[1], windows[0].start, windows[0].end)
            fingerprint = (*fingerprint, len(windows), all(w.final for w in windows), *concept)
            if not closed or self._seen.get(key) == fingerprint:
                continue
            self._seen[key] = fingerprint
            merged = windows[0].copy()
            for other in windows[1:]:
                merged = merged.merge(other)
            due.append(Due(key[0], key[1], merged, *concept))
        live = set(parts)
        self._seen = {k: v for k, v in self._seen.items() if k in live}
        return due

    def _complete(self, model: str, windows: Sequence[WindowState], furthest: int) -> bool:
        """Whether a window is ready to evaluate: closed in every partition that holds it (a
        partition behind the others still has its share to add: evaluated before, a window would
        raise alarms on part of its data). So that a partition that gets no more predictions
        cannot hold a window back for ever, it is also ready once one partition closed it and the
        furthest partition is a whole window length past its close."""
        if all(w.closed for w in windows):
            return True
        first = windows[0]
        lateness = int(self.models[model].allowed_lateness.total_seconds() * 1000)
        grace = first.end + lateness + (first.end - first.start)
        return any(w.closed for w in windows) and furthest >= grace

    @staticmethod
    def drop_final(partitions: Sequence[Monitor]) -> None:
        """Forget windows that are final in every partition holding them (after their final
        evaluation: call under the same lock as `due`)."""
        holders: dict[Key, list[dict[int, WindowState]]] = {}
        for monitor in partitions:
            for (model, version), stream in monitor.streams.items():
                for start in stream.windows:
                    holders.setdefault((model, version, start), []).append(stream.windows)
        for (_, _, start), tables in holders.items():
            if all(table[start].final for table in tables):
                for table in tables:
                    del table[start]

    def remember(self, baseline: Baseline) -> None:
        """Keep a baseline that open windows were built on after it stops being the active one."""
        self._by_id[baseline.id] = baseline

    def find_baseline(self, model: str, version: str, baseline_id: str) -> Baseline | None:
        """Baseline `baseline_id` of a model version: the active one, one swapped out while windows
        were open, one read from the baseline directory, or one another instance published; None
        if it is stored nowhere (any more)."""
        active = self.baselines.get((model, version))
        if active is not None and (not baseline_id or baseline_id == active.id):
            return active
        found = self._by_id.get(baseline_id)
        if found is None:
            try:
                found = self.store.load(model, version, baseline_id)
            except BaselineError as err:
                found = self.fetch(model, version, baseline_id) if self.fetch is not None else None
                if found is None:
                    log.warning("%s", err)
                    return None
            self._by_id[baseline_id] = found
        return found

    def baseline_of(self, model: str, version: str, baseline_id: str) -> Baseline:
        """The baseline a window's sketches were built on (its bins): the active one unless another
        was swapped in since the window opened (or the window's is no longer stored)."""
        return self.find_baseline(model, version, baseline_id) or self.baselines[(model, version)]

    def evaluate(self, due: Due, now: datetime) -> WindowResult:
        cfg = self.models[due.model]
        window = due.window
        baseline = self.baseline_of(due.model, due.version, window.baseline_id)
        start, end = ms_to_datetime(window.start), ms_to_datetime(window.end)
        performance = self._performance(due.model, baseline, window)
        return WindowResult(
            model=cfg.name,
            model_version=due.version,
            window_start=start,
            window_end=end,
            final=window.final,
            drift=evaluate(window.sketch, baseline, cfg, start, end),
            performance=performance,
            concept_drift=due.concept_drift and cfg.concept_drift.enabled,
            concept_drift_at=(
                ms_to_datetime(due.concept_drift_at) if due.concept_drift_at is not None else None
            ),
            expired_predictions=window.expired,
            label_delay=window.label_delay,
            evaluated_at=now,
            sample=window.sketch.reservoir,
            estimated=estimated_performance(window, baseline, cfg, performance),
            multivariate=evaluate_multivariate(window, baseline),
            segments=segment_drift_report(window, baseline, cfg),
        )

    def _performance(self, model: str, baseline: Baseline, window: WindowState) -> PerformanceReport:
        cfg = self.models[model]
        metrics = performance_metrics(window.performance)
        reference = baseline.reference_performance or {}
        n = int(metrics.get("n") or 0)
        degraded = False
        if n >= cfg.performance.min_pairs:  # a drop beyond the tolerance that the sample shows
            if cfg.task == "classification":
                drop = shown_drop("accuracy", metrics, reference, n)
                degraded = drop is not None and drop > cfg.performance.max_accuracy_drop
            else:
                drop, ref = shown_drop("mae", metrics, reference, n), reference.get("mae")
                tolerance = None if ref is None else ref * cfg.performance.max_mae_increase
                degraded = drop is not None and tolerance is not None and drop > tolerance
        return PerformanceReport(n_pairs=n, metrics=metrics, reference=reference, degraded=degraded)
