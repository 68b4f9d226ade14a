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
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from console.base.errors import HandoffError
from console.base.model import AuditEntry
from console.dlq.audit import os_user
from console.dlq.cluster import REPLAY_ID, DlqCluster, ScanError
from console.store.deadletters_api import Ack, DeadLetters, OpenLine, PendingLine

__all__ = [
    "REPLAY_ID",
    "Ack",
    "AckWriter",
    "OpenLine",
    "PendingLine",
    "ReconcileReport",
    "ReplayError",
    "reconcile",
    "record_failure",
    "replay_lock",
]


class ReplayError(HandoffError):
    """A replay that cannot start or finish (refused, broker unreachable, reconcile failed)."""


@dataclass
class ReconcileReport:
    checked: int = 0
    found: int = 0
    missing: int = 0


def reconcile(
    store: DeadLetters,
    cluster: DlqCluster,
    *,
    timeout: float = 60.0,
    user: str | None = None,
) -> ReconcileReport:
    """Settle pending/failed ledger lines by looking for their ``x-replay-id`` in the target."""
    open_lines = store.open_lines()
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
        store.record_acks(acks, now_ns=now, user=user, note="reconciled")
        report.found += len(acks)
        report.missing += len(lines) - len(acks)
    return report


def record_failure(
    store: DeadLetters,
    replay_id: str,
    coordinates: str,
    target_topic: str,
    error: str,
    before_sha: str | None,
    after_sha: str,
    user: str,
) -> None:
    """A message the broker refused: ledger line ``failed`` (reconciled next time), audited."""
    detail = {"replay_id": replay_id, "to": target_topic}
    entry = AuditEntry(
        time.time_ns(),
        user,
        "replay",
        coordinates,
        f"failed: {error}",
        before_sha,
        after_sha,
        detail,
    )
    store.record_failure(replay_id, error, entry)


_STOP = object()


class AckWriter:
    """Commits acks on its own thread and connection; ``close()`` drains and re-raises errors."""

    def __init__(self, store: DeadLetters, user: str, original_sha: dict[str, str | None]) -> None:
        self._store = store.another()
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
                        self._store.record_acks(
                            batch,
                            now_ns=time.time_ns(),
                            user=self._user,
                            original_sha=self._original_sha,
                        )
                    self.recorded += len(batch)
                except BaseException as exc:  # surfaced by close()
                    self.error = exc
        self._store.close()

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()
        if self.error is not None:
            raise ReplayError(f"could not record acknowledged replays: {self.error}")


_LOCK_KEY = "replay_lock"


@contextlib.contextmanager
def replay_lock(store: DeadLetters) -> Iterator[None]:
    """One replay at a time per store: two runs planning the same dead letters would both send.

    The holder is ``host:pid/thread``, so two threads of one process (two services on one
    store) are two holders; a holder that is no longer alive on this host (a replay killed
    with ``kill -9``) is taken over. Raises ``ReplayError`` when another live one holds it.
    """
    import os
    import socket

    import psutil

    host = socket.gethostname()
    me = f"{host}:{os.getpid()}/{threading.get_ident()}"

    def alive(holder: str) -> bool:
        their_host, _, pid = holder.rpartition(":")
        pid = pid.partition("/")[0]
        return their_host != host or (pid.isdigit() and psutil.pid_exists(int(pid)))

    held = store.take_lock(_LOCK_KEY, me, alive)
    if held is not None:
        their_host, _, pid = held.rpartition(":")
        pid = pid.partition("/")[0]
        raise ReplayError(
            f"another replay is running on this store (pid {pid} on {their_host}); "
            "wait for it to finish"
        )
    try:
        yield
    finally:
        store.release_lock(_LOCK_KEY, me)
