"""What the dead-letter room asks of storage for a replay and its audit, named as the product
asks it, not as tables: the ledger's lines, the latest fix of each dead letter, the audit log, and
the writes that must land together as one operation each (``store_fix``: a fix and its audit
entry; ``write_pending``: open lines and the
lines they supersede; ``record_acks``: ledger lines acked, dead letters replayed and one audit
entry each; ``record_failure``: a ledger line failed and its audit entry; ``discard``: status and
audit entry).

``DeadLetters`` is the protocol; ``console/store/deadletters_sqlite.py`` serves it from the SQLite
store. Nothing here assumes rowids, SQLite's transactions or block ids: a column store can serve
it (each method is one operation; ``another`` is a handle another thread may use).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from console.base.model import AuditEntry, DeadLetter, FixedPayload

__all__ = [
    "Ack",
    "DeadLetterKey",
    "DeadLetters",
    "LatestFix",
    "LedgerLine",
    "OpenLine",
    "PendingLine",
    "key_of",
]

DeadLetterKey = tuple[str, int, int, str]  # DLQ coordinates and cluster ('' when unknown)
LatestFix = tuple[int, bytes | None, bytes | None]  # version, payload, schema header


def key_of(d: DeadLetter) -> DeadLetterKey:
    return (d.dlq_topic, d.partition, d.offset, d.cluster_id or "")


class PendingLine(NamedTuple):
    """A ledger line as a replay writes it before it produces (``write_pending``)."""

    replay_id: str
    dlq_topic: str
    partition: int
    offset: int
    target_topic: str
    payload_sha256: str
    replay_count: int
    created_ns: int
    os_user: str
    cluster_id: str | None = None  # the dead letter's cluster (None: unknown)


class OpenLine(NamedTuple):
    """A ``pending`` or ``failed`` ledger line, as ``reconcile`` reads it."""

    replay_id: str
    target_topic: str
    created_ns: int
    dlq_topic: str
    partition: int
    offset: int
    payload_sha256: str
    replay_count: int
    cluster_id: str | None


class LedgerLine(NamedTuple):
    """What planning needs of a dead letter's ledger line."""

    dlq_topic: str
    partition: int
    offset: int
    cluster_id: str | None
    replay_id: str
    state: str
    replay_count: int
    target_topic: str
    payload_sha256: str
    target_partition: int | None
    target_offset: int | None


@dataclass(frozen=True, slots=True)
class Ack:
    """The broker's acknowledgement of one replayed message."""

    replay_id: str
    coords: tuple[str, int, int]
    topic: str
    partition: int
    offset: int
    payload_sha256: str
    count: int
    cluster_id: str | None = None  # the dead letter's cluster (None: unknown)


class DeadLetters(Protocol):
    # reading -----------------------------------------------------------------------------
    def audit_log(self, *, limit: int | None = None, target: str | None = None) -> list[AuditEntry]:
        """The audit log, newest first (``target``: only entries about it)."""
        ...

    def ledger_lines(self) -> dict[DeadLetterKey, list[LedgerLine]]:
        """Every ledger line, by dead letter, oldest first."""
        ...

    def open_lines(self) -> list[OpenLine]:
        """The ``pending`` and ``failed`` lines (an interrupted or refused replay)."""
        ...

    def latest_fixes(self) -> dict[DeadLetterKey, LatestFix]:
        """Every fixed dead letter's latest fix."""
        ...

    def with_open_lines(self) -> list[DeadLetter]:
        """The dead letters that have a ``pending`` or ``failed`` ledger line."""
        ...

    # changing: each one operation ---------------------------------------------------------
    def write_audit(self, entries: Iterable[AuditEntry]) -> None: ...

    def discard(
        self, letters: Sequence[DeadLetter], *, now_ns: int, user: str, reason: str
    ) -> dict[str, str]:
        """Pending ones become ``discarded``; every one gets an audit entry. Coordinates ->
        ``discarded`` or why not."""
        ...

    def store_fix(
        self, fixed: FixedPayload, cluster_id: str | None, audit: AuditEntry
    ) -> FixedPayload:
        """Keep ``fixed`` as its dead letter's next version (its ``version`` is replaced by that
        one) and its audit entry (result ``stored vN``, ``version`` in its detail), together.
        Returns the fix as stored."""
        ...

    def write_pending(self, lines: Sequence[PendingLine]) -> None:
        """Open ``lines`` (re-open a resumed one); an older open line of the same dead letter
        is superseded."""
        ...

    def record_acks(
        self,
        acks: Sequence[Ack],
        *,
        now_ns: int,
        user: str,
        note: str = "",
        original_sha: dict[str, str | None] | None = None,
    ) -> None:
        """Ledger lines ``acked`` with where they landed, their dead letters ``replayed``, one
        audit entry each."""
        ...

    def record_failure(self, replay_id: str, error: str, audit: AuditEntry) -> None:
        """A ledger line ``failed`` (reconciled next time) and its audit entry."""
        ...

    def take_lock(self, name: str, holder: str, alive: Callable[[str], bool]) -> str | None:
        """Hold the lock ``name`` as ``holder`` unless a holder ``alive`` says is alive has it
        (then that holder is returned and nothing changes)."""
        ...

    def release_lock(self, name: str, holder: str) -> None: ...

    def another(self) -> DeadLetters:
        """A handle of its own for another thread (``close`` it)."""
        ...

    def close(self) -> None: ...
