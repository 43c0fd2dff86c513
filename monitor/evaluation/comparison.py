"""Version comparison in the stream: each candidate version of a model against its baseline version
(the model's `comparison` section), kept durable in the state store.

Canary mode: the versions serve different rows, so the comparison is unpaired
(monitor.core.comparison.unpaired). After every evaluation pass, `advance` reads the
evaluated windows of the versions it compares: each window's joined outcomes as `MeanSums` (from its
realised accuracy, or MAE and RMSE), replacing what that window gave before (a window is evaluated
again as late outcomes arrive). The verdict comes from the sums of every window since the
comparison started; a window that both versions have final is folded into a running total, in
window order, and the windows below the folded position are not counted again (a restart that
evaluates a final window once more adds nothing). A version without a given window (no rows then)
counts as final there once one of its later windows is final: a version's windows turn final in
window order, so a window evaluated for the first time below the fold (one this rule took for
absent) is not counted either. The state is one record per comparison
(`comparison/<model>/<baseline>/<candidate>`) in the state store's records table, read back on every
pass, so a restart, or another instance taking over evaluation, continues the same comparison.

Shadow mode: the versions predict on the same rows, under the same prediction ids, and each
candidate window holds the paired sums of its predictions with the baseline version's
(monitor.pipeline.monitor: agreement, and the paired differences of the ids whose outcome joined
both). `peer_predictions` merges them across partitions; `advance` keeps each window's, replacing
what it gave before, and folds them with the window like the unpaired sums (so a final window is not
counted twice). The verdict comes from `compare_versions` on the merge of all of them (the unpaired
sums are still kept, each version's joined outcomes, and reported beside it).

Each candidate window's result gets a `VersionComparison` (monitor.evaluation.results): the verdict
with its cumulative evidence, the window's own evidence, and the drift of the candidate's
predictions against the baseline version's in the same window (`peer_predictions` merges the
baseline version's window across partitions under the service's lock). A baseline-version window
evaluated alone moves the cumulative sums; the verdict it changes shows on the next candidate window.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson

from monitor.config import ComparisonConfig, DriftlineConfig, ModelConfig
from monitor.core.comparison import (
    ComparisonResult,
    ComparisonSpec,
    MeanSums,
    PairedWindow,
    UnpairedComparison,
    Verdict,
    VerdictRule,
    compare_unpaired,
    compare_versions,
    prediction_drift,
)
from monitor.core.sketch import NumericSketch, Sketch
from monitor.errors import DriftlineError
from monitor.evaluation.concept import RecordStore
from monitor.evaluation.results import VersionComparison, WindowResult
from monitor.pipeline.monitor import Monitor
from monitor.pipeline.windows import WindowState, ms_to_datetime

log = logging.getLogger("driftline.comparison")
RECORD = "state"
Key = tuple[str, str, str]  # model, baseline version, candidate version


@dataclass(frozen=True)
class WindowPeers:
    """What a candidate window is compared with, merged across partitions (a private copy)."""

    baseline_predictions: Sketch | None  # the baseline version's prediction sketch of the window
    candidate_predictions: Sketch
    paired: PairedWindow | None  # shadow mode: the window's paired sums


Peers = dict[tuple[str, str, int], WindowPeers]  # (model, candidate, window start)


def namespace(key: Key) -> str:
    return "comparison/{}/{}/{}".format(*key)


def verdict_rule(config: ComparisonConfig) -> VerdictRule:
    return VerdictRule(
        alpha_rollback=config.alpha_rollback,
        alpha_promote=config.alpha_promote,
        rollback_margin=config.rollback_margin,
        promote_margin=config.promote_margin,
        min_pairs=config.min_pairs,
    )


def window_sums(config: ModelConfig, result: WindowResult) -> MeanSums:
    """A window's joined outcomes as sums of the per-row metric (right answers; absolute errors)."""
    metrics = result.performance.metrics
    n = int(metrics.get("n") or 0)
    if config.task == "classification":
        return MeanSums.of_metrics("classification", n, metrics.get("accuracy"))
    return MeanSums.of_metrics("regression", n, metrics.get("mae"), metrics.get("rmse"))


