"""Kafka ingestion against a real broker (Tansu): exact counts, kill -9 without loss, rebalance,
scale-out on a shared PostgreSQL store."""

import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import psycopg
import pytest
import yaml

from tests.conftest import find_free_port
from tests.integration import kafka_pipeline as kp

pytestmark = pytest.mark.integration


def _events(n_predictions: int, seed: int = 0) -> list[kp.Event]:
    """kp.stream's messages as events: every prediction, then every outcome."""
    predictions, outcomes = kp.stream(n_predictions, seed)
    return [(0, "predictions", k, v) for k, v in predictions] + [(0, "outcomes", k, v) for k, v in outcomes]


def _topics(broker, n_predictions: int, seed: int = 0) -> tuple[int, int]:
    """The test topics made and kp.stream's messages produced; how many of each."""
    events = _events(n_predictions, seed)
    kp.produce_events(broker, events)
    n_predictions = sum(topic == "predictions" for _, topic, _, _ in events)
    return n_predictions, len(events) - n_predictions


@pytest.fixture
def pg_url(request: pytest.FixtureRequest):
    """A fresh PostgreSQL schema on the local server, dropped afterwards."""
    schema = f"dl_{abs(hash(request.node.nodeid)) % 10**10}"
    try:
        admin = psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True)
    except psycopg.OperationalError as err:
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is required: {err}", pytrace=False)
    admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    admin.execute(f"CREATE SCHEMA {schema}")
    yield f"postgresql://postgres@127.0.0.1:5432/postgres?options=-csearch_path%3D{schema}"
    admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    admin.close()


def _run_to_end(config: Path, name: str) -> None:
    instance = kp.start(config, name)
    assert instance.wait() == 0, instance.log.read_text()[-3000:]


def test_exact_counts_from_an_independent_producer(
    kafka_broker, kafka_group_id, kafka_client, tmp_path: Path
) -> None:
    n_pred, n_out = _topics(kafka_broker, 12_000)
    config = kp.write_config(
        tmp_path, kafka_broker.bootstrap, kafka_group_id, "sqlite:///state.db", client=kafka_client
    )
    _run_to_end(config, "run")
    got = kp.summary(config, kafka_group_id)
    counters = got["counters"]
    assert counters[("predictions", (("model", "m"), ("model_version", "1")))] == n_pred - 2
    assert counters[("outcomes", (("model", "m"),))] == n_out
    assert counters[("joined", (("model", "m"), ("model_version", "1")))] == n_out
    rejected = sum(v for (name, _), v in counters.items() if name == "rejected")
    assert rejected == 2
    assert [w["rows"] for _, w in sorted(got["windows"].items())] == [2000] * 6
    assert [w["pairs"] for _, w in sorted(got["windows"].items())] == [1000] * 6
    # The broken messages went to the dead-letter topic with their reason in a header.
    consumer = kafka_broker.new_consumer("dead-letters", group_id=f"{kafka_group_id}-dlq")
    records = []
    for _ in range(50):
        records += [r for batch in consumer.poll(timeout_ms=200).values() for r in batch]
        if len(records) >= 2:
            break
    assert sorted(r.value for r in records) == [b'{"model": "m"}', b"{truncated"]
    assert {dict(r.headers)["reason"] for r in records} == {b"invalid_json", b"missing_field"}
    # Each names the record it came from: the original is at that topic, partition and offset.
    for record in records:
        headers = dict(record.headers)
        topic, partition = headers["topic"].decode(), int(headers["partition"])
        offset = int(headers["offset"])
        assert record.key == f"{topic}/{partition}/{offset}".encode()
        assert kafka_broker.record_at(topic, partition, offset).value == record.value


def test_kill_9_at_several_points_loses_and_doubles_nothing(
    kafka_broker, kafka_group_id, kafka_client, tmp_path: Path
) -> None:
    _kill_9_then_compare(kafka_broker, kafka_group_id, kafka_client, tmp_path, "sqlite", "state.db")


def test_kill_9_on_a_rocksdb_store_loses_and_doubles_nothing(
    kafka_broker, kafka_group_id, tmp_path: Path
) -> None:
    _kill_9_then_compare(kafka_broker, kafka_group_id, "confluent", tmp_path, "rocksdb", "state")


def _kill_9_then_compare(
    kafka_broker, kafka_group_id: str, client: str, tmp_path: Path, scheme: str, name: str
) -> None:
    """Kill -9 instances at several points of the input on a `scheme` store; the counts and
    windows they leave equal those of one run that never stopped."""
    events = _events(140_000)
    assert len(events) >= 200_000
    crashed = kp.write_config(
        tmp_path / "crashed", kafka_broker.bootstrap, kafka_group_id, f"{scheme}:///{name}", client=client
    )
    state_url = f"{scheme}:///{tmp_path / 'crashed' / name}"
    kp.crash_then_finish(kafka_broker, crashed, state_url, kafka_group_id, events, (0.15, 0.45, 0.8))
    # The reference reads the same topics, every message produced by now, without a crash.
    reference = kp.write_config(
        tmp_path / "reference",
        kafka_broker.bootstrap,
        f"{kafka_group_id}-ref",
        f"{scheme}:///{name}",
        client=client,
    )
    _run_to_end(reference, "reference")
    expected = kp.summary(reference, f"{kafka_group_id}-ref")
    got = kp.summary(crashed, kafka_group_id)
    assert got["windows"] == expected["windows"]
    assert got["counters"] == expected["counters"]


