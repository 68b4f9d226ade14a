"""The live tail's query: the spans, hops and log records newer than the last ones seen, by
record id.

A record's id is its block's id and its place in the block (``console/store/sqlite/read.py``),
so ids grow with arrival like the row ids of the version-1 store did.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from console.base.model import Hop, LogRecord, Span
from console.readers.logs import severity_name, severity_rank
from console.store.sqlite.blocks import KIND_HOP, KIND_LOG, KIND_SPAN
from console.store.sqlite.read import TailHop, TailSpan, last_block_id, newest_records

__all__ = ["TailBatch", "TailHop", "TailLog", "TailSpan", "tail"]


@dataclass(frozen=True, slots=True)
class TailLog:
    id: int
    time_ns: int
    service: str
    severity: str  # TRACE, DEBUG, INFO, WARN, ERROR, FATAL, or "" when unspecified
    severity_number: int  # as ranked (from the text when the record gave no number)
    body: str
    trace_id: str | None
    span_id: str | None
    correlation_id: str | None


@dataclass(frozen=True, slots=True)
class TailBatch:
    spans: tuple[TailSpan, ...]
    hops: tuple[TailHop, ...]
    last_span_id: int
    last_hop_id: int
    logs: tuple[TailLog, ...] = ()
    last_log_id: int = 0


def _span(rid: int, s: Span) -> TailSpan:
    return TailSpan(
        rid,
        s.start_ns,
        s.service,
        s.name,
        s.kind,
        s.duration_ns / 1e6,
        s.status_code,
        s.trace_id,
        s.correlation_id,
    )


def _hop(rid: int, h: Hop) -> TailHop:
    return TailHop(
        rid, h.seen_ns, h.topic, h.partition, h.offset, h.size, h.correlation_id, h.trace_id
    )


def _log(rid: int, r: LogRecord) -> TailLog:
    return TailLog(
        rid,
        r.time_ns,
        r.service,
        severity_name(r) or r.severity_text,
        severity_rank(r),
        r.body,
        r.trace_id,
        r.span_id,
        r.correlation_id,
    )


def tail(
    conn: sqlite3.Connection,
    after_span_id: int = 0,
    after_hop_id: int = 0,
    limit: int = 200,
    after_log_id: int = 0,
) -> TailBatch:
    """Spans, hops and log records newer than the given ids, at most ``limit`` of each (the
    newest ones)."""
    conn.execute("BEGIN")
    try:
        top_s = last_block_id(conn, KIND_SPAN)
        top_h = last_block_id(conn, KIND_HOP)
        top_l = last_block_id(conn, KIND_LOG)
        logs = tuple(
            _log(rid, r)
            for rid, r in newest_records(conn, KIND_LOG, after_log_id, limit)
            if rid <= top_l
        )
        spans = tuple(
            _span(rid, s)
            for rid, s in newest_records(conn, KIND_SPAN, after_span_id, limit)
            if rid <= top_s
        )
        hops = tuple(
            _hop(rid, h)
            for rid, h in newest_records(conn, KIND_HOP, after_hop_id, limit)
            if rid <= top_h
        )
    finally:
        conn.execute("COMMIT")
    return TailBatch(
        spans,
        hops,
        max(top_s, after_span_id),
        max(top_h, after_hop_id),
        logs,
        max(top_l, after_log_id),
    )
