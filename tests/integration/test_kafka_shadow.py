"""Shadow mode through a real broker (Tansu): a baseline version and a shadow candidate logging under
the same prediction ids, keyed by id so both predictions of a request land in one partition, read by
`driftline run` (each Kafka client; killed at checkpoints; one or two instances on PostgreSQL) give
the counters, the candidate's paired sums per window and the verdict of the same events read in
time order by one in-process service.

Which outcomes are paired depends on read order (an outcome read before an id's second prediction
is not), and pacing orders the two topics only coarsely: between two pacing checks a release of
held records and a poll can bring `max_poll_records` records each of a partition's side past
`max_read_ahead`. So the run paces at 1 m with polls of 1 record, related events are 25 minutes or
more apart, and each partition's outcomes are dense enough (about one every two minutes) that two
of them never span that: the broker's read order and the time order agree on every such pair.
(With polls of 2 records and gaps of 30 minutes, a sparse stretch of one partition's outcomes let
three outcomes be read before their predictions, and those ids were not paired.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import yaml

from monitor.config import load_config
from monitor.evaluation.results import WindowResult
from monitor.pipeline.monitor import Monitor
from monitor.pipeline.raw_batch import RawBatch
from monitor.service import Service, load_baselines
from monitor.sinks.dead_letters import MemoryDeadLetters
from tests.integration import kafka_pipeline as kp
from tests.integration.kafka_pipeline import Event  # (event time ms, topic, key, value)
from tests.integration.test_kafka_ingest import pg_url  # noqa: F401 (fixture)
from tests.unit import canary_world as world

pytestmark = pytest.mark.integration

M = 60_000
HOURS = 3
IDS_PER_HOUR = 150
ACCURACY_A, ACCURACY_B, SAME = 0.9, 0.6, 0.5  # the candidate is 30 points worse on the same rows


def shadow_events(seed: int = 0) -> tuple[list[Event], dict[str, int]]:
    """Per hour, IDS_PER_HOUR requests each predicted by version "1" and (but 5 %) the shadow "2",
    and how many of each kind. Kinds (t: the served prediction's time):
    after: the shadow 1 ms after t, the outcome 45 min later (paired: agreement and outcome);
    early: the outcome 40 min before both predictions (held; joined by each, paired by neither);
    between: the outcome at t + 25 min, the shadow at t + 50 min (the served prediction is joined
    when the shadow comes: not paired; the shadow joins the held outcome);
    silent: no outcome (agreement only); served_only: no shadow prediction (outcome joins "1")."""
    rng = np.random.default_rng(seed)
    events: list[Event] = []
    kinds: dict[str, int] = {}
    for hour in range(HOURS):
        start = world.START_MS + hour * world.HOUR_MS
        for j in range(IDS_PER_HOUR):
            pid = f"{seed}-{hour}-{j}"
            kind = str(
                rng.choice(
                    ["after", "early", "between", "silent", "served_only"], p=[0.6, 0.12, 0.12, 0.1, 0.06]
                )
            )
            kinds[kind] = kinds.get(kind, 0) + 1
            y = str(rng.integers(0, 2))
            u = rng.random()
            u_b = u if rng.random() < SAME else rng.random()
            a = y if u < ACCURACY_A else str(1 - int(y))
            b = y if u_b < ACCURACY_B else str(1 - int(y))
            x = float(rng.normal())
            offset = int(rng.integers(0, 59 * M))
            if kind == "early":  # outcome and both predictions in one window, 40 min apart
                t = start + 41 * M + offset % (18 * M)
                shadow_t, outcome_t = t + 1, t - 40 * M
            elif kind == "between":  # all three in one window, 25 min apart
                t = start + offset % (9 * M)
                shadow_t, outcome_t = t + 50 * M, t + 25 * M
            else:
                t = start + offset
                shadow_t, outcome_t = t + 1, t + 45 * M
            events.append((t, "predictions", pid.encode(), _prediction(pid, "1", t, x, a)))
            if kind != "served_only":
                events.append((shadow_t, "predictions", pid.encode(), _prediction(pid, "2", shadow_t, x, b)))
            if kind != "silent":
                body = {"prediction_id": pid, "model": "m", "timestamp": outcome_t / 1000, "outcome": y}
                events.append((outcome_t, "outcomes", pid.encode(), orjson.dumps(body)))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    return events, kinds


def _prediction(pid: str, version: str, t: int, x: float, label: str) -> bytes:
    body = {
        "prediction_id": pid,
        "model": "m",
        "model_version": version,
        "timestamp": t / 1000,
        "features": {"x": x},
        "prediction": label,
    }
    return orjson.dumps(body)


def _write_config(folder: Path, bootstrap: str, group: str, state_url: str, *, client: str) -> Path:
    """The canary world's model in shadow mode, nothing expiring within the stream, read paced one
    record a poll within a minute of event time (see shadow_events)."""
    cfg = world.config(mode="shadow")
    model = (cfg, list(world.baselines(cfg).values()))
    return kp.write_config(
        folder,
        bootstrap,
        group,
        state_url,
        client=client,
        model=model,
        max_poll_records=1,
        max_read_ahead="1m",
    )


def _in_time_order(config: Path, events: list[Event]) -> Service:
    """One in-process service fed every event in time order (runs of one topic per batch, so no
    outcome is ingested before a prediction that came before it)."""
    cfg = load_config(config)
    service = Service(cfg, load_baselines(cfg), MemoryDeadLetters())
    raw, topic = RawBatch(), ""
    for _, t, _, value in events:
        if t != topic and len(raw):
            assert service.handle(raw) == []
            raw = RawBatch()
        topic = t
        raw.add([value], t)  # type: ignore[arg-type]
    assert service.handle(raw) == []
    return service


PAIRED = ("n_shared", "n_agree", "n_joined", "only_a_right", "only_b_right", "sums")


def _numbers(monitors: list[Monitor]) -> dict[str, Any]:
    """Counters, per window each version's rows and joined pairs, and the candidate's paired sums,
    all partitions added up."""
    counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    windows: dict[tuple[str, int], dict[str, Any]] = {}
    for monitor in monitors:
        for name, labels, value in monitor.counters.items():
            key = (name, tuple(sorted(labels.items())))
            counters[key] = counters.get(key, 0) + value
        for (_, version), stream in monitor.streams.items():
            for start, window in stream.windows.items():
                entry = windows.setdefault((version, start), {"rows": 0, "pairs": 0})
                entry["rows"] += window.sketch.n_rows
                entry["pairs"] += window.performance.n
                if version == "2":
                    assert window.paired is not None
                    state = window.paired.to_state()
                    for field in PAIRED:
                        value = np.asarray(state[field], dtype=np.float64)
                        entry[field] = entry.get(field, 0) + value
    for entry in windows.values():
        for field in PAIRED:
            if field in entry:
                entry[field] = np.round(entry[field], 6).tolist()
    return {"counters": {k: v for k, v in counters.items() if v}, "windows": windows}


def _verdict(service: Service) -> tuple[list[tuple[Any, ...]], tuple[Any, ...]]:
    """Every window flushed and evaluated once: per candidate window its own paired evidence, and
    the cumulative paired comparison and verdict of the last."""
    results: list[WindowResult] = sorted(
        (r for r in service.evaluate(flush=True) if r.model_version == "2" and r.comparison is not None),
        key=lambda r: r.window_start,
    )
    per_window = []
    for r in results:
        assert r.comparison is not None and r.comparison.paired_window is not None
        own = r.comparison.paired_window
        per_window.append((r.window_start, own.n_shared, own.agreement, own.n_joined, own.difference))
    last = results[-1].comparison
    assert last is not None and last.paired is not None
    total = last.paired
    return per_window, (
        last.verdict,
        total.n_shared,
        total.n_joined,
        round(total.difference or 0.0, 9),
        round(total.difference_upper or 0.0, 9),
        total.mcnemar_p_value,
    )


def _stored(config: Path, group: str) -> tuple[dict[str, Any], Any]:
    with kp.stored_service(config, group) as (service, partitions):
        numbers = _numbers(list(partitions.values()))
        service.partitions.update(partitions)
        return numbers, _verdict(service)


def _reference(config: Path, events: list[Event]) -> tuple[dict[str, Any], Any]:
    service = _in_time_order(config, events)
    return _numbers(list(service.partitions.values())), _verdict(service)


def _assert_same(got: tuple[dict[str, Any], Any], expected: tuple[dict[str, Any], Any]) -> None:
    assert got[0]["counters"] == expected[0]["counters"]
    assert got[0]["windows"] == expected[0]["windows"]
    assert got[1] == expected[1]


def _run_to_end(config: Path, name: str) -> None:
    instance = kp.start(config, name)
    assert instance.wait() == 0, instance.log.read_text()[-3000:]


def _check_reference(numbers: dict[str, Any], verdict: Any, kinds: dict[str, int]) -> None:
    """The reference itself is what the kinds of ids say it is."""
    n_ids = HOURS * IDS_PER_HOUR
    counters = numbers["counters"]
    assert counters[("predictions", (("model", "m"), ("model_version", "1")))] == n_ids
    assert counters[("predictions", (("model", "m"), ("model_version", "2")))] == n_ids - kinds["served_only"]
    assert counters[("outcomes", (("model", "m"),))] == n_ids - kinds["silent"]
    assert counters[("joined", (("model", "m"), ("model_version", "1")))] == n_ids - kinds["silent"]
    joined_b = n_ids - kinds["silent"] - kinds["served_only"]
    assert counters[("joined", (("model", "m"), ("model_version", "2")))] == joined_b
    candidate = [w for (version, _), w in numbers["windows"].items() if version == "2"]
    assert sum(w["n_shared"] for w in candidate) == kinds["after"] + kinds["silent"]
    assert sum(w["n_joined"] for w in candidate) == kinds["after"]
    state, n_shared, n_joined, difference, upper, _ = verdict[1]
    assert (state, n_shared, n_joined) == ("rollback", kinds["after"] + kinds["silent"], kinds["after"])
    assert difference < upper < 0
    assert len(verdict[0]) == HOURS


def test_shadow_through_the_broker_equals_time_order(
    kafka_broker, kafka_group_id, kafka_client, tmp_path: Path
) -> None:
    events, kinds = shadow_events()
    kp.produce_events(kafka_broker, events)
    config = _write_config(
        tmp_path, kafka_broker.bootstrap, kafka_group_id, "sqlite:///state.db", client=kafka_client
    )
    _run_to_end(config, "run")
    expected = _reference(config, events)
    _check_reference(*expected, kinds)
    _assert_same(_stored(config, kafka_group_id), expected)


def test_kill_9_at_two_checkpoints_gives_the_same_pairs(
    kafka_broker, kafka_group_id, kafka_client, tmp_path: Path
) -> None:
    events, kinds = shadow_events(seed=1)
    config = _write_config(
        tmp_path, kafka_broker.bootstrap, kafka_group_id, "sqlite:///state.db", client=kafka_client
    )
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    kp.crash_then_finish(kafka_broker, config, state_url, kafka_group_id, events, (0.3, 0.7))
    expected = _reference(config, events)
    _check_reference(*expected, kinds)
    _assert_same(_stored(config, kafka_group_id), expected)


def test_one_or_two_instances_give_the_same_pairs_and_verdict(
    kafka_broker,
    kafka_group_id,
    kafka_client,
    tmp_path: Path,
    pg_url: str,  # noqa: F811
) -> None:
    events, kinds = shadow_events(seed=2)
    kp.produce_events(kafka_broker, events)
    single = _write_config(
        tmp_path / "single", kafka_broker.bootstrap, f"{kafka_group_id}-one", pg_url, client=kafka_client
    )
    _run_to_end(single, "single")
    pair = _write_config(
        tmp_path / "pair", kafka_broker.bootstrap, kafka_group_id, pg_url, client=kafka_client
    )
    data = yaml.safe_load(pair.read_text())
    data["sources"]["kafka"]["stop_when_idle"] = "6s"
    pair.write_text(yaml.safe_dump(data))
    first, second = kp.start(pair, "first"), kp.start(pair, "second")
    assert first.wait() == 0, first.log.read_text()[-3000:]
    assert second.wait() == 0, second.log.read_text()[-3000:]
    both_had_partitions = all("assigned partitions" in i.log.read_text() for i in (first, second))
    assert both_had_partitions
    one = _stored(single, f"{kafka_group_id}-one")
    two = _stored(pair, kafka_group_id)
    expected = _reference(single, events)
    _check_reference(*expected, kinds)
    assert two[0]["windows"] == one[0]["windows"] == expected[0]["windows"]
    assert two[0]["counters"] == one[0]["counters"] == expected[0]["counters"]
    assert two[1] == one[1] == expected[1]
