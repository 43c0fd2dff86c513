"""`RawBatch`: undecoded messages as a source hands them to `Service.handle`, with the input
positions they bring the source to (for checkpoints).

Which messages are predictions and which are outcomes: a source is configured with a topic. A
`mixed` source splits by content: a message carrying a "features" key is a prediction, one carrying
an "outcome" key an outcome; anything else (`unsorted`) is decoded as an outcome too, so it is
accepted if it is one after all (keys spelled with escapes) and otherwise dead-lettered and counted
under the topic "mixed", not under outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Topic = Literal["predictions", "outcomes", "mixed"]
FEATURES_KEY = b'"features"'
OUTCOME_KEY = b'"outcome"'


@dataclass
class RawBatch:
    predictions: list[bytes] = field(default_factory=list)
    outcomes: list[bytes] = field(default_factory=list)
    unsorted: list[bytes] = field(default_factory=list)  # from a mixed source: neither key found
    positions: dict[str, int] = field(default_factory=dict)  # source name -> byte offset reached

    def add(self, lines: list[bytes], topic: Topic) -> None:
        if topic == "predictions":
            self.predictions.extend(lines)
        elif topic == "outcomes":
            self.outcomes.extend(lines)
        else:
            for line in lines:
                if FEATURES_KEY in line:
                    self.predictions.append(line)
                elif OUTCOME_KEY in line:
                    self.outcomes.append(line)
                else:
                    self.unsorted.append(line)

    def __len__(self) -> int:
        return len(self.predictions) + len(self.outcomes) + len(self.unsorted)
