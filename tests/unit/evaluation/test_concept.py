"""Golden tests of concept drift as episodes, through the real service: a window is flagged only when
its range overlaps an episode (also when it is evaluated again later), a second degradation after
recovery is a second episode, partitions merge into one error stream, and the detector's state
survives a restart, another instance, and a partition restored from an older checkpoint."""

from pathlib import Path

import pytest

from monitor.pipeline.monitor import Monitor
from monitor.pipeline.windows import ms_to_datetime
from monitor.service import Service
from monitor.state.factory import open_state_store
from monitor.state.partitions import restore_partition, save_partitions
from monitor.state.store import StateStore
from tests.unit.evaluation import concept_world as world
from tests.unit.evaluation.concept_world import H, Stream, feed, hour_of

CHANGE = 6  # the first hour of the new concept


@pytest.mark.parametrize("task", world.TASKS)
def test_only_windows_at_or_after_the_change_are_flagged_even_when_evaluated_again(task: str) -> None:
    # 10 % of the outcomes come 5 h late, so windows before the change are evaluated again long
    # after the alarm (and once more at their final pass, when the 6 h TTL passes).
    service = world.service(world.config(task))
    stream = Stream(task, lambda i: i >= CHANGE, late_share=0.1)
    run = feed(service, stream, range(14))
    (episode,) = service.evaluator.concept.episodes("m", "1")
    # The new concept's outcomes come from 6:20; a few hundred of them make the alarm.
    assert CHANGE * H + 20 * 60_000 <= episode.start < (CHANGE + 1) * H
    assert episode.open
    alarm = ms_to_datetime(episode.start)
    first_flag = next(k for k, r in enumerate(run.results) if r.concept_drift)  # the alarm is known
    again = {hour_of(r) for r in run.results[first_flag:] if hour_of(r) < CHANGE}
    # Late outcomes and final passes evaluate the four windows before the change again after it.
    assert again >= set(range(CHANGE - 4, CHANGE))
    assert any(r.final for r in run.results[first_flag:] if hour_of(r) < CHANGE)
    assert not any(r.concept_drift for r in run.results if hour_of(r) < CHANGE)
    flagged = sorted({hour_of(r) for r in run.results if r.concept_drift})
    assert flagged == list(range(CHANGE, 14))
    assert all(r.concept_drift_at == alarm for r in run.results if r.concept_drift)


@pytest.mark.parametrize("task", world.TASKS)
def test_a_second_degradation_after_recovery_raises_a_second_episode(task: str) -> None:
    degraded = {4, 5, 14, 15}
    service = world.service(world.config(task))
    run = feed(service, Stream(task, lambda i: i in degraded), range(20))
    first, second = service.evaluator.concept.episodes("m", "1")
    assert 4 * H <= first.start < 5 * H and not first.open and first.closed_by == "recovered"
    assert first.end < 7 * H  # the last degraded outcomes come by 6:20
    assert 14 * H <= second.start < 15 * H and second.number == 2
    latest = run.latest()
    flagged = [i for i in sorted(latest) if latest[i].concept_drift]
    assert flagged[0] == 4 and 14 in flagged
    assert not any(latest[i].concept_drift for i in range(7, 14))  # between the episodes: clean
    assert {latest[i].concept_drift_at for i in flagged if i < 7} == {ms_to_datetime(first.start)}
    assert {latest[i].concept_drift_at for i in flagged if i >= 14} == {ms_to_datetime(second.start)}


@pytest.mark.parametrize("task", world.TASKS)
def test_a_stationary_stream_raises_no_episode(task: str) -> None:
    service = world.service(world.config(task))
    run = feed(service, Stream(task, lambda i: False, n=3000), range(24))
    assert service.evaluator.concept.episodes("m", "1") == []
    assert not any(r.concept_drift for r in run.results)
    status = service.evaluator.concept.status("m", "1")
    assert status is not None and status["pairs"] == 72_000 and status["detector"]["origin"] == "reference"


def test_four_partitions_are_one_error_stream() -> None:
    # The evaluator merges the partitions' buckets exactly: the same episode, from the same bucket,
    # as with one partition (a detector per partition would see a quarter of the errors).
    episodes = []
    for partitions in (1, 4):
        service = world.service(world.config("classification"))
        feed(service, Stream("classification", lambda i: i >= CHANGE, partitions=partitions), range(10))
        status = service.evaluator.concept.status("m", "1")
        assert status is not None and status["pairs"] == 15_000
        episodes.append(service.evaluator.concept.episodes("m", "1"))
    one, four = episodes
    assert len(one) == len(four) == 1
    assert one[0].start // 60_000 == four[0].start // 60_000 and one[0].alarms == four[0].alarms


def checkpoint(store: StateStore, service: Service, partition: int) -> None:
    save_partitions(store, "g", [(partition, {}, service.partition(partition))])


def restart_from_checkpoint(store: StateStore, service: Service, partition: int) -> None:
    """The partition's process died: a fresh monitor restored from its last checkpoint replaces it."""
    monitor = Monitor(service.config, service.baselines, partition)
    restore_partition(store, "g", store.load("g", [partition])[partition], monitor)
    with service.lock:
        service.partitions[partition] = monitor


