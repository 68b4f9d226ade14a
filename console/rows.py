"""Records to rows and back: the one place that knows how a record is laid out in SQLite.

``write_batch`` writes a mixed list of records in one transaction, ignoring duplicates (the same
span, hop or dead letter twice is one row). The ``*_from_row`` functions turn query rows back into
records for the readers.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from console.jsontext import dumps
from console.model import (
    DeadLetter,
    Header,
    Hop,
    LogRecord,
    MetricPoint,
    Record,
    ReplayEntry,
    SeriesPoint,
    Span,
    SpanLink,
)

__all__ = [
    "dead_letter_from_row",
    "decode_headers",
    "encode_headers",
    "hop_from_row",
    "log_from_row",
    "replay_from_row",
    "span_from_row",
    "write_batch",
]


SPAN_COLUMNS = (
    "trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code, status_message, "
    "service, scope, correlation_id, msg_system, msg_destination, msg_partition, msg_offset, "
    "msg_operation, msg_group, attributes, resource_id, events, links"
)
_SPAN_SQL = f"INSERT OR IGNORE INTO spans ({SPAN_COLUMNS}) VALUES ({', '.join('?' * 22)})"
_LINK_SQL = "INSERT OR IGNORE INTO span_links VALUES (?, ?, ?, ?, ?)"
_METRIC_SQL = (
    "INSERT INTO metric_points (name, service, time_ns, start_time_ns, kind, value, count, sum, "
    "bucket_counts, explicit_bounds, unit, attributes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)
_LOG_SQL = (
    "INSERT INTO log_records (time_ns, service, severity_number, severity_text, body, trace_id, "
    "span_id, correlation_id, attributes) VALUES (?,?,?,?,?,?,?,?,?)"
)
_HOP_SQL = (
    "INSERT OR IGNORE INTO hops (topic, partition, offset, timestamp_ms, timestamp_type, key, "
    "size, headers, correlation_id, trace_id, span_id, payload_sha256, payload, seen_ns) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
DEAD_LETTER_COLUMNS = (
    "dlq_topic, partition, offset, timestamp_ms, key, headers, payload, payload_truncated, "
    "payload_size, convention, original_topic, original_partition, original_offset, "
    "original_timestamp_ms, consumer_group, exception_class, exception_cause_class, "
    "exception_message, stacktrace, correlation_id, trace_id, first_seen_ns, status, cluster_id"
)
_DEAD_LETTER_SQL = (
    f"INSERT OR IGNORE INTO dead_letters ({DEAD_LETTER_COLUMNS}) VALUES ({', '.join('?' * 24)})"
)
_SERIES_SQL = "INSERT INTO series (name, subject, detail, time_ns, value) VALUES (?,?,?,?,?)"
_SERVICE_SQL = (
    "INSERT INTO services (name, first_seen_ns, last_seen_ns) VALUES (?, ?, ?) "
    "ON CONFLICT(name) DO UPDATE SET last_seen_ns = max(last_seen_ns, excluded.last_seen_ns)"
)


def encode_headers(headers: Iterable[Header]) -> str:
    """Headers as JSON ``[[name, hex or null], ...]``: bytes survive, order and repeats too."""
    return dumps([[name, None if value is None else value.hex()] for name, value in headers])


def decode_headers(text: str | None) -> tuple[Header, ...]:
    if not text:
        return ()
    return tuple(
        (name, None if value is None else bytes.fromhex(value)) for name, value in json.loads(text)
    )


class _Resources:
    """Resource attribute maps are stored once and referenced by id."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.by_object: dict[int, int] = {}

    def id_for(self, resource: dict[str, Any]) -> int | None:
        if not resource:
            return None
        key = id(resource)
        found = self.by_object.get(key)
        if found is not None:
            return found
        text = dumps(resource)
        row = self.conn.execute(
            "INSERT INTO resources (json) VALUES (?) ON CONFLICT(json) DO UPDATE SET json=json "
            "RETURNING id",
            (text,),
        ).fetchone()
        self.by_object[key] = row[0]
        return row[0]


