"""Records as rows of the tables they go to, columns in each table's insert column order.

Telemetry goes into the exporter's tables as the exporter's inserts write them
(``internal/sqltemplates/*_insert.sql`` and ``exporter_*.go``, v0.165.1): ids as lowercase hex,
``SpanKind`` and ``StatusCode`` as pdata's names (``Server``, ``Error``), times as nanoseconds
(``DateTime64(9)``) or seconds (the metrics tables' ``DateTime``), and attribute maps of strings
as pdata's ``Value.AsString`` renders them (``as_string``): text as is, ``true``/``false``,
integers in decimal, doubles as JavaScript prints them, lists and maps as JSON.

What the console derived from a record's attributes stays in its attributes, under the names
the console resolves (``collectors/otlp/decode.py``): a correlation id (``correlation.id``,
``correlation_id``, ...), the messaging attributes (``messaging.destination.name``, ...) and
business keys (``--key-attribute`` names, the message key). A record built without them (a
``Span`` made in code with ``correlation_id`` set) gets them written under the first of those
names, so a reader resolves the same fields from the row: the correlation id as
``correlation.id``, business keys the attributes do not hold as ``handoff.business_key.N``.

Each ``*_columns`` function returns the columns of one table for a list of records
(column-oriented: what clickhouse-connect inserts without transposing); ``*_COLUMNS`` names
them. A value no column can hold raises ``ValueError`` here, before any INSERT.

One room past 400 lines: every table's row rules (the exporter's value rendering, the derived
fields put back) are read together against the exporter's Go code, and the Arrow builders
(``span_arrow.py``, ``hop_arrow.py``) call the same rules rather than copies of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson

from console.base.model import (
    DeadLetter,
    LogRecord,
    MetricPoint,
    SeriesPoint,
    Span,
    SpanRow,
)
from console.store.clickhouse.layout import TableLayout

__all__ = [
    "BUSINESS_KEY_PREFIX",
    "DEAD_LETTER_COLUMNS",
    "HOP_COLUMNS",
    "SERIES_COLUMNS",
    "TRACE_COLUMNS",
    "as_string",
    "dead_letter_columns",
    "log_columns",
    "log_insert_columns",
    "metric_columns",
    "metric_insert_columns",
    "series_columns",
    "span_kind_name",
    "status_name",
    "string_map",
    "trace_columns",
    "trace_insert_columns",
]

BUSINESS_KEY_PREFIX = "handoff.business_key."

# internal/sqltemplates/traces_insert.sql
TRACE_COLUMNS: tuple[str, ...] = (
    "Timestamp",
    "TraceId",
    "SpanId",
    "ParentSpanId",
    "TraceState",
    "SpanName",
    "SpanKind",
    "ServiceName",
    "ResourceAttributes",
    "ScopeName",
    "ScopeVersion",
    "SpanAttributes",
    "Duration",
    "StatusCode",
    "StatusMessage",
    "Events.Timestamp",
    "Events.Name",
    "Events.Attributes",
    "Links.TraceId",
    "Links.SpanId",
    "Links.TraceState",
    "Links.Attributes",
)
# traces_json_insert.sql adds these when the JSON table has them (exporter_traces_json.go).
_TRACE_KEYS_COLUMNS = ("ResourceAttributesKeys", "SpanAttributesKeys")

# internal/sqltemplates/logs_insert.sql (EventName where the table has it: exporter_logs.go)
_LOG_COLUMNS: tuple[str, ...] = (
    "Timestamp",
    "TraceId",
    "SpanId",
    "TraceFlags",
    "SeverityText",
    "SeverityNumber",
    "ServiceName",
    "Body",
    "ResourceSchemaUrl",
    "ResourceAttributes",
    "ScopeSchemaUrl",
    "ScopeName",
    "ScopeVersion",
    "ScopeAttributes",
    "LogAttributes",
)
_LOG_KEYS_COLUMNS = ("ResourceAttributesKeys", "ScopeAttributesKeys", "LogAttributesKeys")

_METRIC_HEAD = (
    "ResourceAttributes",
    "ResourceSchemaUrl",
    "ScopeName",
    "ScopeVersion",
    "ScopeAttributes",
    "ScopeDroppedAttrCount",
    "ScopeSchemaUrl",
    "ServiceName",
    "MetricName",
    "MetricDescription",
    "MetricUnit",
    "Attributes",
    "StartTimeUnix",
    "TimeUnix",
)
_EXEMPLARS = (
    "Exemplars.FilteredAttributes",
    "Exemplars.TimeUnix",
    "Exemplars.Value",
    "Exemplars.SpanId",
    "Exemplars.TraceId",
)
# internal/sqltemplates/metrics_<kind>_insert.sql
_METRIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "gauge": (*_METRIC_HEAD, "Value", "Flags", *_EXEMPLARS),
    "sum": (*_METRIC_HEAD, "Value", "Flags", *_EXEMPLARS, "AggregationTemporality", "IsMonotonic"),
    "histogram": (
        *_METRIC_HEAD,
        "Count",
        "Sum",
        "BucketCounts",
        "ExplicitBounds",
        *_EXEMPLARS,
        "Flags",
        "Min",
        "Max",
        "AggregationTemporality",
    ),
    "exponential_histogram": (
        *_METRIC_HEAD,
        "Count",
        "Sum",
        "Scale",
        "ZeroCount",
        "PositiveOffset",
        "PositiveBucketCounts",
        "NegativeOffset",
        "NegativeBucketCounts",
        *_EXEMPLARS,
        "Flags",
        "Min",
        "Max",
        "AggregationTemporality",
    ),
    "summary": (
        *_METRIC_HEAD,
        "Count",
        "Sum",
        "ValueAtQuantiles.Quantile",
        "ValueAtQuantiles.Value",
        "Flags",
    ),
}

HOP_COLUMNS: tuple[str, ...] = (
    "Cluster",
    "Topic",
    "Partition",
    "Offset",
    "Timestamp",
    "TimestampType",
    "Key",
    "Size",
    "HeaderNames",
    "HeaderValues",
    "CorrelationId",
    "TraceId",
    "SpanId",
    "PayloadSha256",
    "Payload",
    "BusinessKeys",
    "SeenAt",
)

DEAD_LETTER_COLUMNS: tuple[str, ...] = (
    "Cluster",
    "DlqTopic",
    "Partition",
    "Offset",
    "Timestamp",
    "Key",
    "HeaderNames",
    "HeaderValues",
    "Payload",
    "PayloadTruncated",
    "PayloadSize",
    "Convention",
    "OriginalTopic",
    "OriginalPartition",
    "OriginalOffset",
    "OriginalTimestamp",
    "ConsumerGroup",
    "ExceptionClass",
    "ExceptionCauseClass",
    "ExceptionMessage",
    "Stacktrace",
    "CorrelationId",
    "TraceId",
    "FirstSeen",
    "Status",
    "Version",
)

SERIES_COLUMNS: tuple[str, ...] = ("Name", "Subject", "Detail", "Timestamp", "Value")

# pdata's SpanKind.String() and StatusCode.String() (ptrace/span_kind.go, status_code.go).
_SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
_STATUS_CODES = ("Unset", "Ok", "Error")

# The names the console resolves its derived fields from (collectors/otlp/decode.py), the first
# of each being where a field the attributes do not hold is written.
_CORRELATION_KEYS = (
    "correlation.id",
    "correlation_id",
    "app.correlation_id",
    "messaging.message.conversation_id",
)
_OFFSET_KEYS = ("messaging.kafka.offset", "messaging.kafka.message.offset")
_OPERATION_KEYS = ("messaging.operation.type", "messaging.operation")
_GROUP_KEYS = ("messaging.consumer.group.name", "messaging.kafka.consumer.group")

_UINT64 = (1 << 64) - 1
_INT64 = 1 << 63


def span_kind_name(kind: int) -> str:
    return _SPAN_KINDS[kind] if 0 <= kind < len(_SPAN_KINDS) else ""


def status_name(code: int) -> str:
    return _STATUS_CODES[code] if 0 <= code < len(_STATUS_CODES) else ""


def _double(value: float) -> str:
    """A double as pdata's ``float64AsString`` (ES6 number to string)."""
    if math.isnan(value) or math.isinf(value):
        return "json: unsupported value: " + ("NaN" if math.isnan(value) else repr(value)[:4])
    size = abs(value)
    if value == 0:
        return "0" if math.copysign(1.0, value) > 0 else "-0"
    if 1e-6 <= size < 1e21:
        if value.is_integer():
            return str(int(value))
        text = repr(value)
        return format(Decimal(text), "f") if "e" in text else text
    mantissa, _, exponent = f"{value!r}".partition("e")
    if not exponent:  # repr chose positional (it cannot here, but stay safe)
        mantissa, _, exponent = f"{value:e}".partition("e")
    sign = "-" if exponent.startswith("-") else "+"
    return f"{mantissa.removesuffix('.0')}e{sign}{int(exponent.lstrip('+-'))}"


