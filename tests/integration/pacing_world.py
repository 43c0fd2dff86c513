"""Days of predictions and late outcomes of a classifier with scores and a regressor, for the
pacing test: outcome records carry a large payload, so a consumer left to itself reads the
predictions topic days ahead of the outcomes topic."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import yaml

from monitor.baselines.baseline import build_baseline
from monitor.baselines.store import BaselineStore
from monitor.config import DriftlineConfig, parse_config
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service, load_baselines
from monitor.sinks.dead_letters import MemoryDeadLetters
from tests.integration.kafka_pipeline import Event  # (arrival ms, topic, key, value)

H = 3_600_000
START_MS = 1_796_000_000_000
MODELS = ("clf", "reg")


def config_data(outcome_ttl: str) -> dict[str, Any]:
    features = [{"name": "x1", "kind": "numeric"}, {"name": "c1", "kind": "categorical"}]
    common = {"features": features, "target": "y", "window": "1h", "allowed_lateness": "1m"}
    return {
        "models": [
            {"name": "clf", "task": "classification", "score": "score", "outcome_ttl": outcome_ttl, **common},
            {"name": "reg", "task": "regression", "outcome_ttl": outcome_ttl, **common},
        ],
        "baselines": {"path": "baselines"},
    }


def reference(task: str, n: int, rng: np.random.Generator) -> pd.DataFrame:
    frame = pd.DataFrame({"x1": rng.normal(0, 1, n), "c1": rng.choice(["a", "b", "c"], n)})
    if task == "classification":
        frame["score"] = 1 / (1 + np.exp(-2 * frame["x1"]))
        frame["prediction"] = (frame["score"] > 0.5).astype(int).astype(str)
        frame["y"] = np.where(rng.random(n) < 0.85, frame["prediction"], "0")
    else:
        frame["prediction"] = 3 * frame["x1"] + 1
        frame["y"] = frame["prediction"] + rng.normal(0, 0.5, n)
    return frame


def save_baselines(config: DriftlineConfig, folder: Path) -> None:
    store = BaselineStore(folder / "baselines")
    rng = np.random.default_rng(0)
    for model in config.models:
        frame = reference(model.task, 5000, rng)
        store.save(
            build_baseline(frame, model, config.baselines, "1", "test", datetime(2026, 1, 1, tzinfo=UTC))
        )


def write_config(folder: Path, kafka: dict[str, Any], state_url: str, outcome_ttl: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = config_data(outcome_ttl)
    save_baselines(parse_config(data), folder)
    data["sources"] = {"dead_letters": "dead-letters.jsonl", "kafka": kafka}
    data["api"] = {"enabled": False}
    data["evaluation"] = {"interval": "1s"}
    data["state"] = {"url": state_url}
    path = folder / "driftline.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def events(days: int, every_s: int, outcome_delay_ms: int, seed: int = 0) -> list[Event]:
    """Per model a prediction every `every_s` seconds for `days` days; an outcome for every
    second one, `outcome_delay_ms` later, padded to about 2 KB. In arrival (= event) time order."""
    rng = np.random.default_rng(seed)
    n = days * 86_400 // every_s
    stream: list[Event] = []
    padding = "o" * 2000
    for model, task in zip(MODELS, ("classification", "regression"), strict=True):
        frame = reference(task, n, rng)
        for i, row in enumerate(frame.to_dict("records")):
            ts = START_MS + i * every_s * 1000 + int(rng.integers(0, 1000))
            pid = f"{model}-{i}"
            body: dict[str, Any] = {
                "prediction_id": pid,
                "model": model,
                "model_version": "1",
                "timestamp": ts / 1000,
                "features": {"x1": row["x1"], "c1": row["c1"]},
                "prediction": row["prediction"],
            }
            if task == "classification":
                body["score"] = row["score"]
            stream.append((ts, "predictions", pid.encode(), orjson.dumps(body)))
            if i % 2 == 0:
                at = ts + outcome_delay_ms
                outcome = {"prediction_id": pid, "model": model, "timestamp": at / 1000, "outcome": row["y"]}
                stream.append((at, "outcomes", pid.encode(), orjson.dumps({**outcome, "note": padding})))
    stream.sort(key=lambda e: (e[0], e[1]))
    return stream


def read_in_time_order(config_path: Path, stream: list[Event], batch: int = 200) -> dict[str, int]:
    """The counts when both topics are read in event-time order: every event straight into one
    in-process service, in arrival order."""
    from monitor.config import load_config

    cfg = load_config(config_path)
    service = Service(cfg, load_baselines(cfg), MemoryDeadLetters())
    for start in range(0, len(stream), batch):
        raw = RawBatch()
        for _, topic, _, value in stream[start : start + batch]:
            raw.add([value], topic)  # type: ignore[arg-type]
        service.handle(raw)
    return join_counts(service.counters)


def join_counts(counters: Any) -> dict[str, int]:
    counts = {"outcomes": counters.total("outcomes"), "rejected": counters.total("rejected")}
    for model in MODELS:
        counts[f"joined {model}"] = sum(
            v for n, labels, v in counters.items() if n == "joined" and labels["model"] == model
        )
    counts["unmatched outcomes"] = counters.total("unmatched_outcomes")
    return counts
