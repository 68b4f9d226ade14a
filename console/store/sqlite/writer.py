"""The SQLite store's one batched writer: the queue, group commit, retry with backoff and refusals
of ``console/store/batching.py`` (shared with the ClickHouse store), committing each batch in one
transaction (``ingest.py``). Collectors see it only as a ``Sink`` (``console/base/sink.py``).
Retention (by age and size), checkpoints and the WAL bound run in the writer's thread, at start
and on a clock. Who may write beside whom is the guard's
to say (``guard.py``): an exclusive writer (serve, tui) alone, or any number of shared ones (taps,
whose records are keyed in the store), retention then running in the one that owns it.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from console.store.batching import BatchingWriter, Chunk
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


class StoreWriter(BatchingWriter):
    """The one writer: ``submit`` enqueues and returns a ``Ticket``, a thread commits in batches
    (``console/store/batching.py``: group commit, retry with backoff, refusals while failing).

    A commit that fails (disk full, I/O error, a write lock held past ``busy_timeout_ms``) is
    never counted: its waiters get ``StoreUnavailable``, the records nobody waits on stay
    queued, and the writer is *failing* (``failing``, ``error``) until a retry commits.
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
        # Who may write beside whom (``guard.py``): refused here, before anything starts.
        self._guard = WriterGuard.acquire(path, shared=shared)
        super().__init__(
            batch_size=batch_size,
            flush_ms=flush_ms,
            max_queued=max_queued,
            thread_name="store-writer",
        )
        self.shared = shared
        # A connection factory, not the store: the writer needs no more of it (and the store's
        # module imports this one, never the reverse).
        self.path = path
        self._connect = connect
        # One rule for "no limit" (None or 0), the one retention applies too.
        self.retention_age_s = limit(retention_age_s)
        self.retention_bytes = limit(retention_bytes)
        self.retention_every_s = retention_every_s
        self.checkpoint_every_s = checkpoint_every_s
        self.busy_timeout_ms = busy_timeout_ms
        # Key segment and recent-duplicates window, the window sized to the bound like the page
        # cache below: 4 MiB a kind (spans, hops) filled for minutes in the soak, 9-10 MiB of
        # serve's growth after its first minute under a 40 MB bound.
        self._state = ingest.IngestState(window_bytes(self.retention_bytes))
        self._conn: sqlite3.Connection | None = None
        self._thread.start()

    def close(self, timeout: float = 60.0) -> None:
        """Commit what is queued and stop the thread."""
        if self._close_thread(timeout) and not self._thread.is_alive():
            self._guard.release()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the thread ----------------------------------------------------------------------------

    def _thread_start(self) -> None:
        conn = self._conn = self._connect()
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
        self._next_checkpoint = time.monotonic() + self.checkpoint_every_s
        # The first retention pass runs at start (a daemon started on an old store trims it at
        # once), the next ones on a clock, whether records arrive or not.
        self._retains = bool(self.retention_age_s or self.retention_bytes)
        self._next_retention = time.monotonic()
        self._next_size_check = time.monotonic() + _SIZE_CHECK_S

    def _idle_wake(self) -> float | None:
        if not self._retains:
            return None
        size_check = self._next_size_check if self.retention_bytes else math.inf
        return min(self._next_retention, size_check)

    def _between(self, stopping: bool) -> None:
        conn = self._conn
        assert conn is not None
        if stopping:
            self._checkpoint(conn)
            return
        now = time.monotonic()
        if now >= self._next_checkpoint:
            self._checkpoint(conn)
            self._next_checkpoint = time.monotonic() + self.checkpoint_every_s
        if now >= self._next_size_check and self.retention_bytes and self._guard.owner:
            # Cheap (three pragmas and a stat): between full passes, a store over its bound
            # is trimmed at once instead of growing for up to ``retention_every_s`` more.
            self._next_size_check = now + _SIZE_CHECK_S
            self._bound_wal(conn)
            if schema.used_bytes(conn) > self.retention_bytes:
                self._next_retention = now
        if now >= self._next_retention and self._retains:
            self._retention(conn)
            self._next_retention = time.monotonic() + self.retention_every_s

    def _thread_end(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def _commit(self, chunks: list[Chunk]) -> list[Chunk]:
        """Commit the chunks; on success resolve their tickets and return []. On failure the
        waiters get the error and the chunks nobody waits on come back, to be retried.

        A record the write path cannot store (not an SQLite error: a value no column holds, or
        a bug) fails only the tickets holding such records (``RecordsRejected``); the others
        commit together, as one batch."""
        conn = self._conn
        assert conn is not None
        started = time.perf_counter()
        try:
            try:
                pending = [r for c in chunks for r in c.body]
                written = ingest.write_batch(conn, pending, self._state)
            except sqlite3.Error:
                raise
            except Exception:  # the batch was rolled back: find the requests that cannot go in
                chunks = self._sort_out(conn, chunks)
                pending = [r for c in chunks for r in c.body]
                written = ingest.write_batch(conn, pending, self._state) if pending else 0
        except sqlite3.Error as exc:
            rollback_quietly(conn)
            root = _first_error(exc)
            self._fail(f"{type(root).__name__}: {root}")
            kept, _ = self._refuse_waiters(chunks)
            return kept
        self._committed(chunks, written, started)
        return []

    def _sort_out(self, conn: sqlite3.Connection, chunks: list[Chunk]) -> list[Chunk]:
        """Try each chunk alone without committing; fail the tickets of those that cannot be
        written (their records are not stored and not counted) and return the others. An SQLite
        error raises: that is the store failing, not a record."""
        good: list[Chunk] = []
        for c in chunks:
            try:
                ingest.write_batch(conn, c.body, self._state, dry_run=True)
            except sqlite3.Error:
                raise
            except Exception as exc:
                self.reject(c, exc)
            else:
                good.append(c)
        return good

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
