"""OTLP to records: pure functions, one per protobuf message, no network and no store.

Protobuf bodies are parsed by the ``opentelemetry-proto`` generated classes; OTLP JSON bodies by
``google.protobuf.json_format.ParseDict`` once the hex trace and span ids are turned into the
base64 the protobuf JSON mapping expects. Everything wrong with a body raises ``DecodeError``.

The request-level functions (``decode_trace_request`` and friends) return
``(records, rejected_count, error_message)``: records that cannot be stored (a span without a valid
trace or span id; a time, count or other fixed64 past 2**63-1, which no SQLite INTEGER holds) are
counted as rejected, which the receivers report as ``partial_success`` (or, when nothing in the
request can be stored, as a bad request).

Why ~460 lines in one room: one small function per OTLP message for the three signals, which
share the attribute, resource and id decoders and the JSON body parser; what the store cannot
hold (ranges, ids) is apart in ``validate.py``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from google.protobuf import json_format
from google.protobuf.message import DecodeError as _ProtoDecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collectors.otlp.validate import Rejections, out_of_range, span_problem
from console.base.errors import HandoffError
from console.base.model import LogRecord, MetricPoint, Span, SpanLink
from console.base.semconv import (
    DEFAULT_CORRELATION_KEYS,
    GROUP_KEYS,
    OFFSET_KEYS,
    OPERATION_KEYS,
    as_int,
    as_text,
    correlation_id,
    first,
    span_fields,
)

__all__ = [
    "DEFAULT_CORRELATION_KEYS",
    "DecodeError",
    "Decoded",
    "decode_any_value",
    "decode_attributes",
    "decode_event",
    "decode_link",
    "decode_log_record",
    "decode_logs_request",
    "decode_metric",
    "decode_metrics_request",
    "decode_resource",
    "decode_span",
    "decode_trace_request",
    "logs_from_request",
    "metrics_from_request",
    "parse_body",
    "spans_from_request",
]

UNKNOWN_SERVICE = "unknown_service"
Format = Literal["protobuf", "json"]
Decoded = tuple[list[Any], int, str]


class DecodeError(HandoffError):
    """The body is not a valid OTLP request (HTTP 400, gRPC INVALID_ARGUMENT)."""


# --- attributes -------------------------------------------------------------------------------


def decode_any_value(value: Any) -> Any:
    """An ``AnyValue`` as a JSON-compatible value; bytes become hex, an empty value None."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [decode_any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return decode_attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def decode_attributes(attributes: Iterable[Any]) -> dict[str, Any]:
    """A repeated ``KeyValue`` as a dict (a repeated key: the last one wins)."""
    out: dict[str, Any] = {}
    for kv in attributes:
        v = kv.value
        kind = v.WhichOneof("value")
        if kind == "string_value":
            out[kv.key] = v.string_value
        elif kind is None:
            out[kv.key] = None
        elif kind in _SCALARS:
            out[kv.key] = getattr(v, kind)
        else:
            out[kv.key] = decode_any_value(v)
    return out


_SCALARS = frozenset({"bool_value", "int_value", "double_value"})


def decode_resource(resource: Any) -> tuple[str, dict[str, Any]]:
    """``(service.name, attributes)`` of a ``Resource``."""
    attrs = decode_attributes(resource.attributes)
    service = attrs.get("service.name")
    return (str(service) if service not in (None, "") else UNKNOWN_SERVICE), attrs


# --- traces -----------------------------------------------------------------------------------


def decode_event(event: Any) -> dict[str, Any]:
    return {
        "name": event.name,
        "time_ns": event.time_unix_nano,
        "attributes": decode_attributes(event.attributes),
    }


def decode_link(link: Any) -> SpanLink:
    return SpanLink(link.trace_id.hex(), link.span_id.hex(), decode_attributes(link.attributes))


# A span's journey fields are derived in console/base/semconv.py, shared with a store that keeps
# only the attributes; these names stay for the fast decoder (fast.py).
_text = as_text
_int = as_int
_first = first
_OFFSET_KEYS = OFFSET_KEYS
_OPERATION_KEYS = OPERATION_KEYS
_GROUP_KEYS = GROUP_KEYS


