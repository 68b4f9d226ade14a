"""The batching writer both stores share: a queue of submits and one thread that commits them.

``submit`` queues records and returns a ``Ticket``; the thread gathers what is queued into a
batch and commits it when it reaches ``batch_size`` records, when its oldest submit has waited
``flush_ms``, or at once when someone waits on one of its tickets (group commit: every submit
that arrived meanwhile shares that commit). Tickets resolve only after the commit holding their
records returned: nothing is acknowledged that the store did not take.

Failures, as ``console/base/sink.py`` describes them:

* the store fails (disk full, a lock held too long, an unreachable server): the commit is never
  counted, its waiters get ``StoreUnavailable`` and resend, the records nobody waits on stay
  queued and are retried with a backoff; meanwhile ``submit`` refuses at once until the next
  retry (``retry_after_s``), so receivers answer 503/UNAVAILABLE without decoding;
* a record the store cannot hold (a value no column holds): only the submits holding such
  records fail, with ``RecordsRejected`` (``reject``); the rest commit together;
* records still unstored when the writer closes are counted in ``not_stored``.

A store's writer (``sqlite/writer.py``, ``clickhouse/writer.py``) says how a submit becomes a
chunk (``_chunk``), how chunks commit (``_commit``, which calls ``_committed`` or ``_fail``)
and what its thread does besides (``_thread_start``, ``_idle_wake``, ``_between``,
``_thread_end``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from console.base.errors import Overloaded, RecordsRejected, StoreError, StoreUnavailable
from console.base.model import Record
from console.base.sink import Ticket

__all__ = ["BatchingWriter", "Chunk"]

_RETRY_FIRST_S = 0.5  # after a failed commit, the writer retries after this long ...
_RETRY_MAX_S = 4.0  # ... doubling up to this


class Chunk:
    """One ``submit``: what the store keeps of its records (the records, or their rows), how
    many records, and its ticket."""

    __slots__ = ("body", "size", "ticket")

    def __init__(self, body: Any, size: int, ticket: Ticket) -> None:
        self.body = body
        self.size = size
        self.ticket = ticket


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


class BatchingWriter:
    """The ``Writer`` protocol's queue, group commit, retry and refusals (module docstring)."""

    def __init__(
        self, *, batch_size: int, flush_ms: int, max_queued: int, thread_name: str
    ) -> None:
        self.batch_size = batch_size
        self.flush_s = flush_ms / 1000
        self.max_queued = max_queued
        self.committed = 0
        self.rejected = 0  # records the store cannot hold; their tickets failed
        self.not_stored = 0  # records still failing when the writer closed
        self.failed_commits = 0
        self.batches = 0
        self.last_commit_ns = 0
        self.last_error: str | None = None
        self.error: str | None = None  # set while failing: why the last commit failed
        # After each successful commit, its seconds (serve --metrics: the latency histogram).
        self.commit_observer: Callable[[float], None] | None = None
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._queued = 0
        self._failure: StoreUnavailable | None = None
        self._retry_at = 0.0
        self._backoff_s = _RETRY_FIRST_S
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)

    # -- what a store's writer says ------------------------------------------------------------

    def _chunk(self, records: Sequence[Record], ticket: Ticket) -> Chunk:
        """The chunk a submit queues (called in the submitter's thread; raising fails only
        this submit, with ``RecordsRejected``)."""
        return Chunk(list(records), len(records), ticket)

    def _commit(self, chunks: list[Chunk]) -> list[Chunk]:
        """Commit the chunks: ``_committed`` and [] on success; on a store failure ``_fail``
        and the chunks kept for the retry (``_refuse_waiters``)."""
        raise NotImplementedError

    def _thread_start(self) -> None:
        """First thing the thread does (open a connection)."""

    def _idle_wake(self) -> float | None:
        """When the thread must wake with nothing queued (monotonic seconds), or None."""
        return None

    def _between(self, stopping: bool) -> None:
        """After each round of the thread (checkpoints, retention); ``stopping`` on the last."""

    def _thread_end(self) -> None:
        """Last thing the thread does (close its connection)."""

    # -- the Writer protocol -------------------------------------------------------------------

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
        try:
            chunk = self._chunk(records, ticket)
        except Exception as exc:  # a record no column holds: only this submit fails
            self.reject(Chunk(None, n, ticket), exc)
            return ticket
        self._queue.put(chunk)
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

    def _close_thread(self, timeout: float) -> bool:
        """Commit what is queued and stop the thread; False if it was closed already."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        return True

    # -- the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        self._thread_start()
        chunks: list[Chunk] = []
        size = 0
        first_at = 0.0
        while True:
            idle_wake = self._idle_wake()
            if self._failure is not None and (chunks or time.monotonic() < self._retry_at):
                # Failing: wait for the retry (records submitted after it join it).
                timeout: float | None = max(0.0, self._retry_at - time.monotonic())
            elif chunks:
                timeout = max(0.0, first_at + self.flush_s - time.monotonic())
            elif idle_wake is not None:
                timeout = max(0.0, idle_wake - time.monotonic())
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
                if isinstance(item, Chunk):
                    if not chunks:
                        first_at = time.monotonic()
                    chunks.append(item)
                    size += item.size
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
                chunks = self._commit(chunks)
                size = sum(c.size for c in chunks)
                first_at = time.monotonic()
            for f in flushes:
                f.finish(self._failure if chunks else None)
            if stop:
                self._give_up(chunks)
                self._between(stopping=True)
                break
            self._between(stopping=False)
        self._thread_end()

    # -- the outcomes of a commit --------------------------------------------------------------

    def _committed(self, chunks: list[Chunk], written: int, started: float) -> None:
        """The chunks are stored (``written`` records of them counted): resolve their tickets."""
        with self._lock:
            self._queued -= sum(c.size for c in chunks)
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

    def reject(self, chunk: Chunk, exc: Exception) -> None:
        """The chunk's records cannot be stored: fail its ticket, count them."""
        n = chunk.size
        text = f"{n:,} records not stored: {type(exc).__name__}: {exc}"
        with self._lock:
            self._queued -= n
            self.rejected += n
            self.last_error = text
        chunk.ticket.resolve(RecordsRejected(text))

    def _fail(self, text: str) -> None:
        with self._lock:
            self.failed_commits += 1
            self.error = self.last_error = text
            self._retry_at = time.monotonic() + self._backoff_s
            self._failure = StoreUnavailable(
                f"the store cannot commit: {text}", retry_after_s=max(1.0, self._backoff_s)
            )
            self._backoff_s = min(_RETRY_MAX_S, self._backoff_s * 2)

    def _refuse_waiters(self, chunks: list[Chunk]) -> tuple[list[Chunk], int]:
        """Fail the chunks someone waits on (their records are released: the waiter resends);
        return the others, kept for the next retry, and their size."""
        failure = self._failure
        assert failure is not None
        kept: list[Chunk] = []
        released = 0
        for c in chunks:
            if c.ticket.fail_if_waited(failure):
                released += c.size
            else:
                kept.append(c)
        if released:
            with self._lock:
                self._queued -= released
        return kept, sum(c.size for c in kept)

    def _give_up(self, chunks: list[Chunk]) -> None:
        """Closing while failing: the last records are not stored; say so, fail their tickets."""
        n = sum(c.size for c in chunks)
        if not n:
            return
        failure = self._failure or StoreUnavailable("the store writer closed", retry_after_s=1.0)
        with self._lock:
            self._queued -= n
            self.not_stored += n
            self.last_error = f"{n:,} records not stored: {self.error}"
        for c in chunks:
            c.ticket.resolve(failure)