def as_string(value: Any) -> str:
    """An attribute value as pdata's ``Value.AsString`` renders it (what the exporter stores)."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return _double(value)
    if isinstance(value, bytes):
        return value.hex()
    return orjson.dumps(value, default=str).decode()


def string_map(attrs: Any) -> dict[str, str]:
    """An attribute map as the exporter's ``Map(LowCardinality(String), String)`` holds it."""
    if not attrs:
        return {}
    return {str(k): v if type(v) is str else as_string(v) for k, v in attrs.items()}


def _text_map(text: str | None) -> dict[str, Any]:
    """Attributes stored as JSON text (a ``SpanRow``'s) as a dict."""
    if not text:
        return {}
    value = orjson.loads(text)
    return value if isinstance(value, dict) else {}


def _hex(value: Any) -> str:
    """An id as the exporter writes it: lowercase hex, '' when absent; text that is not an id
    (a ``SpanRow`` keeps such ids as text) as it is."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        return value.hex()
    return str(value)


def _uint64(value: int, what: str) -> int:
    if not 0 <= value <= _UINT64:
        raise ValueError(f"{what} {value} is out of range (0 to 2**64-1)")
    return value


def _int64(value: int, what: str) -> int:
    if not -_INT64 <= value < _INT64:
        raise ValueError(f"{what} {value} is out of range (a signed 64-bit integer)")
    return value


def int64_column(values: list[int], what: str) -> list[int]:
    """A whole column's ``_int64`` (the Arrow builders'): the bounds first, the first value out
    of range named only on a failure."""
    if values and not (min(values) >= -_INT64 and max(values) < _INT64):
        bad = next(v for v in values if not -_INT64 <= v < _INT64)
        raise ValueError(f"{what} {bad} is out of range (a signed 64-bit integer)")
    return values


# -- derived fields back into the attributes -------------------------------------------------


def _put_derived(
    attrs: dict[str, str],
    cid: str | None,
    messaging: Sequence[Any],
    business_keys: Sequence[str] | None,
) -> None:
    """Write what the console derived (``messaging``: system, destination, partition, offset,
    operation, group) where the attributes do not already hold it."""
    # In the span's own attributes even when it came from the resource: lookups by value go
    # through SpanAttributes' bloom filter (idx_span_attr_value), and resolve the same id.
    if cid is not None and not _holds(attrs, _CORRELATION_KEYS, cid):
        attrs["correlation.id"] = cid
    system, dest, part, off, op, group = messaging
    if system is not None and "messaging.system" not in attrs:
        attrs["messaging.system"] = str(system)
    if dest is not None and "messaging.destination.name" not in attrs:
        attrs["messaging.destination.name"] = str(dest)
    if part is not None and "messaging.destination.partition.id" not in attrs:
        attrs["messaging.destination.partition.id"] = str(part)
    if off is not None and not any(k in attrs for k in _OFFSET_KEYS):
        attrs[_OFFSET_KEYS[0]] = str(off)
    if op is not None and not any(k in attrs for k in _OPERATION_KEYS):
        attrs[_OPERATION_KEYS[0]] = str(op)
    if group is not None and not any(k in attrs for k in _GROUP_KEYS):
        attrs[_GROUP_KEYS[0]] = str(group)
    if business_keys:
        values = set(attrs.values())
        for i, key in enumerate(business_keys):
            if key not in values:
                attrs[f"{BUSINESS_KEY_PREFIX}{i}"] = key


def span_attributes(s: Span) -> dict[str, str]:
    """A ``Span``'s attributes as the exporter's map holds them, what the console derived
    put back (``_put_derived``)."""
    attrs = string_map(s.attributes)
    messaging = (
        s.messaging_system,
        s.messaging_destination,
        s.messaging_partition,
        s.messaging_offset,
        s.messaging_operation,
        s.messaging_consumer_group,
    )
    _put_derived(attrs, s.correlation_id, messaging, s.business_keys)
    return attrs


def _holds(attrs: dict[str, str], keys: Sequence[str], value: str) -> bool:
    for k in keys:
        found = attrs.get(k)
        if found is not None:
            return found == value  # the first key found is the one the console resolves
    return False


# -- traces ----------------------------------------------------------------------------------


def trace_insert_columns(table: TableLayout) -> tuple[str, ...]:
    """The traces table's insert columns for the layout found."""
    if table.is_json("SpanAttributes") and all(table.has(c) for c in _TRACE_KEYS_COLUMNS):
        return (*TRACE_COLUMNS, *_TRACE_KEYS_COLUMNS)
    return TRACE_COLUMNS