def decode_span(
    span: Any,
    service: str,
    resource: dict[str, Any],
    scope: str = "",
    correlation_keys: Sequence[str] = DEFAULT_CORRELATION_KEYS,
    attrs: dict[str, Any] | None = None,
    key_attributes: Sequence[str] = (),
) -> Span:
    """A ``Span`` record. ``resource`` is shared between the spans of one resource; ``attrs``
    are the span's attributes when the caller decoded them already (the fast path)."""
    if attrs is None:
        attrs = decode_attributes(span.attributes)
    parent = span.parent_span_id
    status = span.status
    return Span(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        name=span.name,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        service=service,
        parent_span_id=parent.hex() if parent else None,
        kind=span.kind,
        status_code=status.code,
        status_message=status.message,
        attributes=attrs,
        resource=resource,
        events=tuple(decode_event(e) for e in span.events) if span.events else (),
        links=tuple(decode_link(lk) for lk in span.links) if span.links else (),
        scope=scope,
        **span_fields(attrs, resource, correlation_keys, key_attributes)._asdict(),
    )


def spans_from_request(
    request: Any,
    correlation_keys: Sequence[str] = DEFAULT_CORRELATION_KEYS,
    key_attributes: Sequence[str] = (),
) -> Decoded:
    """Spans of a parsed ``ExportTraceServiceRequest``; spans with bad ids are rejected."""
    spans: list[Any] = []
    rejected = Rejections("spans")
    for rs in request.resource_spans:
        service, resource = decode_resource(rs.resource)
        for ss in rs.scope_spans:
            scope = ss.scope.name
            for span in ss.spans:
                why = span_problem(span)
                if why is not None:
                    rejected.add(why)
                    continue
                spans.append(
                    decode_span(
                        span, service, resource, scope, correlation_keys, None, key_attributes
                    )
                )
    return spans, rejected.count, rejected.message()


# --- metrics ----------------------------------------------------------------------------------


def _number(point: Any) -> float | None:
    kind = point.WhichOneof("value")
    if kind == "as_double":
        return float(point.as_double)
    if kind == "as_int":
        return float(point.as_int)
    return None


def _optional(point: Any, name: str) -> float | None:
    """A histogram point's optional ``min`` or ``max`` (None when the exporter sent none)."""
    return float(getattr(point, name)) if point.HasField(name) else None


def decode_metric(metric: Any, service: str) -> list[MetricPoint]:
    """The points of one ``Metric``, whatever its kind."""
    kind = metric.WhichOneof("data")
    if kind is None:
        return []
    name, unit = metric.name, metric.unit
    points = getattr(metric, kind).data_points
    out: list[MetricPoint] = []
    for p in points:
        common = {
            "name": name,
            "service": service,
            "time_ns": p.time_unix_nano,
            "start_time_ns": p.start_time_unix_nano,
            "unit": unit,
            "attributes": decode_attributes(p.attributes),
        }
        if kind in ("gauge", "sum"):
            out.append(MetricPoint(kind=kind, value=_number(p), **common))
        elif kind == "histogram":
            out.append(
                MetricPoint(
                    kind="histogram",
                    count=p.count,
                    sum=p.sum if p.HasField("sum") else None,
                    bucket_counts=tuple(p.bucket_counts),
                    explicit_bounds=tuple(p.explicit_bounds),
                    min=_optional(p, "min"),
                    max=_optional(p, "max"),
                    **common,
                )
            )
        elif kind == "exponential_histogram":
            out.append(
                MetricPoint(
                    kind="exponential_histogram",
                    count=p.count,
                    sum=p.sum if p.HasField("sum") else None,
                    scale=p.scale,
                    zero_count=p.zero_count,
                    positive_offset=p.positive.offset,
                    positive_bucket_counts=tuple(p.positive.bucket_counts),
                    negative_offset=p.negative.offset,
                    negative_bucket_counts=tuple(p.negative.bucket_counts),
                    min=_optional(p, "min"),
                    max=_optional(p, "max"),
                    **common,
                )
            )
        else:  # summary
            out.append(MetricPoint(kind="summary", count=p.count, sum=p.sum, **common))
    return out


def metrics_from_request(request: Any) -> Decoded:
    """Points of a parsed ``ExportMetricsServiceRequest``."""
    points: list[Any] = []
    rejected = Rejections("data points")
    for rm in request.resource_metrics:
        service, _ = decode_resource(rm.resource)
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in decode_metric(metric, service):
                    why = out_of_range(
                        time_unix_nano=point.time_ns,
                        start_time_unix_nano=point.start_time_ns,
                        count=point.count,
                        zero_count=point.zero_count,
                    )
                    if why is None:
                        points.append(point)
                    else:
                        rejected.add(why)
    return points, rejected.count, rejected.message()