def test_a_stopped_member_hands_its_partitions_over(
    kafka_broker, kafka_group_id, kafka_client, tmp_path: Path, pg_url
) -> None:
    n_pred, n_out = _topics(kafka_broker, 60_000)
    single = kp.write_config(
        tmp_path / "single",
        kafka_broker.bootstrap,
        f"{kafka_group_id}-one",
        pg_url,
        stop_when_idle="6s",
        client=kafka_client,
    )
    _run_to_end(single, "single")
    expected = kp.summary(single, f"{kafka_group_id}-one")

    pair = kp.write_config(
        tmp_path / "pair",
        kafka_broker.bootstrap,
        kafka_group_id,
        pg_url,
        stop_when_idle="6s",
        client=kafka_client,
    )
    first, second = kp.start(pair, "first"), kp.start(pair, "second")
    kp.wait_for_checkpoint(pg_url, kafka_group_id, (n_pred + n_out) // 4, second)
    second.stop()  # mid-stream: the survivor takes its partitions over
    assert second.process.returncode == 0, second.log.read_text()[-3000:]
    assert first.wait() == 0, first.log.read_text()[-3000:]
    # Both had partitions, and the survivor picked the stopped member's up from its checkpoints.
    assert "assigned partitions" in second.log.read_text()
    assert "released partitions" in second.log.read_text()
    takeovers = [
        line for line in first.log.read_text().splitlines() if "assigned partitions [0, 1, 2, 3]" in line
    ]
    assert takeovers and "from checkpoints" in takeovers[-1] and "(0 from" not in takeovers[-1]
    got = kp.summary(pair, kafka_group_id)
    assert got["windows"] == expected["windows"]
    assert got["counters"] == expected["counters"]


def test_one_or_two_instances_give_the_same_results(
    kafka_broker, kafka_group_id, kafka_client, tmp_path: Path, pg_url
) -> None:
    _topics(kafka_broker, 30_000)
    single = kp.write_config(
        tmp_path / "single", kafka_broker.bootstrap, f"{kafka_group_id}-one", pg_url, client=kafka_client
    )
    _run_to_end(single, "single")
    pair = kp.write_config(
        tmp_path / "pair",
        kafka_broker.bootstrap,
        kafka_group_id,
        pg_url,
        stop_when_idle="6s",
        client=kafka_client,
    )
    first, second = kp.start(pair, "first"), kp.start(pair, "second")
    assert first.wait() == 0, first.log.read_text()[-3000:]
    assert second.wait() == 0, second.log.read_text()[-3000:]
    one = kp.final_results(single, f"{kafka_group_id}-one")
    two = kp.final_results(pair, kafka_group_id)
    assert sorted(one) == sorted(two) == list(range(6))
    for w in one:
        a, b = one[w], two[w]
        assert a.drift.n_rows == b.drift.n_rows
        assert a.drift.drifted_features == b.drift.drifted_features
        assert a.drift.drifted_features == (("x1",) if w >= 4 else ())
        for fa, fb in zip(a.drift.features, b.drift.features, strict=True):
            assert fa.drift_detected == fb.drift_detected
            assert fa.statistics == pytest.approx(fb.statistics, rel=1e-9, abs=1e-12)
        assert a.performance.n_pairs == b.performance.n_pairs
        assert a.performance.metrics == b.performance.metrics


def test_broker_outage_is_survived_and_reported_by_readyz(
    kafka_broker, kafka_group_id, kafka_client, tmp_path: Path
) -> None:
    _topics(kafka_broker, 3_000)
    port = find_free_port()
    config = kp.write_config(
        tmp_path,
        kafka_broker.bootstrap,
        kafka_group_id,
        "sqlite:///state.db",
        stop_when_idle=None,
        client=kafka_client,
    )
    data = yaml.safe_load(config.read_text())
    data["api"] = {"port": port}  # kafka_pipeline's configs serve no HTTP; this test needs /readyz
    config.write_text(yaml.safe_dump(data))
    instance = kp.start(config, "run")
    try:
        assert _wait_ready(port, True), instance.log.read_text()[-2000:]
        assert _wait_predictions(port, lambda n: n == 3_000), instance.log.read_text()[-2000:]
        kafka_broker.stop()
        assert _wait_ready(port, False), "readyz stayed ready with the broker down"
        time.sleep(3)  # the consumer retries meanwhile
        assert instance.process.poll() is None, instance.log.read_text()[-2000:]
        kafka_broker.start()
        assert _wait_ready(port, True, timeout=60), instance.log.read_text()[-2000:]
        # Tansu keeps nothing across a restart (a real cluster would), so new data shows that
        # consumption resumed: offsets past the checkpointed ones are read and counted.
        predictions, _ = kp.stream(12_000, seed=1)
        kafka_broker.produce("predictions", predictions)
        assert _wait_predictions(port, lambda n: n > 3_000, timeout=60), instance.log.read_text()[-2000:]
        instance.stop()
        assert instance.process.returncode == 0, instance.log.read_text()[-3000:]
    finally:
        if instance.process.poll() is None:
            instance.kill()


def _wait_predictions(port: int, condition, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                for line in response.read().decode().splitlines():
                    if line.startswith("driftline_predictions_total{") and condition(float(line.split()[-1])):
                        return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def _wait_ready(port: int, ready: bool, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                state = orjson.loads(response.read())["ready"]
        except urllib.error.HTTPError as err:
            state = orjson.loads(err.read())["ready"] if err.code == 503 else None
        except OSError:
            state = None
        if state is ready:
            return True
        time.sleep(0.2)
    return False
