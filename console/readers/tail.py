"""The live tail's query: the spans, hops and log records newer than the last ones seen.

A record's id is the store's opaque cursor for it (``console/store/api.py``): the ids of one kind
grow with arrival, and the next call carries on from the last ones seen.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.base.model import Hop, LogRecord, Span
from console.readers.logs import severity_name, severity_rank
from console.store.api import Cursor, SignalReads

__all__ = ["TailBatch", "TailHop", "TailLog", "TailSpan", "tail"]

_START = Cursor(0)  # before every record


@dataclass(frozen=True, slots=True)
class TailSpan:
    id: Cursor
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
    id: Cursor
    seen_ns: int
    topic: str
    partition: int
    offset: int
    size: int
    correlation_id: str | None
    trace_id: str | None


@dataclass(frozen=True, slots=True)
class TailLog:
    id: Cursor
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
    last_span_id: Cursor
    last_hop_id: Cursor
    logs: tuple[TailLog, ...] = ()
    last_log_id: Cursor = _START


def _span(rid: Cursor, s: Span) -> TailSpan:
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


def _hop(rid: Cursor, h: Hop) -> TailHop:
    return TailHop(
        rid, h.seen_ns, h.topic, h.partition, h.offset, h.size, h.correlation_id, h.trace_id
    )


def _log(rid: Cursor, r: LogRecord) -> TailLog:
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
    store: SignalReads,
    after_span_id: int = 0,
    after_hop_id: int = 0,
    limit: int = 200,
    after_log_id: int = 0,
) -> TailBatch:
    """Spans, hops and log records newer than the given cursors, at most ``limit`` of each (the
    newest ones)."""
    got = store.tail((Cursor(after_span_id), Cursor(after_hop_id), Cursor(after_log_id)), limit)
    return TailBatch(
        tuple(_span(rid, s) for rid, s in got.spans),
        tuple(_hop(rid, h) for rid, h in got.hops),
        got.last_span,
        got.last_hop,
        tuple(_log(rid, r) for rid, r in got.logs),
        got.last_log,
    )
