"""The delayed-outcome join: predictions wait for their outcome by prediction_id, for a TTL.

Predictions are stored column-wise in one *segment* per (model version, window), so that
an outcome finds its prediction with one dict lookup and the prediction's window comes
with it (performance is reported per prediction window), and so that expiry drops whole
segments at once. Every prediction id seen within the TTL stays in the index, joined or
not, which is what makes a replayed prediction a duplicate instead of a second count.

Time is the predictions' event time: a segment expires when the latest prediction seen is
past its window's end plus the TTL. Outcome times do not advance it, because when
predictions and outcomes are read from two inputs side by side, how far one is read ahead
of the other depends on the reader; predictions of one partition come in order, so a replay
expires exactly the same predictions however the two inputs interleave.
Expired ids are remembered for one more TTL to tell a late outcome ("expired") from one
that never had a prediction ("unknown", counted when its hold runs out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROW_BITS = 32
ROW_MASK = (1 << ROW_BITS) - 1


@dataclass
class Segment:
    """Predictions of one model version in one window, stored as the batches they came in."""

    version: str
    window_start: int
    window_end: int
    ids: list[NDArray[Any]] = field(default_factory=list)
    timestamp: list[NDArray[np.int64]] = field(default_factory=list)
    prediction: list[NDArray[Any]] = field(default_factory=list)
    score: list[NDArray[np.float64]] = field(default_factory=list)
    joined: list[NDArray[np.bool_]] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # first row of each chunk

    @property
    def size(self) -> int:
        return self.offsets[-1] + len(self.ids[-1]) if self.offsets else 0

    @property
    def waiting(self) -> int:
        return self.size - sum(int(j.sum()) for j in self.joined)

    def append(
        self, ids: NDArray[Any], ts: NDArray[np.int64], pred: NDArray[Any], score: NDArray[np.float64]
    ) -> int:
        first = self.size
        self.offsets.append(first)
        self.ids.append(ids)
        self.timestamp.append(ts)
        self.prediction.append(pred)
        self.score.append(score)
        self.joined.append(np.zeros(len(ids), bool))
        return first

    def take(
        self, rows: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], NDArray[Any], NDArray[Any], NDArray[Any]]:
        """Mark `rows` (distinct, not yet joined) as joined; return (order, timestamps, predictions,
        scores) where `order` sorts `rows` the way the other arrays come back."""
        chunk_of = np.searchsorted(np.asarray(self.offsets), rows, side="right") - 1
        order = np.argsort(chunk_of, kind="stable")
        parts: list[tuple[Any, Any, Any]] = []
        for chunk in np.unique(chunk_of).tolist():
            local = rows[chunk_of == chunk] - self.offsets[chunk]
            self.joined[chunk][local] = True
            parts.append(
                (self.timestamp[chunk][local], self.prediction[chunk][local], self.score[chunk][local])
            )
        ts, pred, score = (np.concatenate([p[k] for p in parts]) for k in range(3))
        return order, ts, pred, score

    def is_joined(self, rows: NDArray[np.int64]) -> NDArray[np.bool_]:
        chunk_of = np.searchsorted(np.asarray(self.offsets), rows, side="right") - 1
        out = np.zeros(len(rows), bool)
        for chunk in np.unique(chunk_of).tolist():
            mask = chunk_of == chunk
            out[mask] = self.joined[chunk][rows[mask] - self.offsets[chunk]]
        return out

    def all_ids(self) -> list[str]:
        return [pid for chunk in self.ids for pid in chunk.tolist()]

    def to_state(self) -> dict[str, Any]:
        def flat(parts: list[NDArray[Any]]) -> list[Any]:
            return np.concatenate(parts).tolist() if parts else []

        score = np.concatenate(self.score) if self.score else np.zeros(0)
        return {
            "version": self.version,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "ids": flat(self.ids),
            "timestamp": flat(self.timestamp),
            "prediction": flat(self.prediction),
            "score": [None if s != s else s for s in score.tolist()],
            "joined": np.flatnonzero(np.concatenate(self.joined)).tolist() if self.joined else [],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Segment:
        seg = cls(state["version"], int(state["window_start"]), int(state["window_end"]))
        if not state["ids"]:
            return seg
        prediction = state["prediction"]
        text = isinstance(prediction[0], str)
        seg.append(
            np.asarray(state["ids"], dtype=object),
            np.asarray(state["timestamp"], dtype=np.int64),
            np.asarray(prediction, dtype=object if text else np.float64),
            np.asarray([np.nan if s is None else s for s in state["score"]], dtype=np.float64),
        )
        seg.joined[0][np.asarray(state["joined"], dtype=np.int64)] = True
        return seg


@dataclass(frozen=True)
class Matches:
    """Outcomes joined with their predictions, all from one segment (model version, window)."""

    version: str
    window_start: int
    order: NDArray[np.int64]  # arrival position of each pair in the call that joined it
    outcome: NDArray[Any]
    outcome_timestamp: NDArray[np.int64]
    prediction: NDArray[Any]
    score: NDArray[np.float64]
    prediction_timestamp: NDArray[np.int64]


@dataclass(frozen=True)
class JoinOutcome:
    matches: list[Matches]
    expired: int  # outcomes whose prediction expired before they came
    duplicate: int  # outcomes for a prediction already joined (or twice in one batch)
    held: int  # outcomes that came before their prediction: kept until it comes or the TTL passes


@dataclass(frozen=True)
class Expiry:
    predictions: dict[tuple[str, int], int]  # unjoined predictions dropped, per (version, window)
    unknown_outcomes: int  # held outcomes whose prediction never came


def _as_object(values: list[Any]) -> NDArray[Any]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


@dataclass
class JoinBuffer:
    """Pending predictions of one model, all versions, and outcomes that came first.

    Outcomes normally come long after their prediction, but two input streams read side by
    side (two Kafka topics after a restart, say) can deliver an outcome first; it is held
    (by event time, for the TTL) and joins when its prediction arrives, so counts do not
    depend on how the two streams interleave.
    """

    ttl_ms: int
    segments: dict[int, Segment] = field(default_factory=dict)
    next_segment: int = 0
    watermark: int = 0  # largest prediction time seen, ms (outcomes do not move it: see below)
    outcome_watermark: int = 0  # largest outcome time seen, ms (dates concept-drift alarms only)
    expired_ids: list[tuple[int, set[str]]] = field(default_factory=list)  # (forget after, ids)
    early: dict[str, tuple[int, Any]] = field(default_factory=dict)  # id -> (outcome time, outcome)
    _index: dict[str, int] = field(default_factory=dict)
    _segment_of: dict[tuple[str, int], int] = field(default_factory=dict)
    _early_oldest: int = 0  # a lower bound on the oldest held outcome's time

    def __post_init__(self) -> None:
        self._early_oldest = min((t for t, _ in self.early.values()), default=0)
        for sid, seg in self.segments.items():
            self._segment_of[(seg.version, seg.window_start)] = sid
            ids = seg.all_ids()
            self._index.update(zip(ids, range(sid << ROW_BITS, (sid << ROW_BITS) + len(ids)), strict=True))

    def __len__(self) -> int:
        """Predictions still waiting for an outcome."""
        return sum(s.waiting for s in self.segments.values())

    def new_ids(self, ids: list[str]) -> NDArray[np.bool_]:
        """Mask of ids never seen (within the TTL) and first in this batch: the rest are duplicates."""
        distinct = set(ids)
        seen = self._index.keys() & distinct
        fresh = np.ones(len(ids), bool)
        if seen:
            fresh &= np.fromiter((pid not in seen for pid in ids), bool, len(ids))
        if len(distinct) != len(ids):
            _, first = np.unique(np.asarray(ids, dtype=object), return_index=True)
            once = np.zeros(len(ids), bool)
            once[first] = True
            fresh &= once
        return fresh

    def add(
        self,
        version: str,
        window_start: int,
        window_end: int,
        ids: NDArray[Any],
        ts: NDArray[np.int64],
        pred: NDArray[Any],
        score: NDArray[np.float64],
    ) -> Matches | None:
        """Add new (already de-duplicated) predictions of one window; returns the pairs they form
        with outcomes that came before them."""
        key = (version, window_start)
        sid = self._segment_of.get(key)
        if sid is None:
            sid = self.next_segment
            self.next_segment += 1
            self._segment_of[key] = sid
            self.segments[sid] = Segment(version, window_start, window_end)
        seg = self.segments[sid]
        first = seg.append(ids, ts, pred, score)
        base = (sid << ROW_BITS) | first
        id_list = ids.tolist()
        self._index.update(zip(id_list, range(base, base + len(ids)), strict=True))
        if len(ts):
            self.watermark = max(self.watermark, int(ts.max()))
        if not self.early or not (self.early.keys() & set(id_list)):
            return None
        rows = np.fromiter((i for i, pid in enumerate(id_list) if pid in self.early), np.int64)
        waiting = [self.early.pop(id_list[r]) for r in rows.tolist()]
        order, ts_taken, pred_taken, score_taken = seg.take(rows + first)
        return Matches(
            version,
            window_start,
            rows[order],
            _as_object([w[1] for w in waiting])[order],
            np.asarray([w[0] for w in waiting], dtype=np.int64)[order],
            pred_taken,
            score_taken,
            ts_taken,
        )

    def match(self, ids: list[str], ts: NDArray[np.int64], outcomes: NDArray[Any]) -> JoinOutcome:
        """Join a batch of outcomes; each prediction joins at most once."""
        codes = np.fromiter((self._index.get(pid, -1) for pid in ids), np.int64, len(ids))
        if len(ts):
            self.outcome_watermark = max(self.outcome_watermark, int(ts.max()))
        found = codes >= 0
        matches, duplicate, expired, held = [], 0, 0, 0
        for row in np.flatnonzero(~found).tolist():
            pid = ids[row]
            if any(pid in s for _, s in self.expired_ids):
                expired += 1
            elif pid in self.early:
                duplicate += 1
            else:
                t = int(ts[row])
                self._early_oldest = t if not self.early else min(self._early_oldest, t)
                self.early[pid] = (t, outcomes[row])
                held += 1
        rows = np.flatnonzero(found)
        seg_ids = codes[rows] >> ROW_BITS
        for sid in np.unique(seg_ids).tolist():
            seg = self.segments[sid]
            in_seg = rows[seg_ids == sid]
            pred_rows = codes[in_seg] & ROW_MASK
            # An outcome for an already joined prediction, or twice in this batch, is a duplicate.
            _, first = np.unique(pred_rows, return_index=True)
            keep = np.zeros(len(pred_rows), bool)
            keep[first] = True
            keep &= ~seg.is_joined(pred_rows)
            duplicate += int((~keep).sum())
            in_seg, pred_rows = in_seg[keep], pred_rows[keep]
            if not len(pred_rows):
                continue
            order, ts_taken, pred, score = seg.take(pred_rows)
            rows_in_order = in_seg[order]
            matches.append(
                Matches(
                    seg.version,
                    seg.window_start,
                    rows_in_order,
                    outcomes[rows_in_order],
                    ts[rows_in_order],
                    pred,
                    score,
                    ts_taken,
                )
            )
        return JoinOutcome(matches, expired, duplicate, held)

    def expire(self) -> Expiry:
        """Drop what is older than the TTL: unjoined predictions, and held outcomes."""
        self.expired_ids = [(t, s) for t, s in self.expired_ids if t > self.watermark]
        counts: dict[tuple[str, int], int] = {}
        for sid in [sid for sid, s in self.segments.items() if s.window_end + self.ttl_ms <= self.watermark]:
            seg = self.segments.pop(sid)
            del self._segment_of[(seg.version, seg.window_start)]
            waiting: set[str] = set()
            for ids, joined in zip(seg.ids, seg.joined, strict=True):
                for pid in ids.tolist():
                    self._index.pop(pid, None)
                waiting.update(ids[~joined].tolist())
            counts[(seg.version, seg.window_start)] = len(waiting)
            if waiting:
                self.expired_ids.append((seg.window_end + 2 * self.ttl_ms, waiting))
        stale: list[str] = []
        # Scanning the held outcomes only when the oldest of them may have expired keeps this
        # cheap when many are held (a replay reading the outcomes far ahead of the predictions).
        if self.early and self._early_oldest + self.ttl_ms <= self.watermark:
            stale = [pid for pid, (t, _) in self.early.items() if t + self.ttl_ms <= self.watermark]
            for pid in stale:
                del self.early[pid]
            self._early_oldest = min((t for t, _ in self.early.values()), default=0)
        return Expiry(counts, len(stale))

    def to_state(self) -> dict[str, Any]:
        return {
            "ttl_ms": self.ttl_ms,
            "next_segment": self.next_segment,
            "watermark": self.watermark,
            "outcome_watermark": self.outcome_watermark,
            "segments": {str(k): s.to_state() for k, s in self.segments.items()},
            "expired_ids": [[t, sorted(s)] for t, s in self.expired_ids],
            "early": [[pid, t, y] for pid, (t, y) in self.early.items()],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> JoinBuffer:
        return cls(
            ttl_ms=int(state["ttl_ms"]),
            segments={int(k): Segment.from_state(v) for k, v in state["segments"].items()},
            next_segment=int(state["next_segment"]),
            watermark=int(state["watermark"]),
            outcome_watermark=int(state.get("outcome_watermark", 0)),
            expired_ids=[(int(t), set(ids)) for t, ids in state["expired_ids"]],
            early={pid: (int(t), y) for pid, t, y in state["early"]},
        )
