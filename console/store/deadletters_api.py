"""What the dead-letter room asks of storage for a replay and its audit, named as the product
asks it, not as tables: the ledger's lines, the latest fix of each dead letter, the audit log, and
the writes that must land together as one operation each (``store_fix``: a fix and its audit
entry; ``write_pending``: open lines and the
lines they supersede; ``record_acks``: ledger lines acked, dead letters replayed and one audit
entry each; ``record_failure``: a ledger line failed and its audit entry; ``discard``: status and
audit entry).

``DeadLetters`` is the protocol; a ``Storage`` hands one out (``Storage.dead_letters()``,
console/store/api.py) and ``console/store/sqlite/deadletters.py`` serves it from the SQLite
store. Nothing here assumes rowids, SQLite's transactions or block ids: a column store can serve
it (each method is one operation; ``another`` is a handle another thread may use). Dead letters
are named by their coordinates and cluster (``DeadLetterKey``), ledger lines by ``replay_id``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from console.base.errors import InputError
from console.base.model import AuditEntry, DeadLetter, FixedPayload, ReplayEntry

__all__ = [
    "STATUSES",
    "Ack",
    "DeadLetterKey",
    "DeadLetters",
    "DepthRow",
    "DlqFilter",
    "LatestFix",
    "LedgerLine",
    "ListItem",
    "OpenLine",
    "PendingLine",
    "key_of",
]

STATUSES = ("pending", "replayed", "discarded")
DeadLetterKey = tuple[str, int, int, str]  # DLQ coordinates and cluster ('' when unknown)
LatestFix = tuple[int, bytes | None, bytes | None]  # version, payload, schema header


@dataclass(frozen=True, slots=True)
class DlqFilter:
    """What ``dlq list`` and bulk replay/discard select. ``since_ms``: DLQ timestamp lower bound."""

    topic: str | None = None
    error: str | None = None  # text in the exception class or message
    since_ms: int | None = None
    correlation_id: str | None = None
    status: str | None = None
    limit: int | None = None
    cluster_id: str | None = None  # the Kafka cluster the tap read them from

    def __post_init__(self) -> None:
        if self.status and self.status not in STATUSES:
            raise InputError(f"--status must be one of {', '.join(STATUSES)}")


class ListItem(NamedTuple):
    """One row of ``dlq list``: no payload, no headers (a named tuple: 100,000 build fast)."""

    dlq_topic: str
    partition: int
    offset: int
    timestamp_ms: int
    original_topic: str | None
    original_partition: int | None
    original_offset: int | None
    exception_class: str | None
    exception_message: str | None
    correlation_id: str | None
    status: str
    payload_size: int
    convention: str
    cluster_id: str | None = None

    @property
    def coordinates(self) -> str:
        return f"{self.dlq_topic}:{self.partition}:{self.offset}"

    def age_s(self, now_ms: int | None = None) -> float:
        import time

        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        return max(0.0, (now_ms - self.timestamp_ms) / 1000)

    def as_dict(self) -> dict[str, Any]:
        """The ``dlq list --json`` object: every field, plus ``coordinates``."""
        d = dict(zip(self._fields, self, strict=True))
        d["coordinates"] = self.coordinates
        return d


@dataclass(frozen=True, slots=True)
class DepthRow:
    """Per DLQ topic: how many dead letters, by status, and the oldest pending one."""

    dlq_topic: str
    total: int
    pending: int
    replayed: int
    discarded: int
    oldest_pending_ms: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "dlq_topic": self.dlq_topic,
            "total": self.total,
            "pending": self.pending,
            "replayed": self.replayed,
            "discarded": self.discarded,
            "oldest_pending_ms": self.oldest_pending_ms,
        }


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
    """One handle on a store's dead letters (``Storage.dead_letters()``): reads, and the writes
    that land together, one method each. One thread at a time; ``another`` for a second."""

    # reading -----------------------------------------------------------------------------
    def list_items(self, flt: DlqFilter) -> list[ListItem]:
        """Dead letters ``flt`` selects, newest first (``limit`` applied)."""
        ...

    def extent(self, flt: DlqFilter) -> tuple[int, int | None]:
        """How many ``flt`` selects, and the DLQ timestamp (ms) of the newest."""
        ...

    def depth(self, flt: DlqFilter) -> list[DepthRow]:
        """Per DLQ topic among those ``flt`` selects (``limit`` ignored)."""
        ...

    def select(self, flt: DlqFilter) -> list[DeadLetter]:
        """Whole dead letters ``flt`` selects, in the order the tap saw them."""
        ...

    def at(
        self, topic: str, partition: int, offset: int, cluster_id: str | None
    ) -> list[DeadLetter]:
        """The dead letters at these coordinates (of ``cluster_id`` when named): at most two."""
        ...

    def fixes_for(self, d: DeadLetter) -> list[FixedPayload]:
        """Every fixed version of ``d``, oldest first."""
        ...

    def replays_for(self, d: DeadLetter) -> list[ReplayEntry]:
        """``d``'s ledger lines, oldest first."""
        ...

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
