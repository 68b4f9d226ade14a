"""Disk and memory stay bounded: ``--retention-bytes`` holds the files on disk, WAL included, and
the writer's duplicates window is bounded in bytes (issue 24, fault 12: in a 10-minute soak the
WAL grew to 84 MB under a 40 MB bound, and ``serve``'s RSS doubled)."""

from __future__ import annotations

import os
import tracemalloc

from console.base.model import Span
from console.store import Store
from console.store.sqlite import ingest
from tests.tap_helpers import wait_for
from tests.test_store import NOW, make_span

BOUND = 3_000_000  # bytes


def _file_bytes(store: Store) -> int:
    wal = f"{store.path}-wal"
    return os.path.getsize(store.path) + (os.path.getsize(wal) if os.path.exists(wal) else 0)


def test_retention_bytes_bounds_the_files_wal_included_even_after_a_reader_held_it(
    store: Store,
) -> None:
    """A burst of ~3x the bound: the WAL is truncated and the files end at or under the bound.
    While a reader holds a snapshot the WAL cannot be truncated; the store keeps its newest
    records meanwhile (a held WAL never trims it empty) and fits once the reader lets go."""
    with store.writer(retention_bytes=BOUND, retention_every_s=0.5) as w:
        for b in range(30):
            w.submit([make_span(b * 1000 + i, start=NOW + b) for i in range(1000)]).wait(30)
        wait_for(lambda: _file_bytes(store) <= BOUND, timeout=30, what="the files under the bound")
        reader = store.connect(readonly=True)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM blocks").fetchone()  # a snapshot the WAL must keep
        for b in range(30, 60):
            w.submit([make_span(b * 1000 + i, start=NOW + b) for i in range(1000)]).wait(30)
        wait_for(lambda: w.last_error is not None, timeout=20, what="the held WAL to be noticed")
        assert "reader holds the WAL" in str(w.last_error)
        assert store.counts()["spans"] >= 1000  # the newest batch at least: never wiped
        reader.execute("COMMIT")
        reader.close()
        wait_for(lambda: _file_bytes(store) <= BOUND, timeout=30, what="the files under the bound")
        assert store.counts()["spans"] >= 1000


def test_the_duplicates_window_is_bounded_in_bytes(store: Store) -> None:
    """What the writer holds between batches stays within a few MiB from the 20,000th span to
    the 60,000th (on aabd1af the window kept every identity up to 400,000: ~180 bytes a span,
    7 MiB more over these 40,000)."""
    conn = store.connect()
    state = ingest.IngestState()
    spans = [
        Span(f"{i:032x}", f"{i:016x}", "op", NOW + i, NOW + i + 1, service="s")
        for i in range(60_000)
    ]
    held: list[int] = []
    tracemalloc.start()
    try:
        for i in range(0, 60_000, 2000):
            ingest.write_batch(conn, spans[i : i + 2000], state)
            if i >= 20_000:
                held.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    growth = max(held) - min(held)
    assert growth < 4 * 2**20, f"{growth / 2**20:.1f} MiB"


def test_the_trace_decoders_attribute_cache_stays_small() -> None:
    """Attribute values that never repeat (correlation ids, offsets) fill the OTLP decoder's
    cache; 60,000 of them leave it holding a few MiB (before: 50,000 entries, ~20 MiB, which
    kept serve's RSS growing in the soak)."""
    from collectors.otlp.fast import FastTraceDecoder

    decoder = FastTraceDecoder()
    bodies = [_unique_attribute_request(n) for n in range(2000)]
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        held = []
        for body in bodies:
            decoder.decode(body)
            held.append(tracemalloc.get_traced_memory()[0] - base)
    finally:
        tracemalloc.stop()
    assert max(held) < 6 * 2**20, f"{max(held) / 2**20:.1f} MiB"


def _unique_attribute_request(n: int) -> bytes:
    """Ten spans, each with a correlation id, an offset and an order id seen nowhere else."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

    def attrs(i: int) -> list[KeyValue]:
        return [
            KeyValue(key="x-correlation-id", value=AnyValue(string_value=f"corr-{n}-{i}")),
            KeyValue(key="messaging.kafka.offset", value=AnyValue(int_value=n * 10 + i)),
            KeyValue(key="order.id", value=AnyValue(string_value=f"{n:08d}{i:024d}")),
        ]

    spans = [
        PbSpan(
            trace_id=(n * 10 + i + 1).to_bytes(16, "big"),
            span_id=(n * 10 + i + 1).to_bytes(8, "big"),
            name="process",
            start_time_unix_nano=NOW,
            end_time_unix_nano=NOW + 1,
            attributes=attrs(i),
        )
        for i in range(10)
    ]
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    )
    return request.SerializeToString()
