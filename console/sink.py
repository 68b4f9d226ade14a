"""The sink interface: what the collectors hand records to, without importing the store.

``submit`` queues records and raises ``Overloaded`` when full. A sink that also has ``flush()``
(the store writer) blocks there until everything submitted before is committed, and raises when it
cannot be: callers acknowledge (a Kafka offset, a 200) only after ``flush`` returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from console.model import Record

__all__ = ["NullSink", "Sink"]


class Sink(Protocol):
    """What the collectors hand records to. ``submit`` raises ``Overloaded`` when full."""

    def submit(self, records: Sequence[Record]) -> None: ...


class NullSink:
    """Counts and drops: the decode-only limit in benchmarks."""

    def __init__(self) -> None:
        self.count = 0

    def submit(self, records: Sequence[Record]) -> None:
        self.count += len(records)

    def flush(self, timeout: float = 60.0) -> None:
        return None
