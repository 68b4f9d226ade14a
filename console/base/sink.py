"""The sink interface: what the collectors hand records to, without importing the store.

``submit(records)`` queues records and returns a ``Ticket``; it raises ``Overloaded`` when the
queue is full and ``StoreUnavailable`` (an ``Overloaded`` too) while the store is failing.
``ticket.wait(timeout)`` (or ``ticket.add_done_callback(fn)`` from an event loop) returns once
the commit holding those records succeeded, and raises ``StoreUnavailable`` when it failed: the
records were not stored (retry), or ``RecordsRejected`` when the write path cannot store them
(do not retry; the rest of the batch was committed without them). Callers acknowledge (a 200,
a Kafka offset) only after that.

Group commit: a ticket someone waits on makes the writer commit what it has at once rather than
wait out its flush interval, so a request costs one commit of latency, shared with every request
that arrived meanwhile.

When a commit fails, the records of tickets being waited on are released (their waiters are told
and resend); the records of tickets nobody waits on stay queued and are retried, bounded by the
writer's ``max_queued``. Either way no record is dropped without someone being told.

``flush(timeout)`` (the store writer's, optional on a sink) waits for everything submitted before
it and raises ``StoreUnavailable`` if any of it is not committed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from console.base.errors import RecordsRejected, StoreError, StoreUnavailable
from console.base.model import Record

__all__ = ["NullSink", "Sink", "Ticket"]


class Ticket:
    """The promise of one ``submit``: resolved by the writer, committed or failed.

    ``wait``/``add_done_callback`` are the waiter's side; ``resolve``/``fail_if_waited`` the
    writer's. A waiter present when a commit fails gets the error; without one the writer keeps
    the records and retries them.
    """

    __slots__ = ("_callbacks", "_error", "_event", "_lock", "_nudge", "_waited", "size")

    def __init__(self, size: int, nudge: Callable[[], None] | None = None) -> None:
        self.size = size
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._error: StoreError | None = None
        self._callbacks: list[Callable[[Ticket], None]] = []
        self._waited = False
        self._nudge = nudge

    @classmethod
    def completed(cls, size: int = 0) -> Ticket:
        """A ticket already committed (sinks that store nothing, empty submits)."""
        ticket = cls(size)
        ticket._event.set()
        return ticket

    @property
    def done(self) -> bool:
        return self._event.is_set()

    @property
    def waited(self) -> bool:
        return self._waited

    @property
    def error(self) -> StoreError | None:
        """Why the records were not stored (None: committed, or not resolved yet)."""
        return self._error

    def wait(self, timeout: float = 60.0) -> None:
        """Block until committed; raise ``StoreUnavailable`` if the commit failed or took longer
        than ``timeout`` (then the records may still be committed later: a resend duplicates)."""
        if not self._event.is_set():
            self._claim()
            if not self._event.wait(timeout):
                raise StoreUnavailable(
                    f"the store did not commit within {timeout:g} s", retry_after_s=1.0
                )
        error = self._error
        if error is None:
            return
        # A fresh one per waiter: tracebacks are not shared.
        if isinstance(error, StoreUnavailable):
            raise StoreUnavailable(str(error), retry_after_s=error.retry_after_s)
        raise RecordsRejected(str(error))

    def add_done_callback(self, fn: Callable[[Ticket], None]) -> None:
        """Call ``fn(ticket)`` once resolved (from the writer's thread, or now if it is)."""
        with self._lock:
            pending = not self._event.is_set()
            if pending:
                self._callbacks.append(fn)
        if pending:
            self._claim()
        else:
            fn(self)

    def _claim(self) -> None:
        with self._lock:
            first = not self._waited
            self._waited = True
        if first and self._nudge is not None:
            self._nudge()

    # -- the writer's side -------------------------------------------------------------------

    def resolve(self, error: StoreError | None = None) -> None:
        """Committed (``error`` None) or not stored (``error``: ``StoreUnavailable``, retry;
        ``RecordsRejected``, do not); wakes waiters, runs callbacks."""
        with self._lock:
            if self._event.is_set():
                return
            self._error = error
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            fn(self)

    def fail_if_waited(self, error: StoreUnavailable) -> bool:
        """Fail the ticket if someone waits on it (True); otherwise leave it for a retry."""
        with self._lock:
            if not self._waited:
                return False
        self.resolve(error)
        return True


class Sink(Protocol):
    """What the collectors hand records to (see the module docstring)."""

    def submit(self, records: Sequence[Record]) -> Ticket: ...


class NullSink:
    """Counts and drops: the decode-only limit in benchmarks."""

    def __init__(self) -> None:
        self.count = 0

    def submit(self, records: Sequence[Record]) -> Ticket:
        self.count += len(records)
        return Ticket.completed(len(records))

    def flush(self, timeout: float = 60.0) -> None:
        return None
