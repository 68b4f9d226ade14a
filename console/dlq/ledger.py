"""The replay ledger: pending before produce, acked after the broker says so, reconciled on start.

Every line of ``replay_ledger`` is written ``pending`` (committed) before its message is produced,
and turned ``acked`` (with the target partition and offset) only from the producer's delivery
callback; the dead letter becomes ``replayed`` and an audit entry is written in the same
transaction. ``AckWriter`` does those commits on its own thread and connection so the producing
loop never waits for SQLite (the sqlite3 module releases the GIL while it works).

``reconcile`` settles what an interrupted run (``kill -9``) left ``pending`` or ``failed``: it reads
each target topic (``DlqCluster.scan``) from the time the line was written
(``offsets_for_times``, else the low watermark) up to its high watermark, looking for the lines'
``x-replay-id`` header. Found: acked.
Not found: the line stays open and the next plan produces the message again with the same id.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from console.base.errors import HandoffError
from console.base.model import AuditEntry
from console.dlq.audit import os_user, write_audit
from console.dlq.cluster import REPLAY_ID, DlqCluster, ScanError

__all__ = [
    "REPLAY_ID",
    "Ack",
    "AckWriter",
    "OpenLine",
    "PendingLine",
    "ReconcileReport",
    "ReplayError",
    "connect_like",
    "reconcile",
    "record_acks",
    "record_failure",
    "replay_lock",
    "write_pending",
]


class ReplayError(HandoffError):
    """A replay that cannot start or finish (refused, broker unreachable, reconcile failed)."""


@dataclass
class ReconcileReport:
    checked: int = 0
    found: int = 0
    missing: int = 0


def reconcile(
    conn: sqlite3.Connection,
    cluster: DlqCluster,
    *,
    timeout: float = 60.0,
    user: str | None = None,
) -> ReconcileReport:
    """Settle pending/failed ledger lines by looking for their ``x-replay-id`` in the target."""
    cur = conn.execute(
        f"SELECT {', '.join(OpenLine._fields)} FROM replay_ledger "
        "WHERE state IN ('pending', 'failed')"
    )
    open_lines = list(map(OpenLine._make, cur))
    report = ReconcileReport(checked=len(open_lines))
    if not open_lines:
        return report
    user = user or os_user()
    by_topic: dict[str, list[OpenLine]] = {}
    for line in open_lines:
        by_topic.setdefault(line.target_topic, []).append(line)
    now = time.time_ns()
    for topic, lines in by_topic.items():
        since_ms = min(ln.created_ns for ln in lines) // 1_000_000 - 60_000  # clock-skew margin
        try:
            found = cluster.scan(topic, {ln.replay_id for ln in lines}, since_ms, timeout)
        except ScanError as exc:
            raise ReplayError(f"reconcile: {exc}") from exc
        acks = [
            Ack(
                ln.replay_id,
                (ln.dlq_topic, ln.partition, ln.offset),
                topic,
                *found[ln.replay_id],
                ln.payload_sha256,
                ln.replay_count,
                ln.cluster_id,
            )
            for ln in lines
            if ln.replay_id in found
        ]
        record_acks(conn, acks, now, user, note="reconciled")
        report.found += len(acks)
        report.missing += len(lines) - len(acks)
    return report


@dataclass(frozen=True, slots=True)
class Ack:
    replay_id: str
    coords: tuple[str, int, int]
    topic: str
    partition: int
    offset: int
    payload_sha256: str
    count: int
    cluster_id: str | None = None  # the dead letter's cluster (None: unknown)


def record_acks(
    conn: sqlite3.Connection,
    acks: Sequence[Ack],
    now: int,
    user: str,
    note: str = "",
    original_sha: dict[str, str | None] | None = None,
) -> None:
    if not acks:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(
            "UPDATE replay_ledger SET state = 'acked', acked_ns = ?, target_partition = ?, "
            "target_offset = ?, error = NULL WHERE replay_id = ?",
            [(now, a.partition, a.offset, a.replay_id) for a in acks],
        )
        conn.executemany(
            "UPDATE dead_letters SET status = 'replayed', status_ns = ? "
            "WHERE dlq_topic = ? AND partition = ? AND offset = ? "
            "AND coalesce(cluster_id, '') = ?",
            [(now, *a.coords, a.cluster_id or "") for a in acks],
        )
        before = original_sha or {}
        result = f"acked ({note})" if note else "acked"
        # Topic names are [A-Za-z0-9._-]: the detail JSON needs no escaping.
        conn.executemany(
            "INSERT INTO audit_log (time_ns, os_user, action, target, before_sha256, "
            "after_sha256, result, detail) VALUES (?,?,'replay',?,?,?,?,?)",
            [
                (
                    now,
                    user,
                    f"{a.coords[0]}:{a.coords[1]}:{a.coords[2]}",
                    before.get(a.replay_id),
                    a.payload_sha256,
                    result,
                    f'{{"replay_id":"{a.replay_id}","replay_count":{a.count},'
                    f'"to":"{a.topic}:{a.partition}:{a.offset}"}}',
                )
                for a in acks
            ],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def connect_like(conn: sqlite3.Connection) -> sqlite3.Connection:
    """A second connection to ``conn``'s database file (for another thread)."""
    path = conn.execute("PRAGMA database_list").fetchone()[2]
    other = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    other.execute("PRAGMA busy_timeout = 30000")
    other.execute("PRAGMA synchronous = NORMAL")
    other.execute("PRAGMA cache_size = -65536")  # 64 MiB: bulk acks touch many pages
    return other


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