def _span_row(span: Span, resource_id: int | None) -> tuple[Any, ...]:
    return (
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        span.name,
        span.kind,
        span.start_ns,
        span.end_ns,
        span.status_code,
        span.status_message,
        span.service,
        span.scope,
        span.correlation_id,
        span.messaging_system,
        span.messaging_destination,
        span.messaging_partition,
        span.messaging_offset,
        span.messaging_operation,
        span.messaging_consumer_group,
        getattr(span.attributes, "json", None) or dumps(span.attributes),
        resource_id,
        dumps(span.events) if span.events else None,
        dumps([[lk.trace_id, lk.span_id, lk.attributes] for lk in span.links])
        if span.links
        else None,
    )


def _dead_letter_row(d: DeadLetter) -> tuple[Any, ...]:
    return (
        d.dlq_topic,
        d.partition,
        d.offset,
        d.timestamp_ms,
        d.key,
        encode_headers(d.headers),
        d.payload,
        int(d.payload_truncated),
        d.payload_size,
        d.convention,
        d.original_topic,
        d.original_partition,
        d.original_offset,
        d.original_timestamp_ms,
        d.consumer_group,
        d.exception_class,
        d.exception_cause_class,
        d.exception_message,
        d.stacktrace,
        d.correlation_id,
        d.trace_id,
        d.first_seen_ns,
        d.status,
        d.cluster_id,
    )


