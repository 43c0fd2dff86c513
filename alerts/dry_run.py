"""The alert engine in dry run, for `driftline replay`: the configured rules, state machine,
repeats, cooldowns and retraining policies run over replayed results in event time, and what
would have been sent is recorded instead of sent.

The engine keeps its state in a private temporary SQLite store, so a back-test neither reads nor
changes the live alert state, and its delivery thread never starts: after each pass the outbox is
drained into `deliveries` (per receiver), and every notice and retraining trigger is kept in
`events`. With an Elasticsearch exporter among the service's sinks, they are indexed too, as kind
`replay-alert` / `replay-retraining` with `replay: true`, so they never overwrite or pass for the
live service's alert events.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alerts.engine import AlertEngine
from alerts.outbox import OUTBOX, load
from monitor.evaluation.results import WindowResult
from monitor.state.sqlite import SqliteStateStore

if TYPE_CHECKING:
    from monitor.service import Service


class DryRunAlerts:
    """A result sink: alert notices of the replayed results, recorded, never delivered."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._folder = tempfile.TemporaryDirectory(prefix="driftline-replay-alerts-")
        self.store = SqliteStateStore(Path(self._folder.name) / "alerts.db")
        self._engine: AlertEngine | None = None
        self.events: list[dict[str, Any]] = []  # {"kind": "alert" | "retraining", "at", "document"}
        self.deliveries: Counter[str] = Counter()  # receiver (or retraining:<model>) -> notifications
        self.checked: datetime | None = None  # event time of the last check

    @property
    def engine(self) -> AlertEngine:
        """Built on first use, when the replay's clock has reached the first event: the engine
        dates every stream's last arrival (for staleness) from its construction."""
        if self._engine is None:
            service, config = self.service, self.service.config
            self._engine = AlertEngine(
                config.alerts,
                self.store,
                {m.name: m.performance.min_pairs for m in config.models},
                streams=list(service.baselines),
                counters=lambda: service.counters,
                clock=service.clock,
            )
            self._engine.event_listeners.append(self._record)
            for sink in service.sinks:  # exporters attached before it (Elasticsearch): the events
                send = getattr(sink, "send_event", None)  # go there too, as replay-alert
                if callable(send):
                    self._engine.event_listeners.append(_marked(send))
        return self._engine

    def _record(self, kind: str, _id: str, document: dict[str, Any], at: datetime) -> None:
        self.events.append({"kind": kind, "at": at, "document": document})

    def write(self, results: Sequence[WindowResult]) -> None:
        self.engine.write(results)
        self._drain()

    def check(self, now: datetime) -> None:
        """Staleness and repeat notifications at event time `now`. The live engine runs this every
        `delivery.check_interval`; the replay runs it after each window close and before a batch
        that follows a gap longer than that (so the gap shows as staleness), and notes arrivals
        after every batch (`arrived`)."""
        self.checked = now
        self.engine.check(now)
        self._drain()

    def arrived(self, now: datetime) -> None:
        """Predictions ingested so far arrived by event time `now` (for staleness)."""
        self.engine.note_arrivals(now)

    def _drain(self) -> None:
        entries = load(self.store.load_records(OUTBOX))
        if entries:
            self.deliveries.update(e.receiver for e in entries)
            self.store.write_records(deletes=[(OUTBOX, e.key) for e in entries])

    def close(self) -> None:
        """Drop the private store (the engine's own close would try to deliver)."""
        self.store.close()
        self._folder.cleanup()


def _marked(send: Callable[[str, str, dict[str, Any], datetime], None]) -> Callable[..., None]:
    def forward(kind: str, key: str, document: dict[str, Any], at: datetime) -> None:
        send(f"replay-{kind}", key, {**document, "replay": True}, at)

    return forward