def trace_columns(records: Sequence[Span | SpanRow], table: TableLayout) -> list[list[Any]]:
    """Spans (``Span`` or ``SpanRow``) as ``otel_traces`` columns, in ``trace_insert_columns``
    order. JSON tables get attribute maps with their original types (and the key arrays)."""
    json_attrs = table.is_json("SpanAttributes")
    keys = len(trace_insert_columns(table)) > len(TRACE_COLUMNS)
    cols: list[list[Any]] = [[] for _ in range(len(TRACE_COLUMNS) + (2 if keys else 0))]
    resources: dict[Any, tuple[dict[str, Any], dict[str, str]]] = {}
    for r in records:
        if isinstance(r, SpanRow):
            _span_row(r, cols, resources, json_attrs)
        else:
            _span(r, cols, resources, json_attrs)
    if keys:
        cols[22] = [_flat_keys(m) for m in cols[8]]
        cols[23] = [_flat_keys(m) for m in cols[11]]
    return cols


def _resource(
    resources: dict[Any, tuple[dict[str, Any], dict[str, str]]], key: Any, raw: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """A resource's attributes (raw, and as strings), converted once per batch."""
    found = resources.get(key)
    if found is None:
        raw_map = _text_map(raw) if isinstance(raw, str) else dict(raw or {})
        found = resources[key] = (raw_map, string_map(raw_map))
    return found


def _span(
    s: Span,
    cols: list[list[Any]],
    resources: dict[Any, tuple[dict[str, Any], dict[str, str]]],
    json_attrs: bool,
) -> None:
    raw_res, res = _resource(resources, id(s.resource), s.resource)
    attrs = span_attributes(s)
    events = s.events or ()
    links = s.links or ()
    _append_span(
        cols,
        start=s.start_ns,
        trace_id=s.trace_id,
        span_id=s.span_id,
        parent=s.parent_span_id or "",
        name=s.name,
        kind=s.kind,
        service=s.service,
        resource=raw_res if json_attrs else res,
        scope=s.scope,
        attrs=_typed(s.attributes, attrs) if json_attrs else attrs,
        end=s.end_ns,
        status=s.status_code,
        message=s.status_message,
        events=[(e.get("time_ns") or 0, e.get("name") or "", e.get("attributes")) for e in events],
        links=[(lk.trace_id, lk.span_id, lk.attributes) for lk in links],
        json_attrs=json_attrs,
    )


def _span_row(
    r: SpanRow,
    cols: list[list[Any]],
    resources: dict[Any, tuple[dict[str, Any], dict[str, str]]],
    json_attrs: bool,
) -> None:
    raw_res, res = _resource(resources, r[19], r[19])
    raw_attrs = _text_map(r[18])
    attrs = string_map(raw_attrs)
    _put_derived(attrs, r[11], r[12:18], r[22] if len(r) > 22 else None)
    events = orjson.loads(r[20]) if r[20] else ()
    _append_span(
        cols,
        start=r[5],
        trace_id=_hex(r[0]),
        span_id=_hex(r[1]),
        parent=_hex(r[2]),
        name=r[3],
        kind=r[4],
        service=r[9],
        resource=raw_res if json_attrs else res,
        scope=r[10],
        attrs=_typed(raw_attrs, attrs) if json_attrs else attrs,
        end=r[6],
        status=r[7],
        message=r[8],
        events=[(e.get("time_ns") or 0, e.get("name") or "", e.get("attributes")) for e in events],
        links=[(lk[0], lk[1], lk[2]) for lk in (r[21] or ())],
        json_attrs=json_attrs,
    )


def _typed(raw: Any, strings: dict[str, str]) -> dict[str, Any]:
    """For a JSON table: the attributes with their own types, plus what ``_put_derived``
    added (as text)."""
    out = dict(raw or {})
    for k, v in strings.items():
        out.setdefault(k, v)
    return out


def _append_span(
    cols: list[list[Any]],
    *,
    start: int,
    trace_id: str,
    span_id: str,
    parent: str,
    name: str,
    kind: int,
    service: str,
    resource: dict[str, Any],
    scope: str,
    attrs: dict[str, Any],
    end: int,
    status: int,
    message: str,
    events: list[tuple[int, str, Any]],
    links: list[tuple[str, str, Any]],
    json_attrs: bool,
) -> None:
    attr_map = (lambda a: dict(a or {})) if json_attrs else string_map
    cols[0].append(_int64(start, "span start"))
    cols[1].append(trace_id)
    cols[2].append(span_id)
    cols[3].append(parent)
    cols[4].append("")  # TraceState: not kept by the console's records
    cols[5].append(name)
    cols[6].append(span_kind_name(kind))
    cols[7].append(service)
    cols[8].append(resource)
    cols[9].append(scope)
    cols[10].append("")  # ScopeVersion: not kept
    cols[11].append(attrs)
    # pdata subtracts unsigned nanoseconds: an end before the start wraps, as the exporter's.
    cols[12].append((end - start) & _UINT64)
    cols[13].append(status_name(status))
    cols[14].append(message)
    cols[15].append([_int64(int(t), "event time") for t, _, _ in events])
    cols[16].append([n for _, n, _ in events])
    cols[17].append([attr_map(a) for _, _, a in events])
    cols[18].append([_hex(t) for t, _, _ in links])
    cols[19].append([_hex(s) for _, s, _ in links])
    cols[20].append(["" for _ in links])
    cols[21].append([attr_map(a) for _, _, a in links])


def _flat_keys(attrs: dict[str, Any]) -> list[str]:
    """internal/util.go ``UniqueFlattenedAttributes``: every path, nested maps joined by dots,
    sorted."""
    paths: set[str] = set()

    def walk(prefix: str, m: dict[str, Any]) -> None:
        for k, v in m.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict):
                walk(path, v)
            else:
                paths.add(path)

    walk("", attrs or {})
    return sorted(paths)