def write_batch(conn: sqlite3.Connection, records: Sequence[Record]) -> None:
    """Write ``records`` in one transaction. Duplicate spans, hops and dead letters are ignored."""
    spans: list[tuple[Any, ...]] = []
    links: list[tuple[Any, ...]] = []
    metrics: list[tuple[Any, ...]] = []
    logs: list[tuple[Any, ...]] = []
    hops: list[tuple[Any, ...]] = []
    dead: list[tuple[Any, ...]] = []
    series: list[tuple[Any, ...]] = []
    seen_services: dict[str, list[int]] = {}

    def saw(service: str, t: int) -> None:
        lo_hi = seen_services.get(service)
        if lo_hi is None:
            seen_services[service] = [t, t]
        elif t < lo_hi[0]:
            lo_hi[0] = t
        elif t > lo_hi[1]:
            lo_hi[1] = t

    conn.execute("BEGIN IMMEDIATE")
    try:
        resources = _Resources(conn)
        for r in records:
            if isinstance(r, Span):
                spans.append(_span_row(r, resources.id_for(r.resource)))
                for lk in r.links:
                    links.append((r.trace_id, r.span_id, lk.trace_id, lk.span_id, r.start_ns))
                saw(r.service, r.start_ns)
            elif isinstance(r, Hop):
                hops.append(
                    (
                        r.topic,
                        r.partition,
                        r.offset,
                        r.timestamp_ms,
                        r.timestamp_type,
                        r.key,
                        r.size,
                        encode_headers(r.headers),
                        r.correlation_id,
                        r.trace_id,
                        r.span_id,
                        r.payload_sha256,
                        r.payload,
                        r.seen_ns,
                    )
                )
            elif isinstance(r, MetricPoint):
                metrics.append(
                    (
                        r.name,
                        r.service,
                        r.time_ns,
                        r.start_time_ns,
                        r.kind,
                        r.value,
                        r.count,
                        r.sum,
                        dumps(r.bucket_counts) if r.bucket_counts else None,
                        dumps(r.explicit_bounds) if r.explicit_bounds else None,
                        r.unit,
                        dumps(r.attributes),
                    )
                )
                saw(r.service, r.time_ns)
            elif isinstance(r, LogRecord):
                logs.append(
                    (
                        r.time_ns,
                        r.service,
                        r.severity_number,
                        r.severity_text,
                        r.body,
                        r.trace_id,
                        r.span_id,
                        r.correlation_id,
                        dumps(r.attributes),
                    )
                )
                saw(r.service, r.time_ns)
            elif isinstance(r, DeadLetter):
                dead.append(_dead_letter_row(r))
            elif isinstance(r, SeriesPoint):
                series.append((r.name, r.subject, r.detail, r.time_ns, r.value))
            else:
                raise TypeError(f"not a record: {type(r).__name__}")
        if spans:
            conn.executemany(_SPAN_SQL, spans)
        if links:
            conn.executemany(_LINK_SQL, links)
        if metrics:
            conn.executemany(_METRIC_SQL, metrics)
        if logs:
            conn.executemany(_LOG_SQL, logs)
        if hops:
            conn.executemany(_HOP_SQL, hops)
        if dead:
            conn.executemany(_DEAD_LETTER_SQL, dead)
        if series:
            conn.executemany(_SERIES_SQL, series)
        if seen_services:
            conn.executemany(
                _SERVICE_SQL, [(name, lo, hi) for name, (lo, hi) in seen_services.items()]
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def span_from_row(row: sqlite3.Row, resource: dict[str, Any] | None = None) -> Span:
    """A span from a ``SELECT * FROM spans`` row (resource passed in, it lives in its own table)."""
    links = tuple(SpanLink(t, s, a) for t, s, a in json.loads(row["links"])) if row["links"] else ()
    return Span(
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        parent_span_id=row["parent_span_id"],
        name=row["name"],
        kind=row["kind"],
        start_ns=row["start_ns"],
        end_ns=row["end_ns"],
        status_code=row["status_code"],
        status_message=row["status_message"],
        service=row["service"],
        scope=row["scope"],
        correlation_id=row["correlation_id"],
        messaging_system=row["msg_system"],
        messaging_destination=row["msg_destination"],
        messaging_partition=row["msg_partition"],
        messaging_offset=row["msg_offset"],
        messaging_operation=row["msg_operation"],
        messaging_consumer_group=row["msg_group"],
        attributes=json.loads(row["attributes"]),
        resource=resource or {},
        events=tuple(json.loads(row["events"])) if row["events"] else (),
        links=links,
    )


def load_resources(
    conn: sqlite3.Connection, ids: Iterable[int | None]
) -> dict[int, dict[str, Any]]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    marks = ",".join("?" * len(wanted))
    return {
        rid: json.loads(text)
        for rid, text in conn.execute(
            f"SELECT id, json FROM resources WHERE id IN ({marks})", wanted
        )
    }


def hop_from_row(row: sqlite3.Row) -> Hop:
    return Hop(
        topic=row["topic"],
        partition=row["partition"],
        offset=row["offset"],
        timestamp_ms=row["timestamp_ms"],
        timestamp_type=row["timestamp_type"],
        key=row["key"],
        size=row["size"],
        headers=decode_headers(row["headers"]),
        correlation_id=row["correlation_id"],
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        payload_sha256=row["payload_sha256"],
        payload=row["payload"],
        seen_ns=row["seen_ns"],
    )


def log_from_row(row: sqlite3.Row) -> LogRecord:
    return LogRecord(
        time_ns=row["time_ns"],
        service=row["service"],
        severity_number=row["severity_number"],
        severity_text=row["severity_text"],
        body=row["body"],
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        correlation_id=row["correlation_id"],
        attributes=json.loads(row["attributes"]),
    )


def dead_letter_from_row(row: sqlite3.Row) -> DeadLetter:
    return DeadLetter(
        dlq_topic=row["dlq_topic"],
        partition=row["partition"],
        offset=row["offset"],
        timestamp_ms=row["timestamp_ms"],
        key=row["key"],
        headers=decode_headers(row["headers"]),
        payload=row["payload"],
        payload_truncated=bool(row["payload_truncated"]),
        payload_size=row["payload_size"],
        convention=row["convention"],
        original_topic=row["original_topic"],
        original_partition=row["original_partition"],
        original_offset=row["original_offset"],
        original_timestamp_ms=row["original_timestamp_ms"],
        consumer_group=row["consumer_group"],
        exception_class=row["exception_class"],
        exception_cause_class=row["exception_cause_class"],
        exception_message=row["exception_message"],
        stacktrace=row["stacktrace"],
        correlation_id=row["correlation_id"],
        trace_id=row["trace_id"],
        first_seen_ns=row["first_seen_ns"],
        status=row["status"],
        cluster_id=row["cluster_id"],
    )


def replay_from_row(row: sqlite3.Row) -> ReplayEntry:
    return ReplayEntry(
        replay_id=row["replay_id"],
        dlq_topic=row["dlq_topic"],
        partition=row["partition"],
        offset=row["offset"],
        target_topic=row["target_topic"],
        payload_sha256=row["payload_sha256"],
        state=row["state"],
        created_ns=row["created_ns"],
        replay_count=row["replay_count"],
        acked_ns=row["acked_ns"],
        target_partition=row["target_partition"],
        target_offset=row["target_offset"],
        error=row["error"],
        os_user=row["os_user"],
    )
