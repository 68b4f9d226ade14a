"""The ClickHouse store's batched writer: the ``Writer`` protocol (``console/store/api.py``).

``submit`` queues records and returns a ``Ticket``; one thread gathers them into batches (up to
``batch_size`` records, or what arrived within ``flush_ms``, or at once when someone waits on a
ticket: a group commit, as the SQLite writer does), routes them to their tables
(``insert_records``) and resolves the tickets only after every INSERT holding their records
returned: nothing is acknowledged that ClickHouse did not take. The INSERTs are synchronous
(``async_insert = 0``): when one returns, its rows are in a part readers see.

Failures, as ``console/base/sink.py`` describes them:

* the engine fails (unreachable, an error from the server): waiters get ``StoreUnavailable``
  and resend; records nobody waits on stay queued and are retried with a backoff; meanwhile
  ``submit`` refuses at once, so receivers answer 503/UNAVAILABLE.
* a record no column can hold (``rows.py`` raises before any INSERT): only the submits holding
  such records fail, with ``RecordsRejected``; the rest of the batch is written.

A batch goes to several tables, and ClickHouse has no transaction across them: when one table's
INSERT fails after another's returned, the retry writes the first table's rows again. The
``handoff_*`` tables collapse such duplicates (``ReplacingMergeTree``); the exporter's tables
are plain ``MergeTree`` (as the exporter makes them), so readers treat a span as its
``(TraceId, SpanId)`` (OTLP senders resend too).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from console.base.errors import Overloaded, RecordsRejected, StoreError, StoreUnavailable
from console.base.model import (
    DeadLetter,
    Hop,
    LogRecord,
    MetricPoint,
    Record,
    SeriesPoint,
    Span,
    SpanRow,
)
from console.base.sink import Ticket
from console.store.clickhouse import handoff_schema, hop_arrow, otel_schema, rows, span_arrow
from console.store.clickhouse.connect import engine_error
from console.store.clickhouse.session import Session

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client
    from clickhouse_connect.driver.insert import InsertContext


__all__ = ["ClickHouseWriter", "Insert", "insert_records", "prepare"]

_RETRY_FIRST_S = 0.5
_RETRY_MAX_S = 4.0
# Synchronous INSERTs: the ticket resolves when the rows are in a part (a server whose profile
# turns async inserts on would otherwise acknowledge rows still in its buffer). No collapsing of
# a ReplacingMergeTree's duplicates at insert (``optimize_on_insert``): it sorted and folded every
# batch again, a third of chDB's time a hop (bench/README.md), and readers pick one row per key
# whether parts merged or not, so a batch's duplicates wait for the merges like any other.
_INSERT_SETTINGS = {"async_insert": 0, "optimize_on_insert": 0}


@dataclass(slots=True)
class Insert:
    """One INSERT: a table, its columns' names and the columns (column-oriented), or the rows
    as one Arrow table (``arrow``: the hops, ``hop_arrow.py``), or the spans that become one
    at the INSERT (``spans``: ``span_arrow.py``)."""

    table: str
    names: tuple[str, ...]
    columns: list[list[Any]]
    rows: int
    arrow: Any = None
    spans: span_arrow.SpanBatch | None = None  # spans: one Arrow table at the INSERT


def prepare(storage: Session, records: Sequence[Record], now_ns: int) -> list[Insert]:
    """The INSERTs that store ``records`` (one per table), in the layout found. Raises
    ``ValueError`` (or another non-engine error) for a record no column can hold."""
    spans: list[Span | SpanRow] = []
    logs: list[LogRecord] = []
    metrics: dict[str, list[MetricPoint]] = {}
    hops: list[Hop] = []
    letters: list[DeadLetter] = []
    series: list[SeriesPoint] = []
    for r in records:
        if isinstance(r, SpanRow | Span):
            spans.append(r)
        elif isinstance(r, Hop):
            hops.append(r)
        elif isinstance(r, LogRecord):
            logs.append(r)
        elif isinstance(r, MetricPoint):
            metrics.setdefault(r.kind, []).append(r)
        elif isinstance(r, DeadLetter):
            letters.append(r)
        elif isinstance(r, SeriesPoint):
            series.append(r)
        else:
            raise ValueError(f"not a record the store keeps: {type(r).__name__}")
    found = storage.layout
    out: list[Insert] = []
    if spans:
        table = found.traces
        if not table.exists:
            raise ValueError(f"no {otel_schema.TRACES} table in {storage.database}")
        names = rows.trace_insert_columns(table)
        if table.is_json("SpanAttributes"):
            out.append(Insert(table.name, names, rows.trace_columns(spans, table), len(spans)))
        else:  # the exporter's default Map layout: one Arrow table an INSERT (span_arrow.py)
            batch = span_arrow.batch(spans)
            out.append(Insert(table.name, names, [], len(spans), spans=batch))
    if logs:
        table = found.logs
        if not table.exists:
            raise ValueError(f"no {otel_schema.LOGS} table in {storage.database}")
        names = rows.log_insert_columns(table)
        out.append(Insert(table.name, names, rows.log_columns(logs, table), len(logs)))
    for metric_kind, points in metrics.items():
        if metric_kind not in otel_schema.METRICS:
            raise ValueError(f"unknown metric kind {metric_kind!r}")
        table = found.metrics(metric_kind)
        if not table.exists:
            raise ValueError(f"no {table.name} table in {storage.database}")
        names = rows.metric_insert_columns(metric_kind)
        cols = rows.metric_columns(metric_kind, points)
        out.append(Insert(table.name, names, cols, len(points)))
    if series:
        out.append(
            Insert(
                handoff_schema.SERIES, rows.SERIES_COLUMNS, rows.series_columns(series), len(series)
            )
        )
    if letters:
        cols = rows.dead_letter_columns(letters, now_ns)
        out.append(
            Insert(handoff_schema.DEAD_LETTERS, rows.DEAD_LETTER_COLUMNS, cols, len(letters))
        )
    if hops:
        # Last: a tap commits its offsets after the hops are in, never before what came with them.
        table = hop_arrow.hop_table(hops, now_ns)
        out.append(Insert(handoff_schema.HOPS, rows.HOP_COLUMNS, [], len(hops), arrow=table))
    return out


class _Inserter:
    """Runs INSERTs on one client, its insert contexts kept (no DESCRIBE per batch)."""

    def __init__(self, client: Client, storage: Session) -> None:
        self.client = client
        self.storage = storage
        self._contexts: dict[tuple[str, tuple[str, ...]], InsertContext] = {}

    def run(self, inserts: Sequence[Insert]) -> None:
        for ins in inserts:
            if ins.spans is not None:
                self.client.insert_arrow(
                    self.storage.table(ins.table), ins.spans.table(), settings=_INSERT_SETTINGS
                )
                continue
            if ins.arrow is not None:
                self.client.insert_arrow(
                    self.storage.table(ins.table), ins.arrow, settings=_INSERT_SETTINGS
                )
                continue
            key = (ins.table, ins.names)
            ctx = self._contexts.get(key)
            if ctx is None:
                ctx = self.client.create_insert_context(
                    self.storage.table(ins.table),
                    list(ins.names),
                    column_oriented=True,
                    settings=_INSERT_SETTINGS,
                )
                self._contexts[key] = ctx
            ctx.data = None
            try:
                self.client.insert(data=ins.columns, context=ctx)
            finally:
                ctx.data = None

    def forget(self) -> None:
        """Drop the kept contexts (after an engine failure: the table may have changed)."""
        self._contexts.clear()


def insert_records(client: Client, storage: Session, records: Sequence[Record], now_ns: int) -> int:
    """Store ``records`` now (``Storage.write``); returns how many. Every INSERT has returned
    when this does."""
    inserts = prepare(storage, records, now_ns)
    _Inserter(client, storage).run(inserts)
    return sum(i.rows for i in inserts)


def _is_engine_error(exc: BaseException) -> bool:
    """The engine or the way to it failed (retry), as opposed to a value no column holds."""
    from clickhouse_connect.driver.exceptions import ClickHouseError

    return isinstance(exc, ClickHouseError | OSError | StoreError)


class _Flush:
    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: StoreUnavailable | None = None

    def finish(self, error: StoreUnavailable | None) -> None:
        self.error = error
        self.done.set()


class _Chunk:
    """One submit, already in columns (``prepare``): its records are not kept, so a tap's hops
    die young instead of waiting in the queue for Python's collector to walk them again and
    again (``bench/README.md``)."""

    __slots__ = ("inserts", "size", "ticket")

    def __init__(self, inserts: list[Insert], size: int, ticket: Ticket) -> None:
        self.inserts = inserts
        self.size = size
        self.ticket = ticket


def _merged(chunks: Sequence[_Chunk]) -> list[Insert]:
    """The chunks' INSERTs as one per table (the hops last, as ``prepare`` orders them)."""
    by_table: dict[tuple[str, tuple[str, ...]], list[Insert]] = {}
    for c in chunks:
        for ins in c.inserts:
            by_table.setdefault((ins.table, ins.names), []).append(ins)
    out: list[Insert] = []
    for (table, names), parts in by_table.items():
        if len(parts) == 1:
            out.append(parts[0])
        elif parts[0].spans is not None:
            spans = span_arrow.SpanBatch.joined([p.spans for p in parts if p.spans is not None])
            out.append(Insert(table, names, [], len(spans), spans=spans))
        elif parts[0].arrow is not None:
            import pyarrow as pa

            arrow = pa.concat_tables([p.arrow for p in parts])
            out.append(Insert(table, names, [], sum(p.rows for p in parts), arrow=arrow))
        else:
            columns: list[list[Any]] = [[] for _ in names]
            for p in parts:
                for col, part in zip(columns, p.columns, strict=True):
                    col.extend(part)
            out.append(Insert(table, names, columns, sum(p.rows for p in parts)))
    out.sort(key=lambda i: i.table == handoff_schema.HOPS)
    return out


