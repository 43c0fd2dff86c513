"""Monotonic event counters keyed by (name, labels): what came in, what was rejected, joined,
expired or dropped as late. Exported as Prometheus counters and checkpointed with the state."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

Labels = tuple[tuple[str, str], ...]


@dataclass
class Counters:
    values: Counter[tuple[str, Labels]] = field(default_factory=Counter)

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        if amount:
            self.values[(name, tuple(sorted(labels.items())))] += amount

    def get(self, name: str, **labels: str) -> int:
        return self.values.get((name, tuple(sorted(labels.items()))), 0)

    def total(self, name: str) -> int:
        return sum(v for (n, _), v in self.values.items() if n == name)

    def items(self) -> Iterator[tuple[str, dict[str, str], int]]:
        for (name, labels), value in sorted(self.values.items()):
            yield name, dict(labels), value

    def merge(self, other: Counters) -> Counters:
        return Counters(self.values + other.values)

    def to_state(self) -> list[list[Any]]:
        return [[name, labels, value] for name, labels, value in self.items()]

    @classmethod
    def from_state(cls, state: list[list[Any]]) -> Counters:
        counters = cls()
        for name, labels, value in state:
            counters.inc(name, int(value), **labels)
        return counters
