"""`Client`: log predictions and outcomes to a driftline service, over HTTP or Kafka.

    client = Client(url="http://127.0.0.1:9108", api_key=os.environ["DRIFTLINE_API_KEY"])
    ids = client.log_predictions(features_df, model="churn", version="3",
                                 prediction=model.predict(features_df),
                                 score=model.predict_proba(features_df)[:, 1])
    ...                                            # days later, when the truth is known
    client.log_outcomes(ids, churned, model="churn")

Each call sends its rows in batches of `batch_size` and returns when all of them were accepted
(HTTP: the service has checkpointed them; Kafka: the broker acknowledged them). Ids are new uuid4
strings unless given; timestamps are now (UTC) unless given. Messages the service rejects (HTTP
only: Kafka rejects go to its dead-letter topic) are logged on the `driftline.client` logger and
kept in `client.rejected`, or raised with `on_reject="raise"`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import driftline.messages as m
from driftline.transport import ClientError, HttpTransport, KafkaTransport, Retry, Transport

__all__ = ["Client", "ClientError", "RejectedEvent"]
log = logging.getLogger("driftline.client")
MAX_KEPT_REJECTS = 1000


@dataclass(frozen=True)
class RejectedEvent:
    """A message the service refused: the prediction id, its topic, the reason code and a detail."""

    prediction_id: str
    topic: str
    reason: str
    detail: str


class Client:
    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        kafka: str | list[str] | None = None,
        model: str | None = None,
        version: str | None = None,
        batch_size: int = 5000,
        timeout: float = 10.0,
        retries: int = 5,
        backoff: float = 0.5,
        predictions_topic: str = "predictions",
        outcomes_topic: str = "outcomes",
        kafka_options: dict[str, Any] | None = None,
        on_reject: Literal["warn", "raise"] = "warn",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`url`: the service's HTTP address (its api.port), with `api_key` or DRIFTLINE_API_KEY;
        or `kafka`: bootstrap servers, with kafka-python producer settings in `kafka_options`
        (security_protocol, sasl_*, ...). `model` and `version` are defaults for the log calls.
        HTTP retries: `retries` more attempts after the first, backing off from `backoff` seconds."""
        if (url is None) == (kafka is None):
            raise ValueError("give either url= (HTTP) or kafka= (bootstrap servers), not both")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.transport: Transport
        if url is not None:
            key = api_key if api_key is not None else os.environ.get("DRIFTLINE_API_KEY")
            self.transport = HttpTransport(url, key, timeout, Retry(attempts=retries + 1, base=backoff))
        else:
            assert kafka is not None
            topics = {"predictions": predictions_topic, "outcomes": outcomes_topic}
            self.transport = KafkaTransport(kafka, topics, kafka_options, timeout=max(timeout, 30.0))
        self.model = model
        self.version = version
        self.batch_size = batch_size
        self.on_reject = on_reject
        self.clock = clock
        self.rejected: list[RejectedEvent] = []  # the latest MAX_KEPT_REJECTS

    # ------------------------------------------------------------------ logging

    def log_predictions(
        self,
        data: Any,
        *,
        model: str | None = None,
        version: str | None = None,
        features: Sequence[str] | None = None,
        prediction: Any = "prediction",
        score: Any = None,
        ids: Any = None,
        timestamps: Any = None,
        segment: Any = None,
    ) -> list[str]:
        """Log one prediction per row of `data` (a DataFrame, a list of dicts or a dict of columns);
        returns their ids. `prediction`, `score`, `ids`, `timestamps`, `segment`: a column of `data`
        (by name) or one value per row. `features`: the columns sent as features (default: every
        column not named by another argument)."""
        rows = m.as_rows(data)
        model, version = self._model(model), self._version(version)
        named = {spec for spec in (prediction, score, ids, timestamps, segment) if isinstance(spec, str)}
        if features is None:
            features = list(dict.fromkeys(name for row in rows for name in row if name not in named))
        given = m.column(rows, ids, "ids")
        id_list = [str(i) for i in given] if ids is not None else m.new_ids(len(rows))
        if any(not i for i in id_list):
            raise ValueError("ids: empty prediction id")
        payload = m.prediction_messages(
            rows,
            model,
            version,
            list(features),
            m.column(rows, prediction, "prediction"),
            m.column(rows, score, "score"),
            id_list,
            m.timestamps(rows, timestamps, self.clock()),
            m.column(rows, segment, "segment"),
        )
        self._send("predictions", id_list, payload)
        return id_list

    def log_outcomes(
        self, ids: Sequence[str], outcomes: Any, *, model: str | None = None, timestamps: Any = None
    ) -> int:
        """Log the ground truth of earlier predictions, by their ids; returns how many were sent."""
        id_list = [str(i) for i in ids]
        rows: m.Rows = [{} for _ in id_list]
        values = m.column(rows, outcomes, "outcomes")
        payload = m.outcome_messages(
            self._model(model), id_list, values, m.timestamps(rows, timestamps, self.clock())
        )
        self._send("outcomes", id_list, payload)
        return len(payload)

    # ------------------------------------------------------------------ plumbing

    def _model(self, model: str | None) -> str:
        model = model or self.model
        if not model:
            raise ValueError("model: pass model= (here or to Client)")
        return model

    def _version(self, version: str | None) -> str:
        version = version if version is not None else self.version
        if version is None:
            raise ValueError("version: pass version= (here or to Client), the model version that predicted")
        return str(version)

    def _send(self, topic: str, ids: list[str], payload: list[bytes]) -> None:
        found: list[RejectedEvent] = []
        for start in range(0, len(payload), self.batch_size):
            keys = ids[start : start + self.batch_size]
            for r in self.transport.send(topic, keys, payload[start : start + self.batch_size]):
                found.append(RejectedEvent(keys[r.index], topic, r.reason, r.detail))
        if not found:
            return
        self.rejected = (self.rejected + found)[-MAX_KEPT_REJECTS:]
        first = found[0]
        summary = (
            f"{len(found)} of {len(payload)} {topic} rejected; first: {first.prediction_id}: {first.detail}"
        )
        if self.on_reject == "raise":
            raise ClientError(summary, rejected=found)
        log.warning("%s", summary)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
