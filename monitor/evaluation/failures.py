"""Windows that could not be evaluated. Each due window is evaluated on its own (Service.evaluate):
one that raises is recorded here, logged and counted, and the others of the pass go on.

A failed window is not lost silently: it stays listed (the API's `evaluation_errors`, per model
version) until an evaluation of it succeeds, and it is counted in
`driftline_evaluation_errors_total{model,reason}`. It is evaluated again on its next change (new
rows, outcomes, closing, expiry: the evaluator's fingerprint), not on every tick, since the same
state fails the same way. A final window that fails stays listed until `MAX_LISTED` newer
failures of its model push it out.

Reasons are a bounded set, from the exception's type, so they can be Prometheus labels.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from monitor.errors import BaselineError, DataError

log = logging.getLogger("driftline.evaluation")

MAX_LISTED = 100  # failing windows listed per model
MAX_DETAIL = 300

REASONS = ("numeric_overflow", "invalid_data", "missing_baseline", "internal_error")


def reason_of(error: BaseException) -> str:
    if isinstance(error, OverflowError | FloatingPointError | ZeroDivisionError):
        return "numeric_overflow"
    if isinstance(error, BaselineError | KeyError):
        return "missing_baseline"
    if isinstance(error, DataError | ValueError | ArithmeticError):
        return "invalid_data"
    return "internal_error"


@dataclass(frozen=True)
class EvaluationError:
    model: str
    model_version: str
    window_start: datetime
    window_end: datetime
    reason: str  # one of REASONS
    detail: str  # the exception, shortened
    at: datetime  # when the evaluation failed

    def document(self) -> dict[str, str]:
        """As the API shows it (ISO 8601 UTC times)."""
        return {
            "window_id": str(int(self.window_start.timestamp())),
            "window_start": _iso(self.window_start),
            "window_end": _iso(self.window_end),
            "reason": self.reason,
            "detail": self.detail,
            "failed_at": _iso(self.at),
        }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class EvaluationErrors:
    """The windows whose latest evaluation failed, and failure counts by (model, reason).
    Written by the evaluation pass, read by the API and the Prometheus collector: thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failing: dict[tuple[str, str, datetime], EvaluationError] = {}
        self._counts: Counter[tuple[str, str]] = Counter()

    def record(
        self,
        model: str,
        version: str,
        window_start: datetime,
        window_end: datetime,
        error: BaseException,
        now: datetime,
    ) -> EvaluationError:
        text = f"{type(error).__name__}: {error}"
        detail = text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 3] + "..."
        failed = EvaluationError(model, version, window_start, window_end, reason_of(error), detail, now)
        log.error(
            "evaluating window %s of model %s version %s failed (%s); the other windows go on",
            _iso(window_start),
            model,
            version,
            failed.reason,
            exc_info=error,
        )
        with self._lock:
            self._counts[(model, failed.reason)] += 1
            self._failing.pop((model, version, window_start), None)  # re-inserted: newest last
            self._failing[(model, version, window_start)] = failed
            mine = [key for key in self._failing if key[0] == model]
            for key in mine[: max(len(mine) - MAX_LISTED, 0)]:
                del self._failing[key]
        return failed

    def resolved(self, model: str, version: str, window_start: datetime) -> None:
        """A later evaluation of the window succeeded."""
        with self._lock:
            self._failing.pop((model, version, window_start), None)

    def failing(self, model: str, version: str) -> list[EvaluationError]:
        """The windows of a model version whose latest evaluation failed, oldest window first."""
        with self._lock:
            found = [e for (m, v, _), e in self._failing.items() if (m, v) == (model, version)]
        return sorted(found, key=lambda e: e.window_start)

    def counts(self) -> dict[tuple[str, str], int]:
        """Failed evaluations since start, by (model, reason)."""
        with self._lock:
            return dict(self._counts)
