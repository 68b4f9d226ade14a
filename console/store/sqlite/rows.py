"""Records to rows and back: the one place that knows how a record is laid out in SQLite.

``write_rows`` writes the records that stay rows (metric points, dead letters, series) inside the
store writer's transaction; spans, hops and log records go to blocks (``ingest.py``).
The ``*_from_row`` functions turn query rows back into records (``span_from_row`` and
``hop_from_row`` read a version-1 store while it is migrated).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

from console.base.jsontext import dumps
from console.base.model import (
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
    "write_rows",
]


_METRIC_SQL = (
    "INSERT INTO metric_points (name, service, time_ns, start_time_ns, kind, value, count, sum, "
    "bucket_counts, explicit_bounds, unit, attributes, exp_scale, exp_zero_count, "
    "exp_positive_offset, exp_positive_counts, exp_negative_offset, exp_negative_counts, "
    "min_value, max_value, arrived_ns) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
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
SERVICE_SQL = (
    "INSERT INTO services (name, first_seen_ns, last_seen_ns) VALUES (?, ?, ?) "
    "ON CONFLICT(name) DO UPDATE SET last_seen_ns = max(last_seen_ns, excluded.last_seen_ns),"
    " first_seen_ns = min(first_seen_ns, excluded.first_seen_ns)"
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


def _exponential(r: MetricPoint) -> tuple[Any, ...]:
    if r.scale is None:
        return (None,) * 6
    return (
        r.scale,
        r.zero_count,
        r.positive_offset,
        dumps(r.positive_bucket_counts),
        r.negative_offset,
        dumps(r.negative_bucket_counts),
    )


def write_rows(
    conn: sqlite3.Connection, records: Sequence[Record], now_ns: int | None = None
) -> int:
    """Write metric points, dead letters and series points inside the caller's transaction
    (spans, hops and log records go to blocks: ``console/store/sqlite/ingest.py``); ``now_ns``
    is their arrival (default: the clock), which retention goes by. Duplicate dead letters are
    ignored. Returns how many records were new."""
    arrived = time.time_ns() if now_ns is None else now_ns
    metrics: list[tuple[Any, ...]] = []
    dead: list[tuple[Any, ...]] = []
    series: list[tuple[Any, ...]] = []
    seen_services: dict[str, list[int]] = {}
    for r in records:
        if isinstance(r, MetricPoint):
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
                    *_exponential(r),
                    r.min,
                    r.max,
                    arrived,
                )
            )
            lo_hi = seen_services.setdefault(r.service, [r.time_ns, r.time_ns])
            lo_hi[0], lo_hi[1] = min(lo_hi[0], r.time_ns), max(lo_hi[1], r.time_ns)
        elif isinstance(r, DeadLetter):
            dead.append(_dead_letter_row(r))
        elif isinstance(r, SeriesPoint):
            series.append((r.name, r.subject, r.detail, r.time_ns, r.value))
        else:
            raise TypeError(f"not a record: {type(r).__name__}")
    written = len(metrics) + len(series)
    if metrics:
        conn.executemany(_METRIC_SQL, metrics)
    if dead:
        before = conn.total_changes
        conn.executemany(_DEAD_LETTER_SQL, dead)
        written += conn.total_changes - before
    if series:
        conn.executemany(_SERIES_SQL, series)
    if seen_services:
        conn.executemany(SERVICE_SQL, [(name, lo, hi) for name, (lo, hi) in seen_services.items()])
    return written


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
