"""Which Kafka offsets the tap may commit: its offset bookkeeping, apart from the poll loop.

The durability contract: an offset is committed only after the store has committed every record
below it. The tap hands each batch to the sink and gets a ``Ticket``; ``OffsetTracker`` keeps

* the offsets handed over and not yet committed to Kafka (``handed``, ``take``, ``requeue``);
* the tickets behind them, in order: ``settle`` waits on all of them, whatever order the store
  finishes them in, and raises ``StoreError`` when one failed, so nothing is committed;
* for each partition the position it is read again from if the store fails (``rewind``): the
  offset after the last records the store committed, or the first offset read since the
  partition was assigned;
* what the store committed, counted (``counts``).

A rebalance forgets a partition's positions (``assigned``, ``revoked``); a lost partition's
offsets are dropped without a commit (``lost``): its next owner reads them again. A partition
revoked or lost is no longer this consumer's to commit: offsets handed over for it afterwards (a
batch fetched before the rebalance, or held back while the store was overloaded) are ignored until
it is assigned again; its records are stored all the same, and its next owner, reading from the
offset committed at the revoke, stores them again as the duplicates the store collapses.

Every method may be called from the tap's loop thread while ``counts`` is read from another.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from console.base.errors import StoreError

if TYPE_CHECKING:
    from console.base.sink import Ticket

__all__ = ["OffsetTracker", "Partition", "StoredCounts", "add_counts"]

Partition = tuple[str, int]  # (topic, partition)


@dataclass(frozen=True, slots=True)
class _Handed:
    ticket: Ticket
    hops: int
    dead_letters: int
    by_signal: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class StoredCounts:
    """What the store committed of what the tap handed over, and how its failures went."""

    hops: int
    dead_letters: int
    by_signal: dict[str, int]
    store_error: str | None  # why the last wait failed; None once one succeeds
    rewinds: int  # times the tap read again from its committed position


class OffsetTracker:
    """The offsets a Kafka consumer may commit, given the store's tickets (see the module)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[Partition, int] = {}  # the next offset to commit, per partition
        self._tickets: list[_Handed] = []
        self._resume: dict[Partition, int] = {}
        self._gone: set[Partition] = set()  # revoked or lost since their last assignment
        self._hops = 0
        self._dead = 0
        self._by_signal: dict[str, int] = {}
        self._store_error: str | None = None
        self._rewinds = 0

    # -- reading and handing over ----------------------------------------------------------

    def read(self, partition: Partition, offset: int) -> None:
        """A message at ``offset`` was read: the first one since the assignment is where the
        partition is read again from until the store commits something of it."""
        if partition not in self._resume:
            with self._lock:
                self._resume.setdefault(partition, offset)

    def handed(
        self,
        ticket: Ticket | None,
        next_offsets: Mapping[Partition, int],
        *,
        hops: int = 0,
        dead_letters: int = 0,
        by_signal: Mapping[str, int] | None = None,
    ) -> None:
        """A batch went to the sink (``ticket`` None: it held no record to store), and the next
        offsets to read after it are ``next_offsets``."""
        with self._lock:
            if ticket is not None:
                self._tickets.append(_Handed(ticket, hops, dead_letters, dict(by_signal or {})))
            for key, offset in next_offsets.items():
                if offset > self._pending.get(key, -1) and key not in self._gone:
                    self._pending[key] = offset

    # -- committing ------------------------------------------------------------------------

    def take(self, only: Iterable[Partition] | None = None) -> dict[Partition, int]:
        """The offsets to commit (all, or those of ``only``), no longer pending: give them back
        with ``requeue`` if the commit fails. Call ``settle`` before committing them."""
        with self._lock:
            if only is None:
                taken, self._pending = self._pending, {}
                return taken
            wanted = set(only)
            taken = {k: v for k, v in self._pending.items() if k in wanted}
            for k in taken:
                del self._pending[k]
            return taken

    def settle(self, taken: Mapping[Partition, int], timeout: float = 60.0) -> None:
        """Wait on every ticket handed over so far, ``timeout`` seconds in all; raise
        ``StoreError`` if one failed or was not committed in time.

        The tickets are waited on in the order they were handed over; one that failed does not
        stop the wait for the others (they are released, not retried). On success the counts go
        up and the resume positions move up to everything handed over (``taken`` and what is
        still pending).
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            tickets, self._tickets = self._tickets, []
            stored = {**self._pending, **taken}
        failure: StoreError | None = None
        hops = dead = 0
        by_signal: dict[str, int] = {}
        for handed in tickets:
            try:
                handed.ticket.wait(max(0.0, deadline - time.monotonic()))
            except StoreError as exc:
                failure = failure or exc
                continue
            hops += handed.hops
            dead += handed.dead_letters
            add_counts(by_signal, handed.by_signal)
        if failure is not None:
            raise failure
        with self._lock:
            self._hops += hops
            self._dead += dead
            add_counts(self._by_signal, by_signal)
            self._store_error = None
            for key, offset in stored.items():
                if key in self._resume:
                    self._resume[key] = max(self._resume[key], offset)

    def requeue(self, offsets: Mapping[Partition, int]) -> None:
        """A commit of offsets the store holds failed: commit them with the next ones."""
        with self._lock:
            for key, offset in offsets.items():
                if offset > self._pending.get(key, -1):
                    self._pending[key] = offset

    def rewind(self, reason: str) -> dict[Partition, int]:
        """The store did not commit: forget what was handed over since the last commit and
        return where each partition is to be read again from."""
        with self._lock:
            self._store_error = reason
            self._rewinds += 1
            self._pending = {}
            self._tickets = []
            return dict(self._resume)

    # -- rebalances ------------------------------------------------------------------------

    def assigned(self, partitions: Iterable[Partition]) -> None:
        """Partitions assigned: a position from an earlier assignment is stale."""
        with self._lock:
            for key in partitions:
                self._resume.pop(key, None)
                self._gone.discard(key)

    def revoked(self, partitions: Iterable[Partition]) -> None:
        """Partitions revoked, after their last commit: they are another consumer's now."""
        self.lost(partitions)

    def lost(self, partitions: Iterable[Partition]) -> None:
        """Partitions lost without a revoke: nothing can be committed for them any more."""
        gone = set(partitions)
        with self._lock:
            self._gone |= gone
            self._pending = {k: v for k, v in self._pending.items() if k not in gone}
            self._resume = {k: v for k, v in self._resume.items() if k not in gone}

    # -- reading the state -----------------------------------------------------------------

    def counts(self) -> StoredCounts:
        with self._lock:
            return StoredCounts(
                self._hops, self._dead, dict(self._by_signal), self._store_error, self._rewinds
            )

    def pending(self) -> dict[Partition, int]:
        """The offsets handed over and not yet taken for a commit."""
        with self._lock:
            return dict(self._pending)

    def resume_positions(self) -> dict[Partition, int]:
        with self._lock:
            return dict(self._resume)


def add_counts(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for key, n in counts.items():
        into[key] = into.get(key, 0) + n