@dataclass
class WindowPair:
    """One window's sums of each version (None: not evaluated yet) and whether each is final."""

    a: MeanSums | None = None
    b: MeanSums | None = None
    a_final: bool = False
    b_final: bool = False
    paired: PairedWindow | None = None  # shadow mode: the candidate window's paired sums

    def settled(self, start: int, final_a: int, final_b: int) -> bool:
        """Both versions' windows final; a version without this window counts as final once one of
        its later windows is (its windows turn final in order: this one will not come any more)."""
        a_done = self.a_final if self.a is not None else final_a > start
        b_done = self.b_final if self.b is not None else final_b > start
        return a_done and b_done

    def to_state(self) -> list[Any]:
        return [
            None if self.a is None else self.a.to_state(),
            None if self.b is None else self.b.to_state(),
            self.a_final,
            self.b_final,
            _paired_state(self.paired),
        ]

    @classmethod
    def from_state(cls, state: list[Any]) -> WindowPair:
        a, b, a_final, b_final, *paired = state  # states before shadow mode have no paired sums
        return cls(
            None if a is None else MeanSums.from_state(a),
            None if b is None else MeanSums.from_state(b),
            bool(a_final),
            bool(b_final),
            _paired(paired[0] if paired else None),
        )


def _paired_state(paired: PairedWindow | None) -> dict[str, Any] | None:
    return None if paired is None else {"spec": paired.spec.to_state(), "window": paired.to_state()}


def _paired(state: dict[str, Any] | None) -> PairedWindow | None:
    if state is None:
        return None
    return PairedWindow.from_state(state["window"], ComparisonSpec.from_state(state["spec"]))


def _add_paired(total: PairedWindow | None, window: PairedWindow | None) -> PairedWindow | None:
    """`total` with `window` added; a window on another spec than the total (the baseline version's
    baseline rebuilt mid-comparison) is left out: its prediction sketches cannot be added."""
    if window is None:
        return total
    if total is None:
        return window.merge(PairedWindow(window.spec))
    if window.spec != total.spec:
        log.warning("a window's paired sums are on another comparison spec than the total: left out")
        return total
    return total.merge(window)


