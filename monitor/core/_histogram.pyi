# Types of monitor/core/_histogram.c (documented there).
from typing import Any

def update(
    values: Any, edges: Any, counts: Any, sums: Any
) -> tuple[int, int, float, float, float, float]: ...
