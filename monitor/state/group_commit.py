"""Checkpoints on demand, shared by the callers that wait at the same time (group commit).

The HTTP API answers a POST of events only once they are durable: it asks for a checkpoint
after ingesting them. A checkpoint writes the whole partition state, so one per request would
make concurrent requests queue behind each other's. Here a caller waits for the first
checkpoint that *starts* after it asked (which therefore holds its events), whoever runs it:
while one runs, every caller that arrives meanwhile is served by the next one, together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from monitor.errors import DriftlineError


class CheckpointFailed(DriftlineError):
    """Raised to every caller a failed checkpoint was to serve (the cause is chained)."""


class GroupCommit:
    def __init__(self, checkpoint: Callable[[], None]) -> None:
        self._checkpoint = checkpoint
        self._changed = threading.Condition()
        self._started = 0  # checkpoints started, in order; each one's number is its ticket
        self._finished = 0  # the number of the last checkpoint finished (they run one at a time)
        self._succeeded = 0  # the number of the last checkpoint that succeeded
        self._error: BaseException | None = None  # of the last checkpoint, if it failed
        self._running = False
        self.runs = 0  # checkpoints taken (the tests read it)

    def __call__(self) -> None:
        """Return once a checkpoint that started after this call has succeeded; raise
        CheckpointFailed if the one that was to serve it failed."""
        with self._changed:
            ticket = self._started + 1
            while self._finished < ticket:
                if self._running:
                    self._changed.wait()
                    continue
                self._running = True
                self._started += 1
                number = self._started
                self._changed.release()
                error: BaseException | None = None
                try:
                    self._checkpoint()
                except BaseException as err:
                    error = err
                finally:
                    self._changed.acquire()
                    self._running = False
                    self._finished = number
                    self.runs += 1
                    if error is None:
                        self._succeeded = number
                    self._error = error
                    self._changed.notify_all()
            if self._succeeded < ticket:
                raise CheckpointFailed("the checkpoint that was to hold these events failed") from self._error
