"""Realistic OTLP trace requests for the benchmarks, built once and re-stamped with fresh ids."""

from __future__ import annotations

import os

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

__all__ = ["RequestFactory"]

TRACES_PER_REQUEST = 10


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        v = AnyValue(bool_value=value)
    elif isinstance(value, int):
        v = AnyValue(int_value=value)
    elif isinstance(value, float):
        v = AnyValue(double_value=value)
    else:
        v = AnyValue(string_value=str(value))
    return KeyValue(key=key, value=v)


def _attributes(i: int, correlation: str | None = None) -> list[KeyValue]:
    """15 attributes like a Kafka-instrumented CanvasFlow service writes."""
    return [
        _kv("messaging.system", "kafka"),
        _kv("messaging.destination.name", "orders.placed"),
        _kv("messaging.destination.partition.id", str(i % 12)),
        _kv("messaging.kafka.offset", 1_000_000 + i),
        _kv("messaging.operation.type", "process" if i % 2 else "send"),
        _kv("messaging.consumer.group.name", "catalog-service"),
        _kv("messaging.kafka.message.key", f"order-{i:08d}"),
        _kv("correlation.id", correlation or f"corr-{i:012d}"),
        _kv("http.request.method", "POST"),
        _kv("http.route", "/api/v1/orders/{order_id}"),
        _kv("http.response.status_code", 200),
        _kv("server.address", "orders.canvasflow.internal"),
        _kv("net.peer.port", 443),
        _kv("app.order.total", 129.95),
        _kv("app.feature.flag.fast_path", True),
    ]


def _placeholder(t: int) -> bytes:
    return b"\xfe\xed" + bytes([t]) + b"TRACEPLACEHOLD"[:13]


def _correlation_placeholder(t: int) -> str:
    return f"CORRELATIONPLACEHOLDER{t:010d}"  # 32 characters, as a fresh one (32 hex)


class RequestFactory:
    """``next()``: a serialized trace request of ``spans`` spans with fresh trace ids.

    ``start_ns`` places the spans in time (default: a fixed day in 2025). With
    ``correlations=True`` every trace carries its own fresh 32-hex ``correlation.id`` instead of
    one shared by the span's index, and ``last_ids`` holds ``(trace id, correlation id)`` of each
    trace of the last request (for lookups).
    """

    def __init__(
        self,
        spans: int = 100,
        service: str = "orders",
        *,
        start_ns: int = 1_764_000_000_000_000_000,
        correlations: bool = False,
    ) -> None:
        per_trace = max(1, spans // TRACES_PER_REQUEST)
        self.correlations = correlations
        self.last_ids: list[tuple[str, str]] = []
        out = []
        for i in range(spans):
            t = i // per_trace
            corr = _correlation_placeholder(t) if correlations else None
            out.append(
                Span(
                    trace_id=_placeholder(t),
                    span_id=(i + 1).to_bytes(8, "big"),
                    parent_span_id=(t * per_trace + 1).to_bytes(8, "big") if i % per_trace else b"",
                    name="orders.placed process" if i % 2 else "POST /api/v1/orders",
                    kind=Span.SPAN_KIND_CONSUMER if i % 2 else Span.SPAN_KIND_SERVER,
                    start_time_unix_nano=start_ns + i * 1000,
                    end_time_unix_nano=start_ns + i * 1000 + 250_000,
                    attributes=_attributes(i, corr),
                    status=Status(code=Status.STATUS_CODE_OK),
                )
            )
        resource = Resource(
            attributes=[
                _kv("service.name", service),
                _kv("service.version", "1.4.2"),
                _kv("deployment.environment.name", "bench"),
                _kv("host.name", "bench-host-1"),
            ]
        )
        req = ExportTraceServiceRequest(
            resource_spans=[
                ResourceSpans(
                    resource=resource,
                    scope_spans=[
                        ScopeSpans(scope=InstrumentationScope(name="canvasflow"), spans=out)
                    ],
                )
            ]
        )
        self.template = req.SerializeToString()
        self.spans = spans
        groups = sorted({i // per_trace for i in range(spans)})
        self.offsets: list[list[int]] = []
        for t in groups:
            marker = _placeholder(t)
            found, at = [], self.template.find(marker)
            while at != -1:
                found.append(at)
                at = self.template.find(marker, at + 1)
            self.offsets.append(found)
        self.corr_offsets: list[list[int]] = []
        for t in groups if correlations else ():
            marker = _correlation_placeholder(t).encode()
            found, at = [], self.template.find(marker)
            while at != -1:
                found.append(at)
                at = self.template.find(marker, at + 1)
            self.corr_offsets.append(found)

    def next(self) -> bytes:
        buf = bytearray(self.template)
        ids = []
        for n, found in enumerate(self.offsets):
            fresh = os.urandom(16)
            for at in found:
                buf[at : at + 16] = fresh
            if self.correlations:
                corr = os.urandom(16).hex().encode()
                for at in self.corr_offsets[n]:
                    buf[at : at + 32] = corr
                ids.append((fresh.hex(), corr.decode()))
        self.last_ids = ids
        return bytes(buf)
