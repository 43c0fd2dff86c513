"""`driftline replay`: a historical log through the same `Service` pipeline, in event time, as fast
as it goes: what this monitor would have said over that period.

The service's clock is the replay's event time (the latest event fed), so window results, alert
`for` durations, repeats, cooldowns, staleness and retraining limits are all computed as they would
have been live. Windows are evaluated when they close, as the live service's on-close job does
(late outcomes are picked up by the next pass), and all of them at the end. Results go where the
service puts them (`Service.results` and its sinks: Elasticsearch when configured); alerts run
in dry run (alerts.dry_run). Rejected events are dead-lettered and counted as from any source.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import numpy as np

from alerts.dry_run import DryRunAlerts
from consumers.replay.columnar import outcome_batch, outcome_message, prediction_batches, prediction_message
from consumers.replay.history import Columnar, History, Jsonl
from monitor.evaluation.results import WindowResult
from monitor.pipeline.monitor import Batch
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class EventClock:
    """The replay's `now`: the event time reached so far (never moves back)."""

    def __init__(self) -> None:
        self.now = EPOCH

    def advance(self, ms: int) -> None:
        moment = datetime.fromtimestamp(ms / 1000, UTC)
        if moment > self.now:
            self.now = moment

    def __call__(self) -> datetime:
        return self.now


@dataclass
class ReplaySummary:
    events: int
    seconds: float
    first: datetime | None
    last: datetime | None
    counters: dict[str, int]
    rejected: dict[str, int]
    results: list[WindowResult] = field(default_factory=list)  # the last evaluation of each window
    alerts: list[dict[str, Any]] = field(default_factory=list)
    deliveries: dict[str, int] = field(default_factory=dict)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


def replay(
    service: Service,
    clock: EventClock,
    history: History,
    batch_size: int,
    alerts: DryRunAlerts | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
    columnar: bool = True,
) -> ReplaySummary:
    """Feed `history` to `service` (built with `clock`) and evaluate in event time. `columnar=False`
    sends every row of a columnar history as its JSON message through the decoder (the reference
    path the tests compare the columnar one with)."""
    started = time.perf_counter()
    latest: dict[tuple[str, str, datetime], WindowResult] = {}

    def evaluate(flush: bool = False) -> None:
        for result in service.evaluate(flush=flush):
            latest[(result.model, result.model_version, result.window_start)] = result
        if alerts is not None:
            alerts.check(clock())  # repeats, cooldowns, staleness: at each window close

    interval = service.config.alerts.delivery.check_interval

    done = 0
    first: int | None = None
    for size, newest, oldest, feed in _batches(service, history, batch_size, columnar):
        if oldest is not None and first is None:
            first = oldest
        resumed = None if oldest is None else datetime.fromtimestamp(oldest / 1000, UTC)
        checked = None if alerts is None else alerts.checked
        if (
            alerts is not None
            and checked is not None
            and resumed is not None
            and resumed - checked >= interval
        ):
            alerts.check(resumed)  # a gap in the history shows as staleness
        if newest is not None:
            clock.advance(newest)
        before = _closed_windows(service)
        feed()
        if _closed_windows(service) != before:
            evaluate()
        if alerts is not None and newest is not None:
            alerts.arrived(clock())  # arrivals noted at the time they happened
        done += size
        progress(done, history.events)
    service.dead_letters.flush()
    evaluate(flush=True)  # the end of the history: every window is complete
    counters = service.counters
    rejected: Counter[str] = Counter()
    for name, labels, value in counters.items():
        if name == "rejected":
            rejected[labels.get("reason", "")] += value
    names = ("predictions", "outcomes", "joined", "duplicate_predictions", "late_predictions")
    return ReplaySummary(
        events=history.events,
        seconds=time.perf_counter() - started,
        first=None if first is None else datetime.fromtimestamp(first / 1000, UTC),
        last=clock() if clock() > EPOCH else None,
        counters={name: counters.total(name) for name in names} | {"rejected": counters.total("rejected")},
        rejected=dict(rejected),
        results=[latest[k] for k in sorted(latest, key=lambda k: (k[0], k[1], k[2]))],
        alerts=[] if alerts is None else list(alerts.events),
        deliveries={} if alerts is None else dict(alerts.deliveries),
    )


Feed = tuple[int, int | None, int | None, Callable[[], object]]  # events, newest ms, oldest ms, ingest


def _batches(service: Service, history: History, size: int, columnar: bool) -> Iterator[Feed]:
    if isinstance(history, Jsonl):
        for start, end in history.chunks(size):
            raw = RawBatch()
            raw.add(history.lines[start:end], "mixed")
            readable = history.times[start:end][history.times[start:end] >= 0]
            newest = int(readable.max()) if len(readable) else None
            oldest = int(readable.min()) if len(readable) else None
            yield end - start, newest, oldest, partial(service.handle, raw)
        return
    for rows, outcome_at in history.chunks(size):
        times = np.concatenate(
            [
                history.times[rows][history.time_good[rows]],
                history.outcome_times[outcome_at][history.outcome_time_good[outcome_at]],
            ]
        )
        newest = int(times.max()) if len(times) else None
        oldest = int(times.min()) if len(times) else None
        yield (
            len(rows) + len(outcome_at),
            newest,
            oldest,
            partial(_feed_columnar, service, history, rows, outcome_at, columnar),
        )


def _feed_columnar(
    service: Service, history: Columnar, rows: np.ndarray, outcome_at: np.ndarray, columnar: bool
) -> None:
    cfg, names = history.config, history.names
    predictions = history.frame.iloc[rows].reset_index(drop=True)
    outcome_rows = history.outcome_rows[outcome_at]
    outcomes = history.frame.iloc[outcome_rows].reset_index(drop=True)
    if not columnar:
        raw = RawBatch(
            predictions=[prediction_message(r, cfg, names) for r in predictions.to_dict("records")],
            outcomes=[outcome_message(r, cfg, names) for r in outcomes.to_dict("records")],
        )
        service.handle(raw)
        return
    known = service.monitor.known_versions.get(cfg.name, set())
    batches, bad = prediction_batches(
        predictions, history.times[rows], history.time_good[rows], cfg, names, known
    )
    decoded: dict[str, Any] = {}
    bad_outcomes = np.zeros(0, dtype=bool)
    if names.outcome is not None and len(outcome_rows):
        found, bad_outcomes = outcome_batch(
            outcomes, history.outcome_times[outcome_at], history.outcome_time_good[outcome_at], cfg, names
        )
        if found is not None:
            decoded[cfg.name] = found
    if bad.any():  # the decoder decides these: rejected with their reason, as from any source
        rest = predictions[bad].to_dict("records")
        service.handle(RawBatch(predictions=[prediction_message(r, cfg, names) for r in rest]))
    service.ingest(Batch(batches, decoded), [])
    if bad_outcomes.any():
        rest = outcomes[bad_outcomes].to_dict("records")
        service.handle(RawBatch(outcomes=[outcome_message(r, cfg, names) for r in rest]))


def _closed_windows(service: Service) -> int:
    with service.lock:
        return service.monitor.closed_windows
