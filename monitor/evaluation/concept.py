"""The concept-drift decision: one CUSUM per model version over the error stream merged across
every input partition, with episodes, kept durable in the state store.

Each partition summarises its joined errors per bucket of outcome time (monitor.core.error_buckets).
On every evaluation pass the evaluator reads them all (`collect`, under the service's lock), and
`advance`:

- takes, per partition, what is new since the last pass: the pairs of each bucket it seals now,
  and, as one lump, whatever the partition holds below the previous sealed position beyond what
  was consumed there (its `dropped` summary and old buckets: late pairs). That part only grows as
  a partition reads on, and a partition restored from an older checkpoint holds less than was
  consumed (so nothing new until its replay passes that point): every pair counts once, across
  restarts and rebalances;
- seals the buckets that the watermark (the furthest any partition's joined stream has got: the
  earlier of how far its predictions and its outcomes were read; the furthest, so an idle
  partition holds nothing up) has passed by `lateness`, merges the partitions' new pairs per bucket
  and feeds the sealed buckets to the tracker in outcome-time order (monitor.core.concept_episodes).
  Pairs that arrive for an already sealed bucket (a lagging partition, a late outcome) are folded
  into the next bucket sealed;
- saves its state (CUSUM, sealed position, what it consumed of each partition, episodes) as one
  record per model version (`concept/<model>/<version>`) in the state store's records table, after
  handing the episode starts and ends to the sinks (so a crash in between re-announces them, under
  the same ids, rather than losing them). It reads that record back on every pass, so a restart,
  or another instance taking over evaluation, continues from it.

A window's `concept_drift` is then whether its event-time range overlaps an episode (`flag`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from monitor.baselines.baseline import Baseline
from monitor.config import DriftlineConfig, ModelConfig
from monitor.core.concept_episodes import ConceptTracker, Episode, EpisodeEvent
from monitor.core.detectors import DetectorSettings
from monitor.core.error_buckets import ErrorBuckets
from monitor.core.error_summary import NO_TIME, ErrorSummary
from monitor.errors import DriftlineError
from monitor.pipeline.monitor import Monitor

log = logging.getLogger("driftline.concept")
RECORD = "state"
Key = tuple[str, str]  # model, version
Snapshot = dict[Key, dict[int, ErrorBuckets]]  # per model version, per partition: a private copy


class RecordStore(Protocol):
    """The part of the state store (monitor.state.store.StateStore) this module uses."""

    def write_records(
        self, puts: Sequence[tuple[str, str, bytes]] = (), deletes: Sequence[tuple[str, str]] = ()
    ) -> None: ...

    def load_records(self, namespace: str) -> dict[str, bytes]: ...


def namespace(model: str, version: str) -> str:
    return f"concept/{model}/{version}"


def detector_settings(config: ModelConfig) -> DetectorSettings:
    settings = config.concept_drift
    return DetectorSettings(
        task=config.task,
        min_increase=settings.min_increase,
        false_alarm_prob=settings.false_alarm_prob,
        horizon=settings.horizon,
        warmup=settings.warmup,
    )


@dataclass(frozen=True)
class StreamEpisodeEvent:
    model: str
    version: str
    kind: str  # "start" or "end"
    episode: Episode


def take(
    part: ErrorBuckets, consumed: ErrorSummary, old: int, new: int
) -> tuple[ErrorSummary, dict[int, ErrorSummary], ErrorSummary]:
    """What is new in one partition's buckets when the sealed position moves from `old` to `new`:
    the late pairs (below `old`, beyond what was `consumed` there), the pairs of each bucket sealed
    now, and what has been consumed of the partition afterwards.

    Below `old` the partition's pairs (its `dropped` summary, whose floor is never above the
    sealed position, and its buckets there) only grow as it reads on, and shrink when it is
    restored from an older checkpoint: the difference from what was consumed counts new pairs only,
    and none until a restored partition's replay has passed what was consumed. Buckets from `old`
    on were never read before."""
    below = part.dropped.copy()
    fresh: dict[int, ErrorSummary] = {}
    for start, summary in part.buckets.items():
        if start < old:
            below.add(summary)
        elif start < new and not summary.empty:
            fresh[start] = summary.copy()
    after = consumed.at_least(below)
    for summary in fresh.values():
        after.add(summary)
    return below.minus(consumed), fresh, after


@dataclass
class VersionConcept:
    """The evaluator's state for one model version."""

    tracker: ConceptTracker
    sealed: int = NO_TIME  # buckets starting below it have been fed to the tracker
    watermark: int = NO_TIME  # the furthest any partition's joined stream has got (ms)
    carry: ErrorSummary = field(default_factory=ErrorSummary)  # late pairs waiting for the next bucket
    consumed: dict[int, ErrorSummary] = field(default_factory=dict)  # per input partition, below `sealed`

    def to_state(self) -> dict[str, Any]:
        return {
            "tracker": self.tracker.to_state(),
            "sealed": self.sealed,
            "watermark": self.watermark,
            "carry": self.carry.to_state(),
            "consumed": [[p, c.to_state()] for p, c in sorted(self.consumed.items())],
        }

    @classmethod
    def from_state(
        cls, state: dict[str, Any], config: ModelConfig, reference: Mapping[str, float | None] | None
    ) -> VersionConcept:
        tracker = ConceptTracker.from_state(
            state["tracker"], detector_settings(config), config.concept_drift.rearm_pairs, reference
        )
        return cls(
            tracker,
            int(state["sealed"]),
            int(state["watermark"]),
            ErrorSummary.from_state(state["carry"]),
            {int(p): ErrorSummary.from_state(c) for p, c in state["consumed"]},
        )

    def step(
        self, parts: Mapping[int, ErrorBuckets], bucket_ms: int, lateness_ms: int, final: bool
    ) -> list[EpisodeEvent]:
        """Consume what the partitions hold that is new, seal what the watermark has passed, feed it."""
        self.watermark = max([self.watermark, *(p.watermark for p in parts.values())])
        if self.watermark == NO_TIME:
            return []
        sealed = max(self.sealed, (self.watermark - lateness_ms) // bucket_ms * bucket_ms)
        if final:  # the input has ended: every bucket is complete
            ends = [s + bucket_ms for p in parts.values() for s in p.buckets]
            sealed = max([sealed, *ends])
        late = ErrorSummary()
        buckets: dict[int, ErrorSummary] = {}
        for number, part in sorted(parts.items()):
            below, fresh, self.consumed[number] = take(
                part, self.consumed.get(number, ErrorSummary()), self.sealed, sealed
            )
            late.add(below)
            for start, new in fresh.items():
                buckets.setdefault(start, ErrorSummary()).add(new)
        self.sealed = sealed
        ordered = [buckets[s] for s in sorted(buckets)]
        if not ordered and not (final and (late.n or self.carry.n)):
            self.carry.add(late)
            return []
        ordered = ordered or [ErrorSummary()]
        ordered[0] = self.carry.add(late).add(ordered[0])
        self.carry = ErrorSummary()
        return self.tracker.feed(ordered)


class ConceptEvaluator:
    """Runs the concept-drift detector of every model version over all partitions (see module doc)."""

    def __init__(self, config: DriftlineConfig, baselines: Mapping[Key, Baseline]) -> None:
        self.models = {m.name: m for m in config.models}
        self.baselines = baselines
        # Where the state is kept durable (set by the runners: consumers.runner); None keeps it in
        # memory only (the demo's direct feed, tests).
        self.store: RecordStore | None = None
        self._states: dict[Key, VersionConcept] = {}
        self._saved: dict[Key, bytes] = {}
        self._lock = threading.Lock()  # guards _view, read by the API and /metrics threads
        self._view: dict[Key, VersionConcept] = {}

    def attach(self, store: RecordStore | None) -> None:
        """Keep the state durable in `store` (None: in memory only) and load what it holds for every
        configured model version now, so the API and /metrics show stored episodes from the start,
        not from the first evaluation pass on."""
        self.store = store
        if store is None:
            return
        for key, baseline in sorted(self.baselines.items()):
            config = self.models.get(key[0])
            if config is not None and config.concept_drift.enabled:
                self._states[key] = self._load(key, config, baseline)
        with self._lock:
            self._view = dict(self._states)

    # ------------------------------------------------------------------ one pass

    def collect(self, partitions: Iterable[Monitor]) -> Snapshot:
        """Copies of every partition's error buckets (call under the service's lock), after telling
        each what has been read of it (partitions of this process then keep what is not)."""
        out: Snapshot = {}
        for monitor in partitions:
            for key, stream in monitor.streams.items():
                state = self._states.get(key)
                if state is not None:
                    stream.errors.acknowledge(state.sealed)
                out.setdefault(key, {})[monitor.partition] = stream.errors.copy()
        return out

    def advance(
        self,
        snapshot: Snapshot,
        publish: Callable[[list[StreamEpisodeEvent]], None] | None = None,
        final: bool = False,
    ) -> list[StreamEpisodeEvent]:
        """Consume the snapshot, feed the sealed buckets to the detectors, hand episode starts and
        ends to `publish`, then save. `final`: the input has ended, seal everything."""
        events: list[StreamEpisodeEvent] = []
        puts: dict[Key, bytes] = {}
        for key, parts in sorted(snapshot.items()):
            config, baseline = self.models.get(key[0]), self.baselines.get(key)
            if config is None or baseline is None or not config.concept_drift.enabled:
                continue
            try:
                state, found = self._step(key, config, baseline, parts, final)
            except Exception:  # one model version's trouble must not stop the others or the windows
                log.exception("concept-drift detector of %s version %s failed; kept its last state", *key)
                continue
            events += [StreamEpisodeEvent(key[0], key[1], e.kind, e.episode) for e in found]
            blob = orjson.dumps(state.to_state())
            self._states[key] = state
            if blob != self._saved.get(key):
                puts[key] = self._saved[key] = blob
        if events and publish is not None:
            publish(events)
        if puts and self.store is not None:
            try:
                self.store.write_records([(namespace(*key), RECORD, blob) for key, blob in puts.items()])
            except DriftlineError as err:  # kept in memory; the next pass writes it again
                log.warning("could not save the concept-drift state: %s", err)
                for key in puts:
                    self._saved.pop(key, None)
        with self._lock:
            self._view = dict(self._states)
        return events

    def _step(
        self,
        key: Key,
        config: ModelConfig,
        baseline: Baseline,
        parts: Mapping[int, ErrorBuckets],
        final: bool,
    ) -> tuple[VersionConcept, list[EpisodeEvent]]:
        state = self._load(key, config, baseline)
        found: list[EpisodeEvent] = []
        if state.tracker.baseline_id != baseline.id:
            found += state.tracker.reset(baseline.id, baseline.reference_performance)
        settings = config.concept_drift
        found += state.step(parts, _ms(settings.bucket), _ms(settings.lateness), final)
        return state, found

    def _load(self, key: Key, config: ModelConfig, baseline: Baseline) -> VersionConcept:
        raw = self._saved.get(key)
        if self.store is not None:
            try:
                raw = self.store.load_records(namespace(*key)).get(RECORD)
            except DriftlineError as err:
                log.warning("could not read the concept-drift state, using this instance's: %s", err)
        state = self._states.get(key)
        if raw is not None and (state is None or raw != self._saved.get(key)):
            try:
                state = VersionConcept.from_state(orjson.loads(raw), config, baseline.reference_performance)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as err:
                log.error(
                    "the concept-drift record of %s version %s is unreadable (%r): starting it over "
                    "(its episodes are lost; the pairs the partitions still hold count again)",
                    *key,
                    err,
                )
                state = None
            self._saved[key] = raw
        if state is None:
            tracker = ConceptTracker(detector_settings(config), config.concept_drift.rearm_pairs)
            tracker.reset(baseline.id, baseline.reference_performance)
            state = VersionConcept(tracker)
        return state

    # ------------------------------------------------------------------ reading (any thread)

    def _tracker(self, model: str, version: str) -> ConceptTracker | None:
        with self._lock:
            state = self._view.get((model, version))
        return None if state is None else state.tracker

    def flag(self, model: str, version: str, start: int, end: int) -> tuple[bool, int | None]:
        """Whether a window [start, end) (ms) overlaps a concept-drift episode, and that episode's start."""
        tracker = self._tracker(model, version)
        return (False, None) if tracker is None else tracker.flag(start, end)

    def episodes(self, model: str, version: str) -> list[Episode]:
        tracker = self._tracker(model, version)
        return [] if tracker is None else list(tracker.episodes)

    def status(self, model: str, version: str) -> dict[str, Any] | None:
        """The detector's state for the API: design, statistic, pairs, episodes so far."""
        tracker = self._tracker(model, version)
        if tracker is None:
            return None
        design = tracker.design
        return {
            "detector": None if design is None else design.describe(),
            "warming_up": design is None,
            "warmup_pairs": tracker.warm.n,
            "statistic": tracker.statistic,
            "pairs": tracker.pairs,
            "rearm_pairs": tracker.rearm,
            "open_episode": tracker.open_episode is not None,
            "episodes_total": tracker.episodes[-1].number if tracker.episodes else 0,
        }

    def streams(self) -> list[Key]:
        with self._lock:
            return sorted(self._view)


def _ms(duration: Any) -> int:
    return int(duration.total_seconds() * 1000)