@dataclass
class ComparisonState:
    """Everything joined since a comparison started: the folded total of each version, the windows
    not folded yet, and the verdict with when it last changed (ms, the evaluation clock)."""

    started: int
    folded_a: MeanSums = field(default_factory=MeanSums)
    folded_b: MeanSums = field(default_factory=MeanSums)
    folded_before: int = -(2**62)  # windows starting below it are in the folded totals
    windows: dict[int, WindowPair] = field(default_factory=dict)
    verdict: Verdict = "hold"
    verdict_since: int = 0
    newest: int = -(2**62)  # the start of the newest window counted (event time, ms)
    verdict_window: int = -(2**62)  # `newest` when the verdict last changed
    final_a: int = -(2**62)  # the start of the newest final window of each version
    final_b: int = -(2**62)
    folded_paired: PairedWindow | None = None  # shadow mode: the folded windows' paired sums

    def update(
        self, start: int, sums: MeanSums, final: bool, is_baseline: bool, paired: PairedWindow | None = None
    ) -> bool:
        """Record one version's window; False if the window is already folded (not counted again)."""
        if start < self.folded_before:
            return False
        self.newest = max(self.newest, start)
        pair = self.windows.setdefault(start, WindowPair())
        if is_baseline:
            pair.a, pair.a_final = sums, final
            self.final_a = max(self.final_a, start) if final else self.final_a
        else:
            pair.b, pair.b_final = sums, final
            pair.paired = paired if paired is not None else pair.paired
            self.final_b = max(self.final_b, start) if final else self.final_b
        return True

    def fold(self) -> None:
        """Fold settled windows into the totals, lowest first, up to the first one still open."""
        for start in sorted(self.windows):
            pair = self.windows[start]
            if not pair.settled(start, self.final_a, self.final_b):
                break
            self.folded_a.add(pair.a or MeanSums())
            self.folded_b.add(pair.b or MeanSums())
            self.folded_paired = _add_paired(self.folded_paired, pair.paired)
            self.folded_before = start + 1
            del self.windows[start]

    def totals(self) -> tuple[MeanSums, MeanSums]:
        a = MeanSums(self.folded_a.n, self.folded_a.total, self.folded_a.squares)
        b = MeanSums(self.folded_b.n, self.folded_b.total, self.folded_b.squares)
        for pair in self.windows.values():
            a.add(pair.a or MeanSums())
            b.add(pair.b or MeanSums())
        return a, b

    def paired_total(self) -> PairedWindow | None:
        """Shadow mode: the paired sums of every window since the comparison started."""
        total = _add_paired(None, self.folded_paired)
        for _, pair in sorted(self.windows.items()):
            total = _add_paired(total, pair.paired)
        return total

    def to_state(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "folded_a": self.folded_a.to_state(),
            "folded_b": self.folded_b.to_state(),
            "folded_before": self.folded_before,
            "windows": [[start, pair.to_state()] for start, pair in sorted(self.windows.items())],
            "verdict": self.verdict,
            "verdict_since": self.verdict_since,
            "newest": self.newest,
            "verdict_window": self.verdict_window,
            "final_a": self.final_a,
            "final_b": self.final_b,
            "folded_paired": _paired_state(self.folded_paired),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ComparisonState:
        verdict = state["verdict"]
        if verdict not in ("promote", "hold", "rollback"):
            raise ValueError(f"unknown verdict {verdict!r}")
        return cls(
            int(state["started"]),
            MeanSums.from_state(state["folded_a"]),
            MeanSums.from_state(state["folded_b"]),
            int(state["folded_before"]),
            {int(start): WindowPair.from_state(pair) for start, pair in state["windows"]},
            verdict,
            int(state["verdict_since"]),
            int(state["newest"]),
            int(state["verdict_window"]),
            int(state["final_a"]),
            int(state["final_b"]),
            _paired(state.get("folded_paired")),  # absent from states before shadow mode
        )


class ComparisonEvaluator:
    """Runs every configured comparison over the evaluated windows (see module doc)."""

    def __init__(self, config: DriftlineConfig) -> None:
        self.models = {m.name: m for m in config.models if m.comparison is not None}
        # Where the state is kept durable (set by the runners, as for concept drift); None: memory only.
        self.store: RecordStore | None = None
        self._states: dict[Key, ComparisonState] = {}
        self._saved: dict[Key, bytes] = {}
        self._lock = threading.Lock()  # guards _view, read by the API thread
        self._view: dict[Key, dict[str, Any]] = {}  # the status of each comparison, as of the last pass

    def attach(self, store: RecordStore | None) -> None:
        self.store = store

    def keys(self, model: str) -> list[Key]:
        config = self.models.get(model)
        if config is None or config.comparison is None:
            return []
        return [(model, config.comparison.baseline, c) for c in config.comparison.candidates]

    def peer_predictions(
        self, partitions: Sequence[Monitor], due: Sequence[tuple[str, str, WindowState]]
    ) -> Peers:
        """For each due candidate window (merged across partitions): the baseline version's
        prediction sketch of the same window, merged across partitions, the candidate's, and in
        shadow mode the window's paired sums (call under the service's lock: it reads the
        partitions' windows)."""
        peers: Peers = {}
        for item_model, item_version, item_window in due:
            for model, baseline, candidate in self.keys(item_model):
                if candidate != item_version:
                    continue
                comparison = self.models[model].comparison
                shadow = comparison is not None and comparison.mode == "shadow"
                merged: Sketch | None = None
                for monitor in partitions:
                    stream = monitor.streams.get((model, baseline))
                    window = None if stream is None else stream.windows.get(item_window.start)
                    if window is not None:
                        part = window.sketch.prediction
                        merged = part.merge(part.empty_like()) if merged is None else merged.merge(part)  # type: ignore[arg-type]
                paired = item_window.paired if shadow else None
                if merged is not None or paired is not None:
                    peers[(model, candidate, item_window.start)] = WindowPeers(
                        merged, item_window.sketch.prediction, paired
                    )
        return peers

    def advance(self, results: Sequence[WindowResult], peers: Peers, now: datetime) -> list[WindowResult]:
        """Count the pass's windows into their comparisons, decide, save, and return the results with
        each candidate window's `comparison` filled in."""
        now_ms = int(now.timestamp() * 1000)
        touched: set[Key] = set()
        loaded: dict[Key, ComparisonState] = {}
        for result in results:
            for key in self.keys(result.model):
                if result.model_version not in key[1:]:
                    continue
                if key not in loaded:  # read back once per pass (another instance may have moved it)
                    loaded[key] = self._load(key, now_ms)
                state = loaded[key]
                start = int(result.window_start.timestamp() * 1000)
                sums = window_sums(self.models[key[0]], result)
                peer = peers.get((key[0], result.model_version, start))
                paired = None if peer is None else peer.paired
                if state.update(start, sums, result.final, result.model_version == key[1], paired):
                    touched.add(key)
        cumulative = {key: self._decide(key, now_ms) for key in sorted(touched)}
        out = []
        for result in results:
            mine = next((k for k in self.keys(result.model) if k[2] == result.model_version), None)
            if mine is not None and mine in cumulative:
                result = replace(result, comparison=self._report(mine, cumulative[mine], result, peers))
            out.append(result)
        self._save(touched)
        view = {key: self._status(key, state) for key, state in self._states.items()}
        with self._lock:
            self._view = view
        return out

    def _decide(self, key: Key, now_ms: int) -> tuple[UnpairedComparison, ComparisonResult | None]:
        """The cumulative comparison of `key` (unpaired, and in shadow mode paired: None before any
        pair), updating its verdict (and when it last changed): the paired one in shadow mode."""
        config = self.models[key[0]]
        assert config.comparison is not None
        state = self._states[key]
        a, b = state.totals()
        rule = verdict_rule(config.comparison)
        cumulative = compare_unpaired(config.task, a, b, rule)
        verdict, paired = cumulative.verdict, None
        if config.comparison.mode == "shadow":
            total = state.paired_total()
            paired = None if total is None else compare_versions(total, rule)
            verdict = "hold" if paired is None else paired.verdict
        if verdict != state.verdict:
            state.verdict, state.verdict_since = verdict, now_ms
            state.verdict_window = state.newest
        return cumulative, paired

    def _report(
        self,
        key: Key,
        decided: tuple[UnpairedComparison, ComparisonResult | None],
        result: WindowResult,
        peers: Peers,
    ) -> VersionComparison:
        config = self.models[key[0]]
        assert config.comparison is not None
        state = self._states[key]
        start = int(result.window_start.timestamp() * 1000)
        pair = state.windows.get(start, WindowPair())
        own = compare_unpaired(
            config.task, pair.a or MeanSums(), pair.b or MeanSums(), verdict_rule(config.comparison)
        )
        drift = None
        peer = peers.get((key[0], key[2], start))
        if peer is not None and peer.baseline_predictions is not None:
            baseline_predictions = peer.baseline_predictions
            spread = (
                baseline_predictions.moments.std if isinstance(baseline_predictions, NumericSketch) else 1.0
            )
            drift = prediction_drift(baseline_predictions, peer.candidate_predictions, spread or 1.0)
        cumulative, paired = decided
        paired_window = None
        if config.comparison.mode == "shadow" and pair.paired is not None:
            paired_window = compare_versions(pair.paired, verdict_rule(config.comparison))
        return VersionComparison(
            baseline_version=key[1],
            candidate_version=key[2],
            mode=config.comparison.mode,
            since=ms_to_datetime(state.started),
            verdict=state.verdict,
            verdict_since=ms_to_datetime(state.verdict_since),
            verdict_window_start=None if state.verdict_window < 0 else ms_to_datetime(state.verdict_window),
            cumulative=cumulative,
            window=own,
            prediction_drift=drift,
            paired=paired,
            paired_window=paired_window,
        )

    def _save(self, keys: set[Key]) -> None:
        puts = []
        for key in sorted(keys):
            state = self._states[key]
            state.fold()
            blob = orjson.dumps(state.to_state())
            if blob != self._saved.get(key):
                puts.append((key, blob))
                self._saved[key] = blob
        if puts and self.store is not None:
            try:
                self.store.write_records([(namespace(key), RECORD, blob) for key, blob in puts])
            except DriftlineError as err:  # kept in memory; the next pass writes it again
                log.warning("could not save the version comparison state: %s", err)
                for key, _ in puts:
                    self._saved.pop(key, None)

    def _load(self, key: Key, now_ms: int) -> ComparisonState:
        raw = self._saved.get(key)
        if self.store is not None:
            try:
                raw = self.store.load_records(namespace(key)).get(RECORD)
            except DriftlineError as err:
                log.warning("could not read the version comparison state, using this instance's: %s", err)
        state = self._states.get(key)
        if raw is not None and (state is None or raw != self._saved.get(key)):
            try:
                state = ComparisonState.from_state(orjson.loads(raw))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as err:
                log.error(
                    "the comparison record of model %s, %s against %s, is unreadable (%r): starting it over",
                    key[0],
                    key[2],
                    key[1],
                    err,
                )
                state = None
            self._saved[key] = raw
        if state is None:
            state = ComparisonState(started=now_ms, verdict_since=now_ms)
        self._states[key] = state
        return state

    @staticmethod
    def _status(key: Key, state: ComparisonState) -> dict[str, Any]:
        a, b = state.totals()
        return {
            "baseline_version": key[1],
            "candidate_version": key[2],
            "verdict": state.verdict,
            "verdict_since": ms_to_datetime(state.verdict_since).isoformat(),
            "verdict_window_start": None
            if state.verdict_window < 0
            else ms_to_datetime(state.verdict_window).isoformat(),
            "since": ms_to_datetime(state.started).isoformat(),
            "joined": {key[1]: a.n, key[2]: b.n},
            **_paired_status(state.paired_total()),
        }

    def status(self, model: str) -> list[dict[str, Any]]:
        """The current verdict of each comparison of a model as of the last pass (also one that only
        a baseline-version window moved), for the API."""
        with self._lock:
            view = dict(self._view)
        return [view[key] for key in self.keys(model) if key in view]


def _paired_status(total: PairedWindow | None) -> dict[str, Any]:
    """Shadow mode: the ids both versions predicted, how many agreed, and the pairs joined."""
    if total is None:
        return {}
    return {"paired": {"shared": total.n_shared, "agreed": total.n_agree, "joined": total.n_joined}}
