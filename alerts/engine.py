"""The alert engine: a ResultSink that runs the rules and the state machine and fills the outbox.

On the evaluator's thread `write` only computes: observations from the results (and the reject
counters), the next state of every alert they touch, the notifications and retraining triggers
that follow; then it persists states, trigger history and outbox entries in one transaction
and wakes the delivery thread. Network I/O happens on that thread (alerts.delivery).

State is read from the store on every pass rather than cached, so a restarted process — or
another instance that took over evaluation with a shared PostgreSQL store — continues from
exactly what was persisted: nothing re-sent, nothing forgotten.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from alerts.config import AlertsConfig, RuleConfig
from alerts.delivery import Deliverer
from alerts.documents import notification, policy_of, snapshot_of, targets
from alerts.outbox import OUTBOX, Entry, new_entry, overflow
from alerts.retraining import TRIGGERS, allow, decode_history, encode_history, payload, prune, trigger_key
from alerts.rules import Observation, observe, observe_episode, observe_rejects, observe_staleness
from alerts.state import AlertState, Notice, step, tick
from alerts.version_webhook import VERDICTS, comparison_key, verdict_key
from alerts.version_webhook import payload as verdict_payload
from monitor.clock import Clock, utc_now
from monitor.errors import ConfigError
from monitor.evaluation.concept import StreamEpisodeEvent
from monitor.evaluation.result_json import episode_document, window_document
from monitor.evaluation.results import WindowResult
from monitor.pipeline.counters import Counters
from monitor.pipeline.windows import ms_to_datetime
from monitor.state.store import RecordPut, StateStore

if TYPE_CHECKING:
    from monitor.config import DriftlineConfig
    from monitor.service import Service

log = logging.getLogger("driftline.alerts")
STATES = "alerts.state"
WINDOW_SIGNALS = {"feature_drift", "drift_share", "missing_ratio", "out_of_range_ratio", "unseen_ratio"}
WINDOW_SIGNALS |= {"performance_drop", "estimated_performance_drop"}
WINDOW_SIGNALS |= {"multivariate_drift"}
WINDOW_SIGNALS |= {"segment_drift", "segment_quality", "segment_performance"}
WINDOW_SIGNALS |= {"version_rollback"}
# Evidence handed to a firing alert: the window that made it fire, or a concept-drift episode's document.
Evidence = WindowResult | dict[str, Any] | None


class AlertEngine:
    def __init__(
        self,
        alerts: AlertsConfig,
        store: StateStore,
        models: dict[str, int],
        streams: Iterable[tuple[str, str]] = (),
        counters: Callable[[], Counters] | None = None,
        clock: Clock = utc_now,
        may_deliver: Callable[[], bool] = lambda: True,
    ) -> None:
        """`models`: model name -> joined pairs needed before performance counts (min_pairs);
        `streams`: the (model, version) pairs expected to send data (for staleness)."""
        self.config = alerts
        self.store = store
        self.rules = {r.name: r for r in alerts.effective_rules()}
        for rule in self.rules.values():
            unknown = sorted(set(rule.models) - set(models))
            if unknown:
                raise ConfigError(f"alerts: rule {rule.name!r} names unknown models {unknown}")
        for policy in alerts.retraining:
            if policy.model not in models:
                raise ConfigError(f"alerts.retraining: unknown model {policy.model!r}")
        for webhook in alerts.versions:
            if webhook.model not in models:
                raise ConfigError(f"alerts.versions: unknown model {webhook.model!r}")
        self.policies = {name: policy_of(rule, alerts) for name, rule in self.rules.items()}
        self.min_pairs = models
        self.counters = counters
        # Called with (kind, id, document, time) for every alert notice and retraining trigger once
        # it is durable: the Elasticsearch exporter's send_event, for the Kibana events index.
        self.event_listeners: list[Callable[[str, str, dict[str, Any], datetime], None]] = []
        self._emitted: list[tuple[str, str, dict[str, Any]]] = []
        self.clock = clock
        self._lock = threading.Lock()
        start = clock()
        self._last_seen = {stream: start for stream in streams}
        self._seen_counts: dict[tuple[str, str], int] = {}
        self._seen_windows: dict[tuple[str, str], datetime] = {}
        self._reject_counts = (0, 0)  # (rejected, accepted) at the previous pass
        self.deliverer = Deliverer(store, targets(alerts), alerts.delivery, clock, may_deliver, self.check)

    def start(self) -> None:
        self.deliverer.start()

    # ------------------------------------------------------------------ ResultSink

    def write(self, results: Sequence[WindowResult]) -> None:
        now = self.clock()
        observations: list[tuple[Observation, Evidence]] = []
        for result in results:
            for rule in self.rules.values():
                if rule.signal in WINDOW_SIGNALS:
                    found = observe(rule, result, self.min_pairs.get(result.model, 1))
                    observations += [(o, result) for o in found]
        observations += [(o, None) for o in self._reject_observations(now)]
        with self._lock:
            # A newer window means predictions arrived, whichever instance consumed them (with
            # several instances the local counters only cover this one's partitions).
            for result in results:
                stream = (result.model, result.model_version)
                if stream not in self._seen_windows or result.window_start > self._seen_windows[stream]:
                    self._seen_windows[stream] = result.window_start
                    self._last_seen[stream] = now
            self._apply(observations, now, repeats=False)
            self._announce_verdicts(results, now)

    def write_episodes(self, events: Sequence[StreamEpisodeEvent]) -> None:
        """Concept-drift episodes opening and closing: the `concept_drift` signal, so its alert fires
        with an episode and resolves when it closes (retraining evidence: the episode)."""
        now = self.clock()
        observations: list[tuple[Observation, Evidence]] = []
        for event in events:
            document = episode_document(event.model, event.version, event.episode)
            is_open = event.kind == "start"
            at = ms_to_datetime(event.episode.start if is_open else event.episode.end)
            for rule in self.rules.values():
                found = observe_episode(rule, event.model, event.version, is_open, at)
                observations += [(o, document) for o in found]
        if observations:
            with self._lock:
                self._apply(observations, now, repeats=False)

    def close(self) -> None:
        self.deliverer.close()
        self.store.close()

    # ------------------------------------------------------------------ periodic check

    def check(self, now: datetime) -> None:
        """Staleness and repeat notifications; run by the delivery thread every check_interval."""
        with self._lock:
            self._note_arrivals(now)
            observations: list[tuple[Observation, Evidence]] = []
            for rule in self.rules.values():
                observations += [(o, None) for o in observe_staleness(rule, self._last_seen, now)]
            self._apply(observations, now, repeats=True)

    def note_arrivals(self, now: datetime) -> None:
        """Date the predictions that arrived since the last look at `now` (what `check` does first;
        a replay calls it after every batch, so arrivals get their event time)."""
        with self._lock:
            self._note_arrivals(now)

    def _note_arrivals(self, now: datetime) -> None:
        if self.counters is None:
            return
        for name, labels, value in self.counters().items():
            if name != "predictions":
                continue
            stream = (labels.get("model", ""), labels.get("model_version", ""))
            if self._seen_counts.get(stream) != value:
                self._seen_counts[stream] = value
                self._last_seen[stream] = now

    def _reject_observations(self, now: datetime) -> list[Observation]:
        if self.counters is None:
            return []
        counters = self.counters()
        rejected = counters.total("rejected")
        accepted = counters.total("predictions") + counters.total("outcomes")
        before_rejected, before_accepted = self._reject_counts
        self._reject_counts = (rejected, accepted)
        found: list[Observation] = []
        for rule in self.rules.values():
            found += observe_rejects(rule, rejected - before_rejected, accepted - before_accepted, now)
        return found

    # ------------------------------------------------------------------ state machine

    def _apply(self, observations: list[tuple[Observation, Evidence]], now: datetime, repeats: bool) -> None:
        self._emitted = []  # events of a pass whose write failed were never durable: not sent
        states = {k: AlertState.from_bytes(v) for k, v in self.store.load_records(STATES).items()}
        changed: dict[str, AlertState] = {}
        entries: list[Entry] = []
        puts: list[RecordPut] = []
        for obs, result in observations:
            key = obs.key.id
            before = states.get(key, AlertState(key))
            after, notices = step(before, obs, self.policies[obs.key.rule], now)
            states[key] = after
            if after != before:
                changed[key] = after
            entries += self._notify(after, notices, obs, result, now, puts)
        if repeats:
            for key, state in list(states.items()):
                rule = key.split("/", 1)[0]
                if rule in self.policies:
                    after, notices = tick(state, self.policies[rule], now)
                    if notices:
                        states[key] = changed[key] = after
                        entries += self._notify(after, notices, None, None, now, puts)
        if not changed and not entries:
            return
        puts += [(STATES, k, s.to_bytes()) for k, s in changed.items()]
        puts += [e.record() for e in entries]
        deletes = []
        if entries:
            # Bounded: past max_outbox pending entries the oldest go (a receiver dead for days).
            existing = set(self.store.load_records(OUTBOX))
            pending = [*existing, *(e.key for e in entries)]
            deletes = [d for d in overflow(pending, self.config.delivery.max_outbox) if d[1] in existing]
            if deletes:
                log.error(
                    "alert outbox full (%d): dropping the %d oldest entries", len(pending), len(deletes)
                )
        self.store.write_records(puts, deletes)
        if entries:
            self.deliverer.wake()
        self._emit(now)

    def _emit(self, now: datetime) -> None:
        emitted, self._emitted = self._emitted, []
        for listener in self.event_listeners:
            for kind, doc_id, doc in emitted:
                try:
                    listener(kind, doc_id, doc, now)
                except Exception:  # an exporter's trouble must not stop alerting
                    log.exception("alert event listener failed")

    def _notify(
        self,
        state: AlertState,
        notices: list[Notice],
        obs: Observation | None,
        result: Evidence,
        now: datetime,
        puts: list[RecordPut],
    ) -> list[Entry]:
        entries: list[Entry] = []
        for notice in notices:
            rule = self.rules[state.key.split("/", 1)[0]]
            doc = notification(rule, self.config, state, notice, obs, now)
            # One event per firing episode: the resolution overwrites the firing in the index.
            self._emitted.append(("alert", f"{state.key}|{state.episode}", doc))
            for receiver in rule.receivers if rule.receivers is not None else self.config.receiver_names:
                entries.append(new_entry(receiver, doc["id"], doc, now))
            if notice == "firing":
                entries += self._retrain(rule, state, doc, result, now, puts)
        return entries

    def _retrain(
        self,
        rule: RuleConfig,
        state: AlertState,
        doc: dict[str, Any],
        result: Evidence,
        now: datetime,
        puts: list[RecordPut],
    ) -> list[Entry]:
        model = doc["model"]
        entries = []
        for policy in self.config.retraining:
            if policy.model != model:
                continue
            stored = self.store.load_records(TRIGGERS).get(model)
            history = decode_history(stored)
            pending = [decode_history(v) for n, k, v in puts if n == TRIGGERS and k == model]
            history = pending[-1] if pending else history
            if not allow(policy, rule.name, history, now):
                log.info("retraining of %s not triggered by %s: policy limits", model, rule.name)
                continue
            key = trigger_key(model, doc["model_version"], state.key, state.episode)
            window = window_document(result) if isinstance(result, WindowResult) else None
            episode = result if isinstance(result, dict) else None
            body = payload(doc, window, key, now, episode)
            puts[:] = [p for p in puts if not (p[0] == TRIGGERS and p[1] == model)]
            puts.append((TRIGGERS, model, encode_history([*prune(history, now), now])))
            entries.append(new_entry(f"retraining:{model}", key, body, now))
            self._emitted.append(("retraining", key, body))
        return entries

    # ------------------------------------------------------------------ version verdicts

    def _announce_verdicts(self, results: Sequence[WindowResult], now: datetime) -> None:
        """A version webhook entry for each comparison whose verdict changed since it was last
        announced (alerts.version_webhook), with the verdict remembered in the same transaction."""
        webhooks = {w.model: w for w in self.config.versions}
        if not webhooks:
            return
        announced = {k: v.decode() for k, v in self.store.load_records(VERDICTS).items()}
        puts: list[RecordPut] = []
        entries: list[Entry] = []
        for result in results:
            comparison, webhook = result.comparison, webhooks.get(result.model)
            if comparison is None or webhook is None:
                continue
            name = comparison_key(result.model, comparison.baseline_version, comparison.candidate_version)
            if announced.get(name, "hold") == comparison.verdict:
                continue
            announced[name] = comparison.verdict
            puts.append((VERDICTS, name, comparison.verdict.encode()))
            if comparison.verdict not in webhook.on:
                continue
            window = window_document(result)
            key = verdict_key(name, comparison.verdict, window["comparison"]["verdict_since"])
            body = verdict_payload(window, key, now)
            entries.append(new_entry(f"version:{result.model}", key, body, now))
        if puts:
            self.store.write_records(puts + [e.record() for e in entries])
        if entries:
            self.deliverer.wake()

    # ------------------------------------------------------------------ API

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        states = [AlertState.from_bytes(v) for v in self.store.load_records(STATES).values()]
        return snapshot_of(states, self.rules)


def attach_alerts(service: Service, config: DriftlineConfig) -> AlertEngine:
    """Build the engine for `driftline run` and the demo (consumers.runner.attach_sinks): its own
    connection to the configured state store, counters and the evaluation lock from the service."""
    from monitor.state.factory import open_state_store

    store = open_state_store(config.state.url)
    try:
        engine = AlertEngine(
            config.alerts,
            store,
            {m.name: m.performance.min_pairs for m in config.models},
            streams=list(service.baselines),
            counters=lambda: service.counters,
            clock=service.clock,
            may_deliver=lambda: service.may_evaluate(),
        )
    except BaseException:
        store.close()
        raise
    for sink in service.sinks:  # exporters attached before the engine that take events (Elasticsearch)
        send_event = getattr(sink, "send_event", None)
        if callable(send_event):
            engine.event_listeners.append(send_event)
    service.sinks.append(engine)
    service.alert_snapshot = engine.snapshot
    engine.start()
    return engine