def write_pending(conn: sqlite3.Connection, rows: Sequence[PendingLine]) -> None:
    """Commit ``pending`` lines. A resumed line is re-opened."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(
            "INSERT INTO replay_ledger (replay_id, dlq_topic, partition, offset, target_topic, "
            "payload_sha256, state, replay_count, created_ns, os_user, cluster_id) "
            "VALUES (?,?,?,?,?,?,'pending',?,?,?,?) "
            "ON CONFLICT(replay_id) DO UPDATE SET state = 'pending', error = NULL",
            rows,
        )
        # An older open line for the same dead letter (its payload was fixed since, or another
        # target was chosen) that reconcile did not find is superseded by this one.
        conn.executemany(
            "UPDATE replay_ledger SET state = 'superseded' WHERE dlq_topic = ? AND partition = ? "
            "AND offset = ? AND coalesce(cluster_id, '') = ? AND state IN ('pending', 'failed') "
            "AND replay_id != ?",
            [(r.dlq_topic, r.partition, r.offset, r.cluster_id or "", r.replay_id) for r in rows],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def record_failure(
    conn: sqlite3.Connection,
    replay_id: str,
    coordinates: str,
    target_topic: str,
    error: str,
    before_sha: str | None,
    after_sha: str,
    user: str,
) -> None:
    """A message the broker refused: ledger line ``failed`` (reconciled next time), audited."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "UPDATE replay_ledger SET state = 'failed', error = ? WHERE replay_id = ?",
            (error, replay_id),
        )
        detail = {"replay_id": replay_id, "to": target_topic}
        write_audit(
            conn,
            [
                AuditEntry(
                    time.time_ns(),
                    user,
                    "replay",
                    coordinates,
                    f"failed: {error}",
                    before_sha,
                    after_sha,
                    detail,
                )
            ],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


_STOP = object()


class AckWriter:
    """Commits acks on its own thread and connection; ``close()`` drains and re-raises errors."""

    def __init__(
        self, conn: sqlite3.Connection, user: str, original_sha: dict[str, str | None]
    ) -> None:
        self._conn = connect_like(conn)
        self._user = user
        self._original_sha = original_sha
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        # Held around every transaction on either connection: waiting on a lock beats SQLite's
        # busy handler, which sleeps in steps of up to 100 ms.
        self.lock = threading.Lock()
        self.recorded = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="replay-acks", daemon=True)
        self._thread.start()

    def put(self, acks: list[Ack]) -> None:
        if acks:
            self._queue.put(acks)

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[Ack] = []
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stop = True
                else:
                    batch.extend(item)  # type: ignore[arg-type]  # not _STOP: a list of acks
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch and self.error is None:
                try:
                    with self.lock:
                        record_acks(
                            self._conn,
                            batch,
                            time.time_ns(),
                            self._user,
                            original_sha=self._original_sha,
                        )
                    self.recorded += len(batch)
                except BaseException as exc:  # surfaced by close()
                    self.error = exc
        self._conn.close()

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()
        if self.error is not None:
            raise ReplayError(f"could not record acknowledged replays: {self.error}")


_LOCK_KEY = "replay_lock"


@contextlib.contextmanager
def replay_lock(conn: sqlite3.Connection) -> Iterator[None]:
    """One replay at a time per store: two runs planning the same dead letters would both send.

    The holder is ``host:pid`` in the ``meta`` table; a holder that is no longer alive on this
    host (a replay killed with ``kill -9``) is taken over. Raises ``ReplayError`` when another
    live process holds it.
    """
    import os
    import socket

    import psutil

    host = socket.gethostname()
    me = f"{host}:{os.getpid()}"
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (_LOCK_KEY,)).fetchone()
        if row is not None and row[0] != me:
            their_host, _, pid = str(row[0]).rpartition(":")
            alive = their_host != host or (pid.isdigit() and psutil.pid_exists(int(pid)))
            if alive:
                raise ReplayError(
                    f"another replay is running on this store (pid {pid} on {their_host}); "
                    "wait for it to finish"
                )
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (_LOCK_KEY, me),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    try:
        yield
    finally:
        conn.execute("DELETE FROM meta WHERE key = ? AND value = ?", (_LOCK_KEY, me))
