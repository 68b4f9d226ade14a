"""Rows of the exporter's and the console's tables back into records: what each SELECT names,
and how its row becomes a ``Span``, ``Hop``, ``LogRecord``, ``DeadLetter`` or ``ReplayEntry``.

Times leave ClickHouse as integers (``toUnixTimestamp64Nano``/``Milli``): a ``DateTime64`` read
as a Python ``datetime`` would lose its nanoseconds. Bytes (Kafka keys, header values,
payloads) are read as bytes (``BYTES``, the clickhouse-connect column formats), never as text.

A span's journey fields (correlation id, messaging coordinates, business keys) are not columns
of ``otel_traces``: they are derived from ``SpanAttributes`` and ``ResourceAttributes`` by
``console/base/semconv.py``, as the receivers derive them when they decode a span. The
exporter keeps every attribute value as text, so a span read here carries ``"31"`` where the
receiver had ``31`` (see the module docstring of ``reader.py``).

The exporter's ``json: true`` tables hold the attributes as ``JSON`` values: they are selected
as JSON text (``span_columns(json=True)``, ``log_columns``) and read back as the Map layout
holds them (``attributes``): nested objects flattened to dotted keys (the JSON type nests a
key with dots: ``correlation.id`` is ``{"correlation": {"id": ...}}``), every value as text
(``rows.as_string``). A record read from a JSON table equals the one read from a Map table
written with the same record, but for an attribute whose value is itself a map (the Map layout
keeps it as JSON text under its key, the JSON layout as paths under it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from console.base.model import DeadLetter, Hop, LogRecord, ReplayEntry, Span, SpanLink
from console.base.semconv import correlation_id, span_fields
from console.store.clickhouse.rows import as_string

__all__ = [
    "BYTES",
    "DEAD_LETTER_COLUMNS",
    "HOP_COLUMNS",
    "LOG_COLUMNS",
    "REPLAY_COLUMNS",
    "SPAN_COLUMNS",
    "attributes",
    "dead_letter",
    "hop",
    "log_columns",
    "log_record",
    "replay",
    "span",
    "span_columns",
]

# pdata's SpanKind.String() and StatusCode.String(), as the exporter writes them.
_KINDS = {
    "Unspecified": 0,
    "Internal": 1,
    "Server": 2,
    "Client": 3,
    "Producer": 4,
    "Consumer": 5,
}
_KINDS.update({f"SPAN_KIND_{k.upper()}": v for k, v in _KINDS.items()})
_STATUS = {"Unset": 0, "Ok": 1, "Error": 2, "STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1}
_STATUS["STATUS_CODE_ERROR"] = 2

#: Columns read as bytes rather than text (clickhouse-connect ``column_formats``).
BYTES: dict[str, str | dict[str, str]] = {
    "Key": "bytes",
    "HeaderValues": "bytes",
    "Payload": "bytes",
}


def span_columns(json: bool = False) -> str:
    """What a span's SELECT names; ``json``: the attribute columns are JSON, read as text."""
    res, attrs = (_text(c, json) for c in ("ResourceAttributes", "SpanAttributes"))
    events, links = (_texts(c, json) for c in ("Events.Attributes", "Links.Attributes"))
    return (
        "toUnixTimestamp64Nano(Timestamp), TraceId, SpanId, ParentSpanId, SpanName, SpanKind,"
        f" ServiceName, {res}, ScopeName, {attrs}, Duration, StatusCode,"
        " StatusMessage, arrayMap(t -> toUnixTimestamp64Nano(t), Events.Timestamp), Events.Name,"
        f" {events}, Links.TraceId, Links.SpanId, {links}"
    )


def _text(column: str, json: bool) -> str:
    return f"toJSONString({column})" if json else column


def _texts(column: str, json: bool) -> str:
    return f"arrayMap(a -> toJSONString(a), {column})" if json else column


def attributes(value: Any) -> dict[str, Any]:
    """An attribute column's value as the Map layout holds it: a Map's dict as it is, a JSON
    column's text flattened to dotted keys, each value as text (module docstring)."""
    if not isinstance(value, str):
        return value  # type: ignore[no-any-return]
    out: dict[str, Any] = {}
    _flatten(orjson.loads(value) if value else {}, "", out)
    return out


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and (value or not prefix):
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    else:
        out[prefix] = as_string(value)


SPAN_COLUMNS = span_columns()


def span(
    row: Sequence[Any],
    correlation_keys: Sequence[str],
    key_attributes: Sequence[str] = (),
) -> Span:
    """A ``Span`` from a ``SPAN_COLUMNS`` row."""
    (start, trace, sid, parent, name, kind, service, resource, scope, attrs, took, status) = row[
        :12
    ]
    message, ev_times, ev_names, ev_attrs, lk_traces, lk_spans, lk_attrs = row[12:]
    attrs, resource = attributes(attrs), attributes(resource)
    return Span(
        trace_id=trace.lower(),
        span_id=sid.lower(),
        name=name,
        start_ns=start,
        end_ns=start + took,
        service=service,
        parent_span_id=parent.lower() or None,
        kind=_KINDS.get(kind, 0),
        status_code=_STATUS.get(status, 0),
        status_message=message,
        attributes=attrs,
        resource=resource,
        events=tuple(
            {"name": n, "time_ns": t, "attributes": attributes(a)}
            for t, n, a in zip(ev_times, ev_names, ev_attrs, strict=False)
        ),
        links=tuple(
            SpanLink(t.lower(), s.lower(), attributes(a))
            for t, s, a in zip(lk_traces, lk_spans, lk_attrs, strict=False)
        ),
        scope=scope,
        **span_fields(attrs, resource, correlation_keys, key_attributes)._asdict(),
    )