def test_a_partition_restored_from_an_older_checkpoint_counts_nothing_twice(tmp_path: Path) -> None:
    stream = Stream("classification", lambda i: False, partitions=2)
    service = world.service(world.config("classification"))
    store = open_state_store(f"sqlite:///{tmp_path / 'state.db'}")
    run = feed(service, stream, range(3), finish=False)
    checkpoint(store, service, 1)  # partition 1's checkpoint after hour 2
    run = feed(service, stream, range(3, 5), run, finish=False)
    pairs = service.evaluator.concept.status("m", "1")["pairs"]  # type: ignore[index]
    # Partition 1 crashes: it restarts from its checkpoint and reads hours 3-4 again.
    restart_from_checkpoint(store, service, 1)
    replayed = [stream.hour(i) for i in range(2, 5)]
    for i, (predictions, _) in zip(range(2, 5), replayed, strict=True):
        if i >= 3:
            service.partition(1).ingest(world.Batch(predictions={("m", "1"): predictions[1]}))
        for arrival, p, outs in sorted(o for _, outcomes in replayed for o in outcomes):
            if p == 1 and max(3 * H, i * H) <= arrival < min(5 * H, (i + 1) * H):
                service.partition(1).ingest(world.Batch(outcomes={"m": outs}))
        service.evaluate()
    assert service.evaluator.concept.status("m", "1")["pairs"] == pairs  # type: ignore[index]
    feed(service, stream, range(5, 7), run)
    joined = sum(service.partition(p).counters.total("joined") for p in (0, 1))
    assert service.evaluator.concept.status("m", "1")["pairs"] == joined == 10_500  # type: ignore[index]
    store.close()


def _sqlite(tmp_path: Path) -> object:
    return open_state_store(f"sqlite:///{tmp_path / 'state.db'}")


def test_the_detector_continues_after_a_restart_and_on_another_instance(tmp_path: Path) -> None:
    # An episode in hours 4-5, over by the restart after hour 8; the stream degrades again from 11.
    stream = Stream("regression", lambda i: i in {4, 5} or i >= 11)
    whole = world.service(world.config("regression"))
    feed(whole, stream, range(14))
    expected = whole.evaluator.concept.episodes("m", "1")
    assert len(expected) == 2 and not expected[0].open and expected[1].open

    store = _sqlite(tmp_path)
    first = world.service(world.config("regression"))
    first.evaluator.concept.store = store  # type: ignore[assignment]
    run = feed(first, stream, range(9), finish=False)
    assert first.evaluator.concept.episodes("m", "1") == expected[:1]
    checkpoint(store, first, 0)  # type: ignore[arg-type]
    # The process dies. The next one (or another instance taking over evaluation with the same
    # store) restores the partition's checkpoint and reads the detector's record back.
    second = world.service(world.config("regression"))
    restart_from_checkpoint(store, second, 0)  # type: ignore[arg-type]
    second.evaluator.concept.store = store  # type: ignore[assignment]
    feed(second, stream, range(9, 14), run)
    assert second.evaluator.concept.episodes("m", "1") == expected
    status, reference = second.evaluator.concept.status("m", "1"), whole.evaluator.concept.status("m", "1")
    assert status is not None and reference is not None
    assert status["pairs"] == 21_000  # nothing counted twice or lost
    assert status["statistic"] == pytest.approx(reference["statistic"])
    store.close()  # type: ignore[attr-defined]


def test_a_new_baseline_closes_the_open_episode(tmp_path: Path) -> None:
    cfg = world.config("classification")
    service = world.service(cfg)
    stream = Stream("classification", lambda i: i >= CHANGE)
    run = feed(service, stream, range(8), finish=False)
    assert service.evaluator.concept.episodes("m", "1")[-1].open
    # The model is retrained... or the degraded level is accepted as the new reference.
    degraded = world.build_baseline(
        world.rows("classification", 20_000, world.np.random.default_rng(7), degraded=True),
        cfg.models[0],
        cfg.baselines,
        "1",
        "retrained",
        world.NOW,
        performance=world.rows("classification", 10_000, world.np.random.default_rng(8), degraded=True),
    )
    service.swap_baseline(degraded)
    feed(service, stream, range(8, 14), run)
    (episode,) = service.evaluator.concept.episodes("m", "1")
    assert not episode.open and episode.closed_by == "new_baseline"
    status = service.evaluator.concept.status("m", "1")
    assert status is not None and status["detector"]["p0"] == pytest.approx(0.3, abs=0.02)


def test_disabled_concept_drift_keeps_no_state() -> None:
    service: Service = world.service(world.config("classification", enabled=False))
    run = feed(service, Stream("classification", lambda i: i >= 2), range(4))
    assert service.evaluator.concept.status("m", "1") is None
    assert not any(r.concept_drift for r in run.results)


def test_an_unreadable_record_is_started_over_and_windows_are_still_evaluated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = _sqlite(tmp_path)
    store.write_records([("concept/m/1", "state", b"{not json")])  # type: ignore[attr-defined]
    service = world.service(world.config("classification"))
    service.evaluator.concept.store = store  # type: ignore[assignment]
    run = feed(service, Stream("classification", lambda i: i >= 3), range(6))
    assert "unreadable" in caplog.text
    assert {hour_of(r) for r in run.results} == set(range(6))
    assert len(service.evaluator.concept.episodes("m", "1")) == 1  # it ran, from the start over
    store.close()  # type: ignore[attr-defined]