# -- logs ------------------------------------------------------------------------------------


def log_insert_columns(table: TableLayout) -> tuple[str, ...]:
    """The logs table's insert columns for the layout found: ``EventName`` where it exists, the
    JSON table's key arrays where they exist. (``TimestampTime`` is a DEFAULT: never inserted.)"""
    out = _LOG_COLUMNS
    if table.has("EventName"):
        out = (*out, "EventName")
    if table.is_json("LogAttributes") and all(table.has(c) for c in _LOG_KEYS_COLUMNS):
        out = (*out, *_LOG_KEYS_COLUMNS)
    return out


def log_columns(records: Sequence[LogRecord], table: TableLayout) -> list[list[Any]]:
    """Log records as ``otel_logs`` columns, in ``log_insert_columns`` order. A log record keeps
    its service, not its resource: ``ResourceAttributes`` is ``service.name`` alone."""
    names = log_insert_columns(table)
    json_attrs = table.is_json("LogAttributes")
    cols: list[list[Any]] = [[] for _ in names]
    event_name = "EventName" in names
    for r in records:
        attrs = string_map(r.attributes)
        _put_derived(attrs, r.correlation_id, (None,) * 6, None)
        resource = {"service.name": r.service} if r.service else {}
        if not 0 <= r.severity_number <= 255:
            raise ValueError(f"severity number {r.severity_number} is out of range (0 to 255)")
        row: list[Any] = [
            _int64(r.time_ns, "log time"),
            r.trace_id or "",
            r.span_id or "",
            0,  # TraceFlags: not kept
            r.severity_text,
            r.severity_number,
            r.service,
            r.body,
            "",
            resource,
            "",
            "",
            "",
            {},
            _typed(r.attributes, attrs) if json_attrs else attrs,
        ]
        if event_name:
            row.append("")
        if len(names) > len(row):
            row.extend([_flat_keys(resource), [], _flat_keys(row[14])])
        for col, value in zip(cols, row, strict=True):
            col.append(value)
    return cols


