"""The ClickHouse store's batched writer: the ``Writer`` protocol (``console/store/api.py``).

The batching, group commit, retry with backoff and refusals are ``console/store/batching.py``'s,
as for SQLite. Here each submit becomes its tables' columns at once (``prepare``: a record no
column can hold fails only its own submit, with ``RecordsRejected``), and a batch is one INSERT
per table; tickets resolve only after every INSERT holding their records returned: nothing is
acknowledged that ClickHouse did not take. The INSERTs are synchronous (``async_insert = 0``):
when one returns, its rows are in a part readers see. An engine failure (unreachable, an error
from the server) is the store failing (``StoreUnavailable`` to the waiters, a retry).

A batch goes to several tables, and ClickHouse has no transaction across them: when one table's
INSERT fails after another's returned, the retry writes the first table's rows again. The
``handoff_*`` tables collapse such duplicates (``ReplacingMergeTree``); the exporter's tables
are plain ``MergeTree`` (as the exporter makes them), so readers treat a span as its
``(TraceId, SpanId)`` (OTLP senders resend too).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from console.base.errors import StoreError
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
from console.store.batching import BatchingWriter, Chunk
from console.store.clickhouse import handoff_schema, hop_arrow, otel_schema, rows, span_arrow
from console.store.clickhouse.connect import engine_error
from console.store.clickhouse.session import Session

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client
    from clickhouse_connect.driver.insert import InsertContext


__all__ = ["INSERT_SETTINGS", "ClickHouseWriter", "Insert", "insert_records", "prepare"]

# Synchronous INSERTs: the ticket resolves when the rows are in a part (a server whose profile
# turns async inserts on would otherwise acknowledge rows still in its buffer). No collapsing of
# a ReplacingMergeTree's duplicates at insert (``optimize_on_insert``): it sorted and folded every
# batch again, a third of chDB's time a hop (bench/README.md), and readers pick one row per key
# whether parts merged or not, so a batch's duplicates wait for the merges like any other.
INSERT_SETTINGS = {"async_insert": 0, "optimize_on_insert": 0}


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
                    self.storage.table(ins.table), ins.spans.table(), settings=INSERT_SETTINGS
                )
                continue
            if ins.arrow is not None:
                self.client.insert_arrow(
                    self.storage.table(ins.table), ins.arrow, settings=INSERT_SETTINGS
                )
                continue
            key = (ins.table, ins.names)
            ctx = self._contexts.get(key)
            if ctx is None:
                ctx = self.client.create_insert_context(
                    self.storage.table(ins.table),
                    list(ins.names),
                    column_oriented=True,
                    settings=INSERT_SETTINGS,
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


def _merged(chunks: Sequence[Chunk]) -> list[Insert]:
    """The chunks' INSERTs as one per table (the hops last, as ``prepare`` orders them)."""
    by_table: dict[tuple[str, tuple[str, ...]], list[Insert]] = {}
    for c in chunks:
        for ins in c.body:
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


class ClickHouseWriter(BatchingWriter):
    """The ``Writer`` of a ``ClickHouseStorage`` (see the module docstring): the batching of
    ``console/store/batching.py``, each submit turned into columns at once (``prepare``)."""

    def __init__(
        self,
        storage: Session,
        *,
        batch_size: int = 20_000,
        flush_ms: int = 200,
        max_queued: int = 200_000,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            flush_ms=flush_ms,
            max_queued=max_queued,
            thread_name="clickhouse-writer",
        )
        self.storage = storage
        # Its own client: clickhouse-connect's clients are not shared between threads.
        self._inserter = _Inserter(storage.new_client(), storage)
        self._thread.start()

    def close(self, timeout: float = 60.0) -> None:
        if self._close_thread(timeout) and not self._thread.is_alive():
            self._inserter.client.close()

    def __enter__(self) -> ClickHouseWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _chunk(self, records: Sequence[Record], ticket: Ticket) -> Chunk:
        """The submit's records as INSERTs now: its records are not kept, so a tap's hops die
        young instead of waiting in the queue for Python's collector to walk them again and
        again (``bench/README.md``)."""
        return Chunk(prepare(self.storage, records, time.time_ns()), len(records), ticket)

    def _commit(self, chunks: list[Chunk]) -> list[Chunk]:
        """Insert the chunks' rows; on success resolve their tickets and return []. On an
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
        self._committed(chunks, sum(c.size for c in chunks), started)
        return []

    def _one_by_one(self, chunks: list[Chunk]) -> list[Chunk]:
        good: list[Chunk] = []
        for c in chunks:
            try:
                self._inserter.run(c.body)
            except Exception as exc:
                if _is_engine_error(exc):
                    raise
                self.reject(c, exc)
            else:
                good.append(c)
        return good
