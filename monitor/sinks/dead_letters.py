"""Where rejected messages go: a small sink protocol and two sinks.

    DeadLetterSink          write(rejected), flush(), close()
    ├── MemoryDeadLetters   keeps them (tests, counts)
    └── JsonlDeadLetters    appends one JSON line per reject to a file (the embedded default)

Counting rejects by reason is the monitor's job (`monitor.pipeline.counters`), not a sink's.

A dead-letter record keeps the original bytes intact as base64, so a message can be replayed
byte for byte once its producer (or our config) is fixed; `raw_preview` is for humans only.
The Kafka edge can publish the same `dead_letter_record` dicts to a dead-letter topic.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol, runtime_checkable

import orjson

from monitor.errors import DataError, DriftlineError
from monitor.pipeline.events import Rejected

PREVIEW_CHARS = 200


@runtime_checkable
class DeadLetterSink(Protocol):
    def write(self, rejected: Sequence[Rejected]) -> None: ...

    def flush(self) -> None:
        """Make what was written durable (the service calls it before checkpointing)."""

    def close(self) -> None: ...


def dead_letter_record(rejected: Rejected) -> dict[str, str]:
    """The JSON-able form of a reject: reason, detail, the bytes as base64 and a short preview."""
    # Decoding only a prefix keeps a 10 MB reject from costing a 10 MB decode for 200 characters.
    preview = rejected.raw[: 4 * PREVIEW_CHARS].decode("utf-8", "replace")[:PREVIEW_CHARS]
    return {
        "reason": rejected.reason,
        "detail": rejected.detail,
        "raw_b64": base64.b64encode(rejected.raw).decode("ascii"),
        "raw_preview": preview,
    }


def rejected_from_record(record: Mapping[str, Any]) -> Rejected:
    """Inverse of `dead_letter_record`, for replaying a dead-letter file."""
    try:
        raw = base64.b64decode(record["raw_b64"], validate=True)
        return Rejected(raw=raw, reason=str(record["reason"]), detail=str(record["detail"]))
    except KeyError as err:
        raise DataError(f"dead-letter record lacks the field {err.args[0]!r}") from None
    except (binascii.Error, TypeError, ValueError) as err:
        raise DataError(f"dead-letter record: raw_b64 is not valid base64 ({err})") from None


class MemoryDeadLetters:
    """Keeps every reject in arrival order."""

    def __init__(self) -> None:
        self.rejected: list[Rejected] = []

    def write(self, rejected: Sequence[Rejected]) -> None:
        self.rejected.extend(rejected)

    def reasons(self) -> Counter[str]:
        return Counter(r.reason for r in self.rejected)

    def flush(self) -> None:
        """Nothing to make durable."""

    def close(self) -> None:
        """Nothing to release."""

    def __len__(self) -> int:
        return len(self.rejected)


class JsonlDeadLetters:
    """Appends one JSON line per reject to `path` (created with its parent folder on first write).

    Empty messages are not stored unless `keep_empty=True`: they carry nothing to replay and
    are counted by the monitor's counters anyway. Writes are buffered; call `flush()` (which fsyncs by
    default) before committing the offsets of the messages written, so a crash cannot lose a
    reject whose offset was committed. `close()` flushes; a later `write` reopens the file.
    """

    def __init__(self, path: str | os.PathLike[str], *, keep_empty: bool = False) -> None:
        self.path = Path(path)
        self.keep_empty = keep_empty
        self._file: IO[bytes] | None = None

    def write(self, rejected: Sequence[Rejected]) -> None:
        lines = [
            orjson.dumps(dead_letter_record(r)) for r in rejected if self.keep_empty or r.reason != "empty"
        ]
        if lines:
            try:
                self._open().write(b"\n".join(lines) + b"\n")
            except OSError as err:
                raise DriftlineError(f"cannot write dead letters to {self.path}: {err.strerror}") from err

    def flush(self, fsync: bool = True) -> None:
        if self._file is None:
            return
        try:
            self._file.flush()
            if fsync:
                os.fsync(self._file.fileno())
        except OSError as err:
            raise DriftlineError(f"cannot flush dead letters to {self.path}: {err.strerror}") from err

    def close(self) -> None:
        if self._file is not None:
            self.flush()
            self._file.close()
            self._file = None

    def _open(self) -> IO[bytes]:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        return self._file

    def __enter__(self) -> JsonlDeadLetters:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