_STOP = object()
_WAKE = object()


class ClickHouseWriter:
    """The ``Writer`` of a ``ClickHouseStorage`` (see the module docstring)."""

    def __init__(
        self,
        storage: Session,
        *,
        batch_size: int = 20_000,
        flush_ms: int = 200,
        max_queued: int = 200_000,
    ) -> None:
        self.storage = storage
        self.batch_size = batch_size
        self.flush_s = flush_ms / 1000
        self.max_queued = max_queued
        self.committed = 0
        self.rejected = 0
        self.not_stored = 0
        self.failed_commits = 0
        self.batches = 0
        self.last_commit_ns = 0
        self.last_error: str | None = None
        self.error: str | None = None
        self.commit_observer: Callable[[float], None] | None = None
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._queued = 0
        self._failure: StoreUnavailable | None = None
        self._retry_at = 0.0
        self._backoff_s = _RETRY_FIRST_S
        self._closed = False
        # Its own client: clickhouse-connect's clients are not shared between threads.
        self._inserter = _Inserter(storage.new_client(), storage)
        self._thread = threading.Thread(target=self._run, name="clickhouse-writer", daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        return self._queued

    @property
    def failing(self) -> bool:
        return self._failure is not None

    def retry_after_s(self) -> float:
        if self._failure is None:
            return 0.0
        return max(0.0, self._retry_at - time.monotonic())

    def submit(self, records: Sequence[Record]) -> Ticket:
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
            if self._queued and self._queued + n > self.max_queued:
                raise Overloaded(
                    f"store queue full ({self._queued} records waiting)",
                    retry_after_s=max(1.0, self.flush_s * 5),
                )
            self._queued += n
        ticket = Ticket(n, self._wake)
        try:
            inserts = prepare(self.storage, records, time.time_ns())
        except Exception as exc:  # a record no column can hold: only this submit fails
            self._reject(_Chunk([], n, ticket), exc)
            return ticket
        self._queue.put(_Chunk(inserts, n, ticket))
        return ticket

    def _wake(self) -> None:
        self._queue.put(_WAKE)

    def flush(self, timeout: float = 60.0) -> None:
        req = _Flush()
        self._queue.put(req)
        if not req.done.wait(timeout):
            raise StoreUnavailable("the store writer did not flush in time", retry_after_s=1.0)
        if req.error is not None:
            raise StoreUnavailable(str(req.error), retry_after_s=req.error.retry_after_s)

    def close(self, timeout: float = 60.0) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._inserter.client.close()

    def __enter__(self) -> ClickHouseWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        chunks: list[_Chunk] = []
        size = 0
        first_at = 0.0
        while True:
            if self._failure is not None and (chunks or time.monotonic() < self._retry_at):
                timeout: float | None = max(0.0, self._retry_at - time.monotonic())
            elif chunks:
                timeout = max(0.0, first_at + self.flush_s - time.monotonic())
            else:
                timeout = None
            try:
                item: object = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            flushes: list[_Flush] = []
            urgent = stop = False
            while True:
                if isinstance(item, _Chunk):
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
                break

    def _commit(self, chunks: list[_Chunk]) -> list[_Chunk]:
        """Insert the chunks' records; on success resolve their tickets and return []. On an
        engine failure the waiters hear it and the other chunks come back, to be retried."""
        started = time.perf_counter()
        try:
            try:
                self._inserter.run(_merged(chunks))
            except Exception as exc:
                if _is_engine_error(exc):
                    raise
                # A value the client could not encode (rows.py let it through): chunk by chunk,
                # the ones that go in are stored, the others rejected.
                chunks = self._one_by_one(chunks)
        except Exception as exc:
            self._inserter.forget()
            self._fail(str(engine_error(self.storage.target, exc)))
            kept, _ = self._refuse_waiters(chunks)
            return kept
        written = sum(c.size for c in chunks)
        with self._lock:
            self._queued -= written
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

    def _one_by_one(self, chunks: list[_Chunk]) -> list[_Chunk]:
        good: list[_Chunk] = []
        for c in chunks:
            try:
                self._inserter.run(c.inserts)
            except Exception as exc:
                if _is_engine_error(exc):
                    raise
                self._reject(c, exc)
            else:
                good.append(c)
        return good

    def _reject(self, c: _Chunk, exc: Exception) -> None:
        n = c.size
        text = f"{n:,} records not stored: {type(exc).__name__}: {exc}"
        with self._lock:
            self._queued -= n
            self.rejected += n
            self.last_error = text
        c.ticket.resolve(RecordsRejected(text))

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
        failure = self._failure
        assert failure is not None
        kept: list[_Chunk] = []
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

    def _give_up(self, chunks: list[_Chunk]) -> None:
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