# --- logs -------------------------------------------------------------------------------------


def decode_log_record(
    record: Any,
    service: str,
    resource: dict[str, Any] | None = None,
    correlation_keys: Sequence[str] = DEFAULT_CORRELATION_KEYS,
) -> LogRecord:
    """A ``LogRecord``; a body that is not a string is kept as JSON text."""
    attrs = decode_attributes(record.attributes)
    body = decode_any_value(record.body) if record.HasField("body") else None
    if body is None:
        text = ""
    elif isinstance(body, str):
        text = body
    else:
        text = json.dumps(body, ensure_ascii=False)
    return LogRecord(
        time_ns=record.time_unix_nano or record.observed_time_unix_nano,
        service=service,
        severity_number=record.severity_number,
        severity_text=record.severity_text,
        body=text,
        trace_id=record.trace_id.hex() or None,
        span_id=record.span_id.hex() or None,
        attributes=attrs,
        correlation_id=correlation_id(attrs, resource or {}, correlation_keys),
    )


def logs_from_request(
    request: Any, correlation_keys: Sequence[str] = DEFAULT_CORRELATION_KEYS
) -> Decoded:
    """Log records of a parsed ``ExportLogsServiceRequest``; bad trace or span ids are rejected."""
    logs: list[Any] = []
    rejected = Rejections("log records")
    for rl in request.resource_logs:
        service, resource = decode_resource(rl.resource)
        for sl in rl.scope_logs:
            for record in sl.log_records:
                if len(record.trace_id) not in (0, 16) or len(record.span_id) not in (0, 8):
                    rejected.add("with an invalid trace or span id")
                    continue
                why = out_of_range(
                    time_unix_nano=record.time_unix_nano,
                    observed_time_unix_nano=record.observed_time_unix_nano,
                )
                if why is not None:
                    rejected.add(why)
                    continue
                logs.append(decode_log_record(record, service, resource, correlation_keys))
    return logs, rejected.count, rejected.message()


# --- bodies -----------------------------------------------------------------------------------

_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})


def _hex_ids_to_base64(node: Any) -> None:
    """Rewrite OTLP JSON's hex ids in place as the base64 protobuf JSON expects."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
                except ValueError as exc:
                    raise DecodeError(f"{key} is not hex: {value[:40]!r}") from exc
            elif isinstance(value, dict | list):
                _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                _hex_ids_to_base64(item)


def parse_body(body: bytes, fmt: Format, message_type: Any) -> Any:
    """Parse a protobuf or OTLP JSON body into ``message_type``; DecodeError when it is not one."""
    try:
        if fmt == "protobuf":
            return message_type.FromString(body)
        doc = json.loads(body)
        if not isinstance(doc, dict):
            raise DecodeError("an OTLP JSON body is an object")
        _hex_ids_to_base64(doc)
        return json_format.ParseDict(doc, message_type(), ignore_unknown_fields=True)
    except DecodeError:
        raise
    except (_ProtoDecodeError, json_format.ParseError) as exc:
        raise DecodeError(f"malformed {fmt} body: {exc}") from None
    except (ValueError, TypeError, RecursionError, binascii.Error, OverflowError) as exc:
        raise DecodeError(f"malformed {fmt} body: {type(exc).__name__}: {exc}") from None


def decode_trace_request(
    body: bytes,
    fmt: Format = "protobuf",
    correlation_keys: Sequence[str] = DEFAULT_CORRELATION_KEYS,
) -> Decoded:
    return spans_from_request(parse_body(body, fmt, ExportTraceServiceRequest), correlation_keys)


def decode_metrics_request(body: bytes, fmt: Format = "protobuf") -> Decoded:
    return metrics_from_request(parse_body(body, fmt, ExportMetricsServiceRequest))


def decode_logs_request(
    body: bytes,
    fmt: Format = "protobuf",
    correlation_keys: Sequence[str] = DEFAULT_CORRELATION_KEYS,
) -> Decoded:
    return logs_from_request(parse_body(body, fmt, ExportLogsServiceRequest), correlation_keys)