def log_columns(json: bool = False) -> str:
    """What a log record's SELECT names; ``json``: the attribute columns are JSON, as text."""
    return (
        "toUnixTimestamp64Nano(Timestamp), ServiceName, SeverityNumber, SeverityText, Body,"
        f" TraceId, SpanId, {_text('LogAttributes', json)}, {_text('ResourceAttributes', json)}"
    )


LOG_COLUMNS = log_columns()


def log_record(row: Sequence[Any], correlation_keys: Sequence[str]) -> LogRecord:
    """A ``LogRecord`` from a ``LOG_COLUMNS`` row (its correlation id derived from its
    attributes, then its resource's, as the receivers do)."""
    t, service, number, text, body, trace, sid, attrs, resource = row
    attrs, resource = attributes(attrs), attributes(resource)
    return LogRecord(
        time_ns=t,
        service=service,
        severity_number=number,
        severity_text=text,
        body=body,
        trace_id=trace.lower() or None,
        span_id=sid.lower() or None,
        attributes=attrs,
        correlation_id=correlation_id(attrs, resource, correlation_keys),
    )


HOP_COLUMNS = (
    "Cluster, Topic, Partition, Offset, toUnixTimestamp64Milli(Timestamp), TimestampType, Key,"
    " Size, HeaderNames, HeaderValues, CorrelationId, TraceId, SpanId, PayloadSha256, Payload,"
    " BusinessKeys, toUnixTimestamp64Nano(SeenAt)"
)


def hop(row: Sequence[Any]) -> Hop:
    """A ``Hop`` from a ``HOP_COLUMNS`` row ("" in a text column is None in the record)."""
    (cluster, topic, partition, offset, ts, ts_type, key, size, names, values) = row[:10]
    cid, trace, sid, sha, payload, bkeys, seen = row[10:]
    return Hop(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp_ms=ts,
        timestamp_type=ts_type,
        key=key,
        size=size,
        headers=tuple(zip(names, values, strict=False)),
        correlation_id=cid or None,
        trace_id=trace or None,
        span_id=sid or None,
        payload_sha256=sha or None,
        payload=payload,
        seen_ns=seen,
        cluster_id=cluster or None,
        business_keys=tuple(bkeys),
    )


DEAD_LETTER_COLUMNS = (
    "Cluster, DlqTopic, Partition, Offset, toUnixTimestamp64Milli(Timestamp), Key, HeaderNames,"
    " HeaderValues, Payload, PayloadTruncated, PayloadSize, Convention, OriginalTopic,"
    " OriginalPartition, OriginalOffset, toUnixTimestamp64Milli(OriginalTimestamp),"
    " ConsumerGroup, ExceptionClass, ExceptionCauseClass, ExceptionMessage, Stacktrace,"
    " CorrelationId, TraceId, toUnixTimestamp64Nano(FirstSeen), Status"
)


def dead_letter(row: Sequence[Any]) -> DeadLetter:
    """A ``DeadLetter`` from a ``DEAD_LETTER_COLUMNS`` row."""
    (cluster, topic, partition, offset, ts, key, names, values, payload, truncated) = row[:10]
    (size, convention, o_topic, o_partition, o_offset, o_ts, group, exc, cause) = row[10:19]
    message, stack, cid, trace, first_seen, status = row[19:]
    return DeadLetter(
        dlq_topic=topic,
        partition=partition,
        offset=offset,
        timestamp_ms=ts,
        key=key,
        headers=tuple(zip(names, values, strict=False)),
        payload=payload,
        payload_truncated=bool(truncated),
        payload_size=size,
        convention=convention,
        original_topic=o_topic,
        original_partition=o_partition,
        original_offset=o_offset,
        original_timestamp_ms=o_ts,
        consumer_group=group,
        exception_class=exc,
        exception_cause_class=cause,
        exception_message=message,
        stacktrace=stack,
        correlation_id=cid or None,
        trace_id=trace or None,
        first_seen_ns=first_seen,
        status=status,
        cluster_id=cluster or None,
    )


REPLAY_COLUMNS = (
    "ReplayId, DlqTopic, Partition, Offset, TargetTopic, PayloadSha256, State,"
    " toUnixTimestamp64Nano(Created), ReplayCount, toUnixTimestamp64Nano(Acked),"
    " TargetPartition, TargetOffset, Error, OsUser"
)


def replay(row: Sequence[Any]) -> ReplayEntry:
    """A ``ReplayEntry`` from a ``REPLAY_COLUMNS`` row."""
    return ReplayEntry(*row)
