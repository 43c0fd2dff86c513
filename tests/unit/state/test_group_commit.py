"""Group commit (monitor/state/group_commit.py): concurrent callers share checkpoints, and each returns
only after a checkpoint that started after it asked."""

from __future__ import annotations

import threading
import time

import pytest

from monitor.state.group_commit import CheckpointFailed, GroupCommit


class SlowCheckpoint:
    def __init__(self, seconds: float, fail_first: int = 0) -> None:
        self.seconds, self.fail_first = seconds, fail_first
        self.starts: list[float] = []
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            assert not getattr(self, "running", False), "two checkpoints at once"
            self.running = True
            self.starts.append(time.monotonic())
            failing = len(self.starts) <= self.fail_first
        time.sleep(self.seconds)
        self.running = False
        if failing:
            raise OSError("disk full")


def call_from_threads(commit: GroupCommit, n: int) -> tuple[list[float], list[float], list[BaseException]]:
    asked, answered, errors = [0.0] * n, [0.0] * n, []
    go = threading.Barrier(n)

    def caller(i: int) -> None:
        go.wait()
        asked[i] = time.monotonic()
        try:
            commit()
        except BaseException as err:
            errors.append(err)
        answered[i] = time.monotonic()

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return asked, answered, errors


def test_concurrent_callers_share_checkpoints_that_start_after_they_ask() -> None:
    checkpoint = SlowCheckpoint(0.05)
    commit = GroupCommit(checkpoint)
    asked, answered, errors = call_from_threads(commit, 16)
    assert errors == []
    assert commit.runs == len(checkpoint.starts) <= 3  # 16 callers, one checkpoint running at a time
    for when_asked, when_answered in zip(asked, answered, strict=True):
        # Some checkpoint started after the caller asked and finished before it was answered.
        assert any(when_asked <= s and s + 0.05 <= when_answered + 1e-3 for s in checkpoint.starts)


def test_one_caller_gets_one_checkpoint_per_call() -> None:
    checkpoint = SlowCheckpoint(0.0)
    commit = GroupCommit(checkpoint)
    for _ in range(3):
        commit()
    assert commit.runs == 3


def test_a_failed_checkpoint_fails_its_caller_and_the_next_one_recovers() -> None:
    checkpoint = SlowCheckpoint(0.05, fail_first=1)
    commit = GroupCommit(checkpoint)
    with pytest.raises(CheckpointFailed) as raised:
        commit()
    assert isinstance(raised.value.__cause__, OSError)
    commit()  # the next checkpoint succeeds
    assert commit.runs == 2
