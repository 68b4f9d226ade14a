"""Spans per second into a chDB store through the ClickHouse writer, and bytes a span in
``otel_traces``, beside the row-building floor and the bare INSERT in the same run.

Two shapes of input, submitted as OTLP requests are (100 spans a submit):

* ``Span`` records with 15 attributes (bench/store_write.py's, as the SQLite figures use);
* ``SpanRow``s from the OTLP fast decoder (what ``serve`` hands the writer): 100-span requests
  of bench/spans.py, 15 attributes, varied ids, each trace its own correlation id.

Phases: ``rows`` builds the insert columns only, no engine: as Python column lists
(``rows.trace_columns``, sent with clickhouse-connect's Native writer) and as one Arrow table
(``span_arrow.trace_table``, what the writer sends); ``insert`` sends what was already built
(the engine and the client only), both ways; ``writer`` is the whole path (queue, batches of
``--batch``, columns, INSERTs, tickets), then again without version 6's view copying the spans
into ``handoff_journey_spans`` (``no copy``: what the copy costs); with ``--waiters N``,
``closed loop`` is serve's shape: N threads each submitting 100 spans and waiting for the
ticket before the next. Bytes:
``system.parts`` of ``otel_traces`` (compressed data and bytes on disk over rows), as inserted
and after ``OPTIMIZE ... FINAL``.
The garbage collector is tuned as ``serve`` and ``tap`` tune it (``tune_gc``).

    python bench/clickhouse_write.py [--spans 200000] [--batch 20000] [--waiters 64]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.smoke import add_smoke, smoke_sizes
from bench.spans import RequestFactory
from bench.store_write import realistic_spans
from collectors.otlp.fast import FastTraceDecoder
from console.base.model import Span, SpanRow
from console.runtime.daemon import tune_gc
from console.store import open_store
from console.store.clickhouse import rows, span_arrow
from console.store.clickhouse.storage import ClickHouseStorage

SUBMIT = 100  # spans a submit: an OTLP request's


def span_rows(n: int) -> list[SpanRow]:
    factory = RequestFactory(SUBMIT, varied=True, correlations=True, start_ns=time.time_ns())
    decoder = FastTraceDecoder()
    out: list[SpanRow] = []
    while len(out) < n:
        decoded, _, _ = decoder.decode_rows(factory.next())
        out.extend(decoded)
    return out[:n]


def floor_rows(store: ClickHouseStorage, spans: list[Any], batch: int) -> tuple[float, float]:
    """Spans/s building the insert columns: ``(as column lists, as an Arrow table)``."""
    t = time.perf_counter()
    for i in range(0, len(spans), batch):
        rows.trace_columns(spans[i : i + batch], store.layout.traces)
    lists = len(spans) / (time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(0, len(spans), batch):
        span_arrow.trace_table(spans[i : i + batch])
    return lists, len(spans) / (time.perf_counter() - t)


def bare_insert(store: ClickHouseStorage, spans: list[Any], batch: int) -> tuple[float, float]:
    """Spans/s inserting what was built: ``(Native from column lists, Arrow)``; the table is
    emptied after each."""
    built = [
        rows.trace_columns(spans[i : i + batch], store.layout.traces)
        for i in range(0, len(spans), batch)
    ]
    tables = [span_arrow.trace_table(spans[i : i + batch]) for i in range(0, len(spans), batch)]
    settings = {"async_insert": 0, "optimize_on_insert": 0}  # the writer's (writer.py)
    client = store.new_client()
    try:
        t = time.perf_counter()
        for cols in built:
            client.insert(
                store.table("otel_traces"),
                cols,
                column_names=list(rows.TRACE_COLUMNS),
                column_oriented=True,
                settings=settings,
            )
        native = len(spans) / (time.perf_counter() - t)
        store.rows("TRUNCATE TABLE otel.otel_traces")
        t = time.perf_counter()
        for table in tables:
            client.insert_arrow(store.table("otel_traces"), table, settings=settings)
        arrow = len(spans) / (time.perf_counter() - t)
        store.rows("TRUNCATE TABLE otel.otel_traces")
        return native, arrow
    finally:
        client.close()


def through_writer(store: ClickHouseStorage, spans: list[Any], batch: int) -> tuple[float, float]:
    cpu = time.process_time()
    t = time.perf_counter()
    writer = store.writer(batch_size=batch, max_queued=len(spans) + 1)
    try:
        for i in range(0, len(spans), SUBMIT):
            writer.submit(spans[i : i + SUBMIT])
        writer.flush(600)
    finally:
        writer.close()
    elapsed = time.perf_counter() - t
    return len(spans) / elapsed, len(spans) / (time.process_time() - cpu)


def closed_loop(
    store: ClickHouseStorage, spans: list[Any], waiters: int
) -> tuple[float, float, int]:
    """serve's shape: ``waiters`` threads each submit 100 spans and wait for the ticket before
    the next (a receiver answers a request once its spans are committed), so an INSERT holds
    what arrived while the previous one ran. ``(spans/s, spans per CPU-s, INSERTs)``."""
    chunks = iter([spans[i : i + SUBMIT] for i in range(0, len(spans), SUBMIT)])
    lock = threading.Lock()
    writer = store.writer(max_queued=len(spans) + 1)

    def send() -> None:
        while True:
            with lock:
                chunk = next(chunks, None)
            if chunk is None:
                return
            writer.submit(chunk).wait(600)

    cpu = time.process_time()
    t = time.perf_counter()
    try:
        threads = [threading.Thread(target=send) for _ in range(waiters)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t
        used = time.process_time() - cpu
        return len(spans) / elapsed, len(spans) / used, writer.batches
    finally:
        writer.close()


def span_bytes(store: ClickHouseStorage, table: str = "otel_traces") -> tuple[int, float, float]:
    """``(rows, compressed bytes a row, bytes on disk a row)`` of ``table``'s active parts
    (bench/clickhouse.py asks for ``handoff_hops`` too)."""
    ((n, compressed, disk),) = store.rows(
        "SELECT sum(rows), sum(data_compressed_bytes), sum(bytes_on_disk) FROM system.parts"
        " WHERE active AND database = {db:String} AND table = {t:String}",
        {"db": store.database, "t": table},
    )
    return int(n), compressed / max(1, n), disk / max(1, n)


def run(name: str, spans: list[Any], batch: int, base: Path, waiters: int = 0) -> None:
    store = open_store(f"chdb://{base / name}")
    assert isinstance(store, ClickHouseStorage)
    try:
        floor_lists, floor_arrow = floor_rows(store, spans, batch)
        bare_native, bare_arrow = bare_insert(store, spans, batch)
        per_s, per_cpu = through_writer(store, spans, batch)
        n, compressed, disk = span_bytes(store)
        assert n == len(spans), (n, len(spans))
        store.rows("OPTIMIZE TABLE otel.otel_traces FINAL")
        _, merged, merged_disk = span_bytes(store)
        if waiters:
            store.rows("TRUNCATE TABLE otel.otel_traces")
            loop = closed_loop(store, spans, waiters)
        # The same writer without version 6's copy of the spans (handoff_journey_spans): what
        # that view costs an INSERT, beside it.
        store.rows("TRUNCATE TABLE otel.otel_traces")
        store.rows("DROP VIEW IF EXISTS otel.handoff_journey_spans_mv")
        uncopied_s, uncopied_cpu = through_writer(store, spans, batch)
    finally:
        store.close()
    print(f"{name}: {len(spans):,} spans, batches of {batch:,}, submits of {SUBMIT}")
    print(f"  rows only, column lists        {floor_lists:12,.0f} spans/s")
    print(f"  rows only, Arrow table         {floor_arrow:12,.0f} spans/s")
    print(f"  bare INSERT, Native (lists)    {bare_native:12,.0f} spans/s")
    print(f"  bare INSERT, Arrow             {bare_arrow:12,.0f} spans/s")
    print(f"  writer (the whole path)        {per_s:12,.0f} spans/s  ({per_cpu:,.0f} per CPU-s)")
    print(
        f"  writer, no copy (version 5)    {uncopied_s:12,.0f} spans/s"
        f"  ({uncopied_cpu:,.0f} per CPU-s)"
    )
    if waiters:
        per_s, per_cpu, inserts = loop
        print(
            f"  closed loop, {waiters:>3} waiters     {per_s:12,.0f} spans/s"
            f"  ({per_cpu:,.0f} per CPU-s, {inserts} INSERTs of"
            f" {len(spans) / max(1, inserts):,.0f} spans)"
        )
    print(
        f"  otel_traces: {compressed:.1f} B/span compressed, {disk:.1f} B/span on disk; "
        f"after OPTIMIZE FINAL {merged:.1f} and {merged_disk:.1f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--spans", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=20_000, help="the writer's batch size")
    ap.add_argument(
        "--waiters", type=int, default=0, help="closed loop with N waiting senders (0: skip)"
    )
    add_smoke(ap)
    args = smoke_sizes(ap.parse_args(), spans=2000, batch=500)
    tune_gc()  # as serve and tap run (console/runtime/daemon.py)
    print(f"load {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores; the collector tuned as serve's")
    objects: list[Span] = realistic_spans(args.spans)
    decoded = span_rows(args.spans)
    # chDB holds one directory per process: each run opens and closes its own, in turn.
    with tempfile.TemporaryDirectory() as tmp:
        run("Span records", objects, args.batch, Path(tmp), args.waiters)
    with tempfile.TemporaryDirectory() as tmp:
        run("SpanRows (OTLP fast decoder)", decoded, args.batch, Path(tmp), args.waiters)


if __name__ == "__main__":
    main()
