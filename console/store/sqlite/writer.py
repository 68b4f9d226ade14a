"""The store's one batched writer: a bounded queue and a thread that commits every ``batch_size``
records or ``flush_ms`` milliseconds, or at once when someone waits on a ``Ticket`` (group
commit). Collectors see it only as a ``Sink`` (``console/base/sink.py``). A commit that fails
raises to its waiters and is never counted; the writer retries with backoff and, while it cannot
commit, refuses new records (``StoreUnavailable``) instead of queueing them. Retention (by age and
size) runs in the same thread, at start and on a clock. Who may write beside whom is the guard's
to say (``guard.py``): an exclusive writer (serve, tui) alone, or any number of shared ones (taps,
whose records are keyed in the store), retention then running in the one that owns it.

Why ~480 lines in one room: it is one thread's state (the queue, group commit, the retry and
backoff, refusing while failing, retention, the WAL bound), and every part reads or changes that
state; the SQL of a batch is in ``ingest.py`` already.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from console.base.errors import Overloaded, RecordsRejected, StoreError, StoreUnavailable
from console.base.model import Record
from console.base.sink import Ticket
from console.store.sqlite import ingest, schema
from console.store.sqlite.guard import WriterGuard
from console.store.sqlite.retention import apply_retention, limit, truncate_wal
from console.store.sqlite.tx import rollback_quietly

__all__ = ["StoreWriter", "window_bytes"]

_SIZE_CHECK_S = 2.0  # how often the writer compares the store's bytes on disk with its bound
_LOW_WATER = 0.8  # a size-triggered trim goes down to this share of the bound (WAL included)
_WAL_SHARE = 0.1  # past this share of the bound, the writer truncates the WAL
_WAL_HELD = "checkpoint: a reader holds the WAL"  # how truncate_wal says it was held back
_LIVE_FLOOR = 0.3  # a WAL a reader holds back never trims the live data below this share


_RETRY_FIRST_S = 0.5  # after a failed commit, the writer retries after this long ...
_RETRY_MAX_S = 4.0  # ... doubling up to this


class _Flush:
    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: StoreUnavailable | None = None

    def finish(self, error: StoreUnavailable | None) -> None:
        self.error = error
        self.done.set()


_STOP = object()
_WAKE = object()  # a ticket gained a waiter: commit what is there now


class _Chunk:
    """One ``submit``: its records and its ticket."""

    __slots__ = ("records", "ticket")

    def __init__(self, records: list[Record], ticket: Ticket) -> None:
        self.records = records
        self.ticket = ticket


class StoreWriter:
    """The one writer: ``submit`` enqueues and returns a ``Ticket``, a thread commits in batches.

    A batch is committed when it reaches ``batch_size``, when its oldest record has waited
    ``flush_ms``, or at once when someone waits on one of its tickets (group commit: every
    request that arrived meanwhile shares that commit). A commit that fails (disk full, I/O
    error, a write lock held past ``busy_timeout_ms``) is never counted: its waiters get
    ``StoreUnavailable``, the records nobody waits on stay queued, and the writer is *failing*
    (``failing``, ``error``) until a retry commits: meanwhile ``submit`` refuses at once until
    the next retry (``retry_after_s``), so receivers answer 503/UNAVAILABLE without decoding.
    Records still unstored when the writer closes are counted in ``not_stored``.
    """

    def __init__(
        self,
        path: Path,
        connect: Callable[[], sqlite3.Connection],
        *,
        batch_size: int,
        flush_ms: int,
        max_queued: int,
        retention_age_s: float | None,
        retention_bytes: int | None,
        retention_every_s: float = 30.0,
        checkpoint_every_s: float = 5.0,
        busy_timeout_ms: int | None = None,
        shared: bool = False,
    ) -> None:
        import queue

        # Who may write beside whom (``guard.py``): refused here, before anything starts.
        self._guard = WriterGuard.acquire(path, shared=shared)
        self.shared = shared
        # A connection factory, not the store: the writer needs no more of it (and the store's
        # module imports this one, never the reverse).
        self.path = path
        self._connect = connect
        self.batch_size = batch_size
        self.flush_s = flush_ms / 1000
        self.max_queued = max_queued
        # One rule for "no limit" (None or 0), the one retention applies too.
        self.retention_age_s = limit(retention_age_s)
        self.retention_bytes = limit(retention_bytes)
        self.retention_every_s = retention_every_s
        self.checkpoint_every_s = checkpoint_every_s
        self.busy_timeout_ms = busy_timeout_ms
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        # Key segment and recent-duplicates window, the window sized to the bound like the page
        # cache below: 4 MiB a kind (spans, hops) filled for minutes in the soak, 9-10 MiB of
        # serve's growth after its first minute under a 40 MB bound.
        self._state = ingest.IngestState(window_bytes(self.retention_bytes))
        self._lock = threading.Lock()
        self._queued = 0
        self.committed = 0
        self.rejected = (
            0  # records the write path cannot store; their tickets failed (``_sort_out``)
        )
        self.not_stored = 0  # records still failing when the writer closed
        self.failed_commits = 0
        self.batches = 0
        self.last_commit_ns = 0
        self.last_error: str | None = None
        self.error: str | None = None  # set while failing: why the last commit failed
        # After each successful commit, its seconds (serve --metrics: the latency histogram).
        self.commit_observer: Callable[[float], None] | None = None
        self._failure: StoreUnavailable | None = None
        self._retry_at = 0.0
        self._backoff_s = _RETRY_FIRST_S
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        return self._queued

    @property
    def failing(self) -> bool:
        """True from a failed commit until a commit succeeds."""
        return self._failure is not None

    def retry_after_s(self) -> float:
        """Seconds until the writer retries (0 when it is not failing)."""
        if self._failure is None:
            return 0.0
        return max(0.0, self._retry_at - time.monotonic())

    def submit(self, records: Sequence[Record]) -> Ticket:
        """Queue records for the next batch and return their ``Ticket``.

        Raises ``Overloaded`` when the queue is full and ``StoreUnavailable`` while the store is
        failing (until the writer's next retry).
        """
        if not records:
            return Ticket.completed()
        n = len(records)
        with self._lock:
            if self._closed:
                raise StoreError("the store writer is closed")
            failure = self._failure
            if failure is not None:
                wait_s = self._retry_at - time.monotonic()
                if wait_s > 0:
                    raise StoreUnavailable(str(failure), retry_after_s=max(1.0, wait_s))
            # A batch bigger than the whole queue still goes in when the queue is empty:
            # otherwise it would be refused forever and its client would retry forever.
            if self._queued and self._queued + n > self.max_queued:
                raise Overloaded(
                    f"store queue full ({self._queued} records waiting)",
                    retry_after_s=max(1.0, self.flush_s * 5),
                )
            self._queued += n
        ticket = Ticket(n, self._wake)
        self._queue.put(_Chunk(list(records), ticket))
        return ticket

    def _wake(self) -> None:
        self._queue.put(_WAKE)

    def flush(self, timeout: float = 60.0) -> None:
        """Block until everything submitted so far is committed; raise ``StoreUnavailable`` if
        some of it is not (the store is failing)."""
        req = _Flush()
        self._queue.put(req)
        if not req.done.wait(timeout):
            raise StoreUnavailable("the store writer did not flush in time", retry_after_s=1.0)
        if req.error is not None:
            raise StoreUnavailable(str(req.error), retry_after_s=req.error.retry_after_s)

    def close(self, timeout: float = 60.0) -> None:
        """Commit what is queued and stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._guard.release()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        import queue

        conn = self._connect()
        if self.busy_timeout_ms is not None:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        # A big page cache keeps the random-keyed indices in memory, but never more than a
        # sixteenth of what the store may hold: the cache fills as the store grows, and under a
        # small bound (40 MB in the soak) a 64 MiB cache held the whole store, serve's RSS
        # growing with it for minutes.
        conn.execute(f"PRAGMA cache_size = -{_cache_kib(self.retention_bytes)}")
        # Random-keyed indices dirty many pages per commit; checkpointing after every commit (the
        # default, at 1000 WAL pages) copied them all again each time. Checkpoint on a clock.
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        next_checkpoint = time.monotonic() + self.checkpoint_every_s
        chunks: list[_Chunk] = []
        size = 0
        first_at = 0.0
        # The first retention pass runs at start (a daemon started on an old store trims it at
        # once), the next ones on a clock, whether records arrive or not.
        retains = bool(self.retention_age_s or self.retention_bytes)
        next_retention = time.monotonic()
        next_size_check = time.monotonic() + _SIZE_CHECK_S
        while True:
            if self._failure is not None and (chunks or time.monotonic() < self._retry_at):
                # Failing: wait for the retry (records submitted after it join it).
                timeout: float | None = max(0.0, self._retry_at - time.monotonic())
            elif chunks:
                timeout = max(0.0, first_at + self.flush_s - time.monotonic())
            elif retains:
                wake = min(next_retention, next_size_check if self.retention_bytes else math.inf)
                timeout = max(0.0, wake - time.monotonic())
            else:
                timeout = None
            try:
                item: object = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            flushes: list[_Flush] = []
            urgent = stop = False
            # Take everything already queued (up to a batch): the group commit.
            while True:
                if isinstance(item, _Chunk):
                    if not chunks:
                        first_at = time.monotonic()
                    chunks.append(item)
                    size += len(item.records)
                    urgent = urgent or item.ticket.waited
                elif isinstance(item, _Flush):
                    flushes.append(item)
                elif item is _WAKE:
                    urgent = True
                elif item is _STOP:
                    stop = True
                if stop or size >= self.batch_size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            now = time.monotonic()
            if self._failure is not None and now < self._retry_at and not stop:
                # Failing, and not yet time to retry: waiters and flushes hear it now.
                chunks, size = self._refuse_waiters(chunks)
                for f in flushes:
                    f.finish(self._failure)
                continue
            due = (
                stop
                or urgent
                or flushes
                or size >= self.batch_size
                or now >= first_at + self.flush_s
                or self._failure is not None
            )
            if chunks and due:
                chunks = self._commit(conn, chunks)
                size = sum(len(c.records) for c in chunks)
                first_at = time.monotonic()
            for f in flushes:
                f.finish(self._failure if chunks else None)
            if stop:
                self._give_up(chunks)
                self._checkpoint(conn)
                break
            now = time.monotonic()
            if now >= next_checkpoint:
                self._checkpoint(conn)
                next_checkpoint = time.monotonic() + self.checkpoint_every_s
            if now >= next_size_check and self.retention_bytes and self._guard.owner:
                # Cheap (three pragmas and a stat): between full passes, a store over its bound
                # is trimmed at once instead of growing for up to ``retention_every_s`` more.
                next_size_check = now + _SIZE_CHECK_S
                self._bound_wal(conn)
                if schema.used_bytes(conn) > self.retention_bytes:
                    next_retention = now
            if now >= next_retention and retains:
                self._retention(conn)
                next_retention = time.monotonic() + self.retention_every_s
        conn.close()

    def _commit(self, conn: sqlite3.Connection, chunks: list[_Chunk]) -> list[_Chunk]:
        """Commit the chunks; on success resolve their tickets and return []. On failure the
        waiters get the error and the chunks nobody waits on come back, to be retried.

        A record the write path cannot store (not an SQLite error: a value no column holds, or
        a bug) fails only the tickets holding such records (``RecordsRejected``); the others
        commit together, as one batch."""
        started = time.perf_counter()
        try:
            try:
                pending = [r for c in chunks for r in c.records]
                written = ingest.write_batch(conn, pending, self._state)
            except sqlite3.Error:
                raise
            except Exception:  # the batch was rolled back: find the requests that cannot go in
                chunks = self._sort_out(conn, chunks)
                pending = [r for c in chunks for r in c.records]
                written = ingest.write_batch(conn, pending, self._state) if pending else 0
        except sqlite3.Error as exc:
            rollback_quietly(conn)
            root = _first_error(exc)
            self._fail(f"{type(root).__name__}: {root}")
            kept, _ = self._refuse_waiters(chunks)
            return kept
        with self._lock:
            self._queued -= len(pending)
            self.committed += written
            self.batches += 1
            self.last_commit_ns = time.time_ns()
            self._failure = None
            self.error = None
            self._backoff_s = _RETRY_FIRST_S
        if self.commit_observer is not None:
            self.commit_observer(time.perf_counter() - started)
        for c in chunks:
            c.ticket.resolve()
        return []

    def _sort_out(self, conn: sqlite3.Connection, chunks: list[_Chunk]) -> list[_Chunk]:
        """Try each chunk alone without committing; fail the tickets of those that cannot be
        written (their records are not stored and not counted) and return the others. An SQLite
        error raises: that is the store failing, not a record."""
        good: list[_Chunk] = []
        for c in chunks:
            try:
                ingest.write_batch(conn, c.records, self._state, dry_run=True)
            except sqlite3.Error:
                raise
            except Exception as exc:
                n = len(c.records)
                text = f"{n:,} records not stored: {type(exc).__name__}: {exc}"
                with self._lock:
                    self._queued -= n
                    self.rejected += n
                    self.last_error = text
                c.ticket.resolve(RecordsRejected(text))
            else:
                good.append(c)
        return good

    def _fail(self, text: str) -> None:
        with self._lock:
            self.failed_commits += 1
            self.error = self.last_error = text
            self._retry_at = time.monotonic() + self._backoff_s
            self._failure = StoreUnavailable(
                f"the store cannot commit: {text}", retry_after_s=max(1.0, self._backoff_s)
            )
            self._backoff_s = min(_RETRY_MAX_S, self._backoff_s * 2)

    def _refuse_waiters(self, chunks: list[_Chunk]) -> tuple[list[_Chunk], int]:
        """Fail the chunks someone waits on (their records are released: the waiter resends);
        return the others, kept for the next retry, and their size."""
        failure = self._failure
        assert failure is not None
        kept: list[_Chunk] = []
        released = 0
        for c in chunks:
            if c.ticket.fail_if_waited(failure):
                released += len(c.records)
            else:
                kept.append(c)
        if released:
            with self._lock:
                self._queued -= released
        return kept, sum(len(c.records) for c in kept)

    def _give_up(self, chunks: list[_Chunk]) -> None:
        """Closing while failing: the last records are not stored; say so, fail their tickets."""
        n = sum(len(c.records) for c in chunks)
        if not n:
            return
        failure = self._failure or StoreUnavailable("the store writer closed", retry_after_s=1.0)
        with self._lock:
            self._queued -= n
            self.not_stored += n
            self.last_error = f"{n:,} records not stored: {self.error}"
        for c in chunks:
            c.ticket.resolve(failure)

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            self.last_error = f"checkpoint: {exc}"

    def _bound_wal(self, conn: sqlite3.Connection) -> None:
        assert self.retention_bytes is not None
        busy_ms = int(self.busy_timeout_ms) if self.busy_timeout_ms is not None else 30_000
        error = truncate_wal(conn, int(self.retention_bytes * _WAL_SHARE), busy_ms)
        if error is not None:
            self.last_error = error
        elif self.last_error is not None and self.last_error.startswith(_WAL_HELD):
            self.last_error = None  # the reader let go: no longer true

    def _retention(self, conn: sqlite3.Connection) -> None:
        if not (self._guard.owner or self._guard.try_own()):
            return  # another tap on this file owns retention; ask again next round
        # Trim to a low-water mark below the bound, so the next seconds of traffic fit under it;
        # the live pages get what the WAL leaves of it (its share, or more while a reader holds
        # it back, but never less than a floor: a stuck reader must not wipe the store).
        live_target = None
        if self.retention_bytes:
            self._bound_wal(conn)
            bound = self.retention_bytes
            wal = max(schema.wal_bytes(conn), int(bound * _WAL_SHARE))
            live_target = max(int(bound * _LIVE_FLOOR), int(bound * _LOW_WATER) - wal)
        try:
            deleted = apply_retention(conn, max_age_s=self.retention_age_s, max_bytes=live_target)
            if deleted.get("blocks") or deleted.get("metric_points"):
                # The recent-duplicates window may name records that just went: a resend of one
                # would be taken for a duplicate, acknowledged and not stored. Start it again
                # from what is stored, as a restart does.
                self._state = ingest.IngestState(window_bytes(self.retention_bytes))
            if self.retention_bytes:
                self._bound_wal(conn)  # the trim itself wrote to the WAL
        except sqlite3.Error as exc:
            self.last_error = f"retention: {exc}"


def _cache_kib(retention_bytes: int | None) -> int:
    """The writer's page cache in KiB: 64 MiB, or a sixteenth of the bound when that is less
    (at least 2 MiB, SQLite's default)."""
    if retention_bytes is None:
        return _CACHE_KIB
    return max(2048, min(_CACHE_KIB, retention_bytes // 16 // 1024))


_CACHE_KIB = 65536


def window_bytes(retention_bytes: int | None) -> int:
    """The duplicates window of spans and of hops, in bytes (log records and metric points get a
    quarter of it): 4 MiB, or a thirty-second of the bound when that is less (at least
    256 KiB, some 1,200 spans a generation)."""
    if retention_bytes is None:
        return ingest.WINDOW_BYTES
    return max(_WINDOW_FLOOR, min(ingest.WINDOW_BYTES, retention_bytes // 32))


_WINDOW_FLOOR = 256 * 1024


def _first_error(exc: sqlite3.Error) -> sqlite3.Error:
    """The error that started it: a ROLLBACK after SQLite already rolled back a failed COMMIT
    ("cannot rollback - no transaction is active") would hide "database or disk is full"."""
    while isinstance(exc.__context__, sqlite3.Error):
        exc = exc.__context__
    return exc
