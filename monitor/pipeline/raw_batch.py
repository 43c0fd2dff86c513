"""`RawBatch`: undecoded messages as a source hands them to `Service.handle`, with the input
positions they bring the source to (for checkpoints).

Which messages are predictions and which are outcomes: a source is configured with a topic. A
`mixed` source splits by content: a message carrying a "features" key is a prediction, anything
else is treated as an outcome (and dead-lettered if it is not one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Topic = Literal["predictions", "outcomes", "mixed"]
FEATURES_KEY = b'"features"'


@dataclass
class RawBatch:
    predictions: list[bytes] = field(default_factory=list)
    outcomes: list[bytes] = field(default_factory=list)
    positions: dict[str, int] = field(default_factory=dict)  # source name -> byte offset reached

    def add(self, lines: list[bytes], topic: Topic) -> None:
        if topic == "predictions":
            self.predictions.extend(lines)
        elif topic == "outcomes":
            self.outcomes.extend(lines)
        else:
            for line in lines:
                (self.predictions if FEATURES_KEY in line else self.outcomes).append(line)

    def __len__(self) -> int:
        return len(self.predictions) + len(self.outcomes)
