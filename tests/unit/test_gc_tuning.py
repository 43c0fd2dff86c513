"""streaming_collector: the heap frozen and young collections rarer inside the block, Python's
settings back after it, also when the block raises."""

import gc

import pytest

from monitor.gc_tuning import YOUNG_THRESHOLD, streaming_collector


def test_inside_the_block_the_heap_is_frozen_and_the_young_threshold_raised() -> None:
    before = gc.get_threshold()
    kept = [[] for _ in range(100)]  # containers alive before the block: frozen with the rest
    with streaming_collector():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_settings_come_back_when_the_block_raises() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), streaming_collector(young=1234):
        assert gc.get_threshold()[0] == 1234
        raise RuntimeError("the loop failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_cyclic_garbage_made_inside_the_block_is_still_collected_by_itself() -> None:
    class Node:
        pass

    collected: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            collected.append(info["collected"])

    gc.callbacks.append(note)
    try:
        with streaming_collector(young=1000):
            for _ in range(5000):  # five times the threshold, each a cycle refcounting never frees
                node = Node()
                node.self = node
                del node
    finally:
        gc.callbacks.remove(note)
    assert sum(collected) >= 1000, collected  # collections ran without a gc.collect() call
