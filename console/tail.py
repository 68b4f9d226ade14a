"""The live tail's query: the spans and hops newer than the last ones seen, by row ``id``."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

__all__ = ["TailBatch", "TailHop", "TailSpan", "tail"]


@dataclass(frozen=True, slots=True)
class TailSpan:
    id: int
    start_ns: int
    service: str
    name: str
    kind: int
    duration_ms: float
    status_code: int
    trace_id: str
    correlation_id: str | None


@dataclass(frozen=True, slots=True)
class TailHop:
    id: int
    seen_ns: int
    topic: str
    partition: int
    offset: int
    size: int
    correlation_id: str | None
    trace_id: str | None


@dataclass(frozen=True, slots=True)
class TailBatch:
    spans: tuple[TailSpan, ...]
    hops: tuple[TailHop, ...]
    last_span_id: int
    last_hop_id: int


def tail(
    conn: sqlite3.Connection, after_span_id: int = 0, after_hop_id: int = 0, limit: int = 200
) -> TailBatch:
    """Spans and hops newer than the given ids, at most ``limit`` of each (the newest ones)."""
    conn.execute("BEGIN")
    try:
        top_s = conn.execute("SELECT max(id) FROM spans").fetchone()[0] or 0
        top_h = conn.execute("SELECT max(id) FROM hops").fetchone()[0] or 0
        spans = tuple(
            TailSpan(r[0], r[1], r[2], r[3], r[4], max(0, r[5] - r[1]) / 1e6, r[6], r[7], r[8])
            for r in conn.execute(
                "SELECT id, start_ns, service, name, kind, end_ns, status_code, trace_id,"
                " correlation_id FROM spans WHERE id > ? AND id <= ? ORDER BY id",
                (max(after_span_id, top_s - limit), top_s),
            )
        )
        hops = tuple(
            TailHop(*r)
            for r in conn.execute(
                "SELECT id, seen_ns, topic, partition, offset, size, correlation_id, trace_id"
                " FROM hops WHERE id > ? AND id <= ? ORDER BY id",
                (max(after_hop_id, top_h - limit), top_h),
            )
        )
    finally:
        conn.execute("COMMIT")
    return TailBatch(spans, hops, max(top_s, after_span_id), max(top_h, after_hop_id))
