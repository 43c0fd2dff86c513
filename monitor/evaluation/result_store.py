"""The latest results per window, kept in memory for exporters, alerts and the API.

Every result is also stored in the state store, and this store is filled from there when a
service starts (monitor.state.durable_results), so it holds windows evaluated before a restart.

Thread-safe: evaluations write from the scheduler's threads while the HTTP server reads.
Bounded: at most `history` windows per (model, version), and only the newest `samples_kept`
of them keep their row sample (`WindowResult.sample`, for reports): about 20 kB per column at
the default 2000 rows (more with long category strings), too much to hold for a week of windows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

from monitor.evaluation.results import WindowResult


@dataclass
class ResultStore:
    history: int = 168
    samples_kept: int = 24
    _results: dict[tuple[str, str], dict[float, WindowResult]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, result: WindowResult) -> None:
        key = (result.model, result.model_version)
        with self._lock:
            windows = self._results.setdefault(key, {})
            windows[result.window_start.timestamp()] = result
            ordered = sorted(windows)
            for old in ordered[: max(0, len(windows) - self.history)]:
                del windows[old]
            for old in ordered[: max(0, len(ordered) - self.samples_kept)]:
                if old in windows and windows[old].sample is not None:
                    windows[old] = replace(windows[old], sample=None)

    def streams(self) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(self._results)

    def windows(self, model: str, version: str) -> list[WindowResult]:
        """Results of one stream, oldest window first."""
        with self._lock:
            windows = self._results.get((model, version), {})
            return [windows[k] for k in sorted(windows)]

    def latest(self, model: str, version: str) -> WindowResult | None:
        windows = self.windows(model, version)
        return windows[-1] if windows else None

    def latest_with_performance(self, model: str, version: str, min_pairs: int) -> WindowResult | None:
        """The newest window with enough joined pairs to judge its performance."""
        for result in reversed(self.windows(model, version)):
            if result.performance.n_pairs >= min_pairs:
                return result
        return None