# -- metrics ---------------------------------------------------------------------------------


def metric_insert_columns(kind: str) -> tuple[str, ...]:
    return _METRIC_COLUMNS[kind]


def _float_or_nan(value: float | None) -> float:
    """An optional double (a histogram's min and max): NaN when absent, so a reader tells "not
    sent" from 0 (the exporter writes pdata's 0 there)."""
    return math.nan if value is None else float(value)


def metric_columns(kind: str, points: Sequence[MetricPoint]) -> list[list[Any]]:
    """Metric points of one kind as the columns of ``otel_metrics_<kind>``. Times are the
    tables' ``DateTime``: whole seconds. ``AggregationTemporality`` and ``IsMonotonic`` are
    not kept by the console's records: 0 (unspecified) and false."""
    names = _METRIC_COLUMNS[kind]
    cols: list[list[Any]] = [[] for _ in names]
    for p in points:
        head: list[Any] = [
            {"service.name": p.service} if p.service else {},
            "",
            "",
            "",
            {},
            0,
            "",
            p.service,
            p.name,
            "",
            p.unit,
            string_map(p.attributes),
            _seconds(p.start_time_ns),
            _seconds(p.time_ns),
        ]
        exemplars: list[Any] = [[], [], [], [], []]
        if kind in ("gauge", "sum"):
            body: list[Any] = [_float(p.value), 0, *exemplars]
            if kind == "sum":
                body += [0, False]
        elif kind == "histogram":
            body = [
                _uint64(p.count or 0, "count"),
                _float(p.sum),
                [_uint64(int(c), "bucket count") for c in p.bucket_counts],
                [float(b) for b in p.explicit_bounds],
                *exemplars,
                0,
                _float_or_nan(p.min),
                _float_or_nan(p.max),
                0,
            ]
        elif kind == "exponential_histogram":
            body = [
                _uint64(p.count or 0, "count"),
                _float(p.sum),
                int(p.scale or 0),
                _uint64(p.zero_count, "zero count"),
                int(p.positive_offset),
                [_uint64(int(c), "bucket count") for c in p.positive_bucket_counts],
                int(p.negative_offset),
                [_uint64(int(c), "bucket count") for c in p.negative_bucket_counts],
                *exemplars,
                0,
                _float_or_nan(p.min),
                _float_or_nan(p.max),
                0,
            ]
        else:  # summary: the console keeps count and sum, no quantiles
            body = [_uint64(p.count or 0, "count"), _float(p.sum), [], [], 0]
        for col, value in zip(cols, head + body, strict=True):
            col.append(value)
    return cols


