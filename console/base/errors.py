"""The errors handoff-console raises on purpose.

HandoffError                 base: a message meant for a person, never a traceback
├── StoreError               the database file cannot be used
│   ├── NotAStoreError       a file that is not a handoff-console database
│   ├── SchemaTooNewError    written by a newer handoff-console
│   ├── StoreUnavailable     a commit failed (disk full, I/O error, lock held past the busy
│   │                        timeout), or the store is failing: nothing was stored; retry later
│   │                        (also an ``Overloaded``, so every receiver answers 503/UNAVAILABLE)
│   └── RecordsRejected      records the write path cannot store (a value SQLite cannot hold):
│                            they were not stored and a retry would fail the same way (400 /
│                            INVALID_ARGUMENT); the other records of the batch were committed
├── Overloaded               the store's queue is full: back off and retry
├── BrokerError              the Kafka harness cannot start, stop or reach the broker
└── InputError               bad input from the command line (exit 2)
"""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "HandoffError",
    "InputError",
    "NeedsUpgradeError",
    "NotAStoreError",
    "Overloaded",
    "RecordsRejected",
    "SchemaTooNewError",
    "StoreError",
    "StoreUnavailable",
]


class HandoffError(Exception):
    """Base of every deliberate error; ``str(err)`` is the message for the user."""

    exit_code = 1


class StoreError(HandoffError):
    pass


class NotAStoreError(StoreError):
    pass


class NeedsUpgradeError(StoreError):
    """An older store that only the writer (serve, tap, tui, demo) upgrades."""


class SchemaTooNewError(StoreError):
    pass


class Overloaded(HandoffError):
    """The writer's queue is full. ``retry_after_s`` is a hint for the client."""

    def __init__(self, message: str = "store queue full", retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StoreUnavailable(StoreError, Overloaded):
    """The store could not commit: the records it names were not stored, and not counted.

    Raised by ``Ticket.wait`` and ``flush`` when the commit holding the records failed, and by
    ``submit`` while the writer is failing (until its next retry). ``retry_after_s`` is when the
    writer tries again.
    """


class RecordsRejected(StoreError):
    """The write path could not store these records (``Ticket.wait`` raises it): not stored,
    not counted, and not worth a retry. The rest of their batch was committed."""


class BrokerError(HandoffError):
    pass


class InputError(HandoffError):
    exit_code = 2
