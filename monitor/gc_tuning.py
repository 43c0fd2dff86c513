"""The garbage collector, set for a long ingest loop.

CPython's cyclic collector runs its youngest generation after every 700 net allocations of
container objects, and now and then a full collection that walks every tracked object in the
process. An ingest loop allocates containers by the million (rows, tuples, dicts, arrays'
wrappers) and keeps a large, slowly changing heap (baselines, window sketches, the join's
recent rows), so the collector walks the same long-lived objects over and over:
`tests/benchmarks/bench_kafka.py` measured a fifth of the consuming thread's CPU in it.

`streaming_collector` moves what exists when the loop starts (modules, configuration,
baselines, restored state) out of the collector's sight (`gc.freeze`) and lets the youngest
generation grow to `young` allocations before it is collected. Reference counting still frees
almost everything at once; only garbage in reference cycles waits longer, and the older
generations keep their ratios to the youngest, so a full collection still comes, just less often.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 50_000  # container allocations between collections of the youngest generation


@contextmanager
def streaming_collector(young: int = YOUNG_THRESHOLD) -> Iterator[None]:
    """Within the block: the heap as it stands is frozen and young collections are rarer.
    Restores the thresholds and unfreezes on the way out."""
    thresholds = gc.get_threshold()
    gc.collect()  # what is garbage now is freed, not frozen
    gc.freeze()
    gc.set_threshold(young, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