def _seconds(ns: int) -> int:
    """Nanoseconds as a ``DateTime`` (seconds, 1970 to 2106)."""
    seconds = ns // 1_000_000_000
    if not 0 <= seconds <= 0xFFFFFFFF:
        raise ValueError(f"time {ns} ns is outside a DateTime column (1970 to 2106)")
    return seconds


def _float(value: float | None) -> float:
    return 0.0 if value is None else float(value)


# -- the console's own tables ----------------------------------------------------------------


def _headers(headers: Sequence[tuple[str, bytes | None]]) -> tuple[list[str], list[Any]]:
    return [n for n, _ in headers], [v for _, v in headers]


def dead_letter_columns(
    letters: Sequence[DeadLetter], now_ns: int, version: int = 0
) -> list[list[Any]]:
    """Dead letters as ``handoff_dead_letters`` columns; ``version`` 0 as the tap writes them
    (a status change writes the letter again with its own time as the version)."""
    cols: list[list[Any]] = [[] for _ in DEAD_LETTER_COLUMNS]
    for d in letters:
        names, values = _headers(d.headers)
        row = (
            d.cluster_id or "",
            d.dlq_topic,
            d.partition,
            _int64(d.offset, "offset"),
            _int64(d.timestamp_ms, "timestamp"),
            d.key,
            names,
            values,
            d.payload,
            d.payload_truncated,
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
            d.correlation_id or "",
            d.trace_id or "",
            d.first_seen_ns or now_ns,
            d.status,
            version,
        )
        for col, value in zip(cols, row, strict=True):
            col.append(value)
    return cols


def series_columns(points: Sequence[SeriesPoint]) -> list[list[Any]]:
    cols: list[list[Any]] = [[] for _ in SERIES_COLUMNS]
    for p in points:
        for col, value in zip(
            cols, (p.name, p.subject, p.detail, p.time_ns, float(p.value)), strict=True
        ):
            col.append(value)
    return cols
