"""Realistic OTLP trace requests for the benchmarks, built once and re-stamped with fresh ids."""

from __future__ import annotations

import os
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

__all__ = ["RequestFactory"]

TRACES_PER_REQUEST = 10
VARIANTS = 64  # varied templates, drawn once (drawing per request costs the generator ~2 ms)


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


def _attributes(i: int, correlation: str | None = None, key: str | None = None) -> list[KeyValue]:
    """15 attributes like a Kafka-instrumented CanvasFlow service writes."""
    return [
        _kv("messaging.system", "kafka"),
        _kv("messaging.destination.name", "orders.placed"),
        _kv("messaging.destination.partition.id", str(i % 12)),
        _kv("messaging.kafka.offset", 1_000_000 + i),
        _kv("messaging.operation.type", "process" if i % 2 else "send"),
        _kv("messaging.consumer.group.name", "catalog-service"),
        _kv("messaging.kafka.message.key", f"order-{key or f'{i:08d}'}"),
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


def _span_placeholder(i: int, what: bytes) -> bytes:
    """8 bytes standing for span ``i``'s id (``SPAN``), start (``STRT``) or end (``END_``)."""
    return b"\xb0\x0b" + i.to_bytes(2, "big") + what


def _key_placeholder(i: int) -> str:
    return f"KEY{i:05d}"  # 8 characters, as a fresh one (8 hex)


def _find_all(template: bytes, marker: bytes) -> list[int]:
    found, at = [], template.find(marker)
    while at != -1:
        found.append(at)
        at = template.find(marker, at + 1)
    return found


class RequestFactory:
    """``next()``: a serialized trace request of ``spans`` spans with fresh trace ids.

    ``start_ns`` places the spans in time (default: a fixed day in 2025). With
    ``correlations=True`` every trace carries its own fresh 32-hex ``correlation.id`` instead of
    one shared by the span's index, and ``last_ids`` holds ``(trace id, correlation id)`` of each
    trace of the last request (for lookups). With ``varied=True`` the spans of a request also
    get random span ids, message keys and start/end times (the factory's creation time, random
    durations), drawn for ``VARIANTS`` templates used in turn: without it the 100 spans of a
    request differ only in their trace ids, which flatters a store that compresses each batch.
    """

    def __init__(
        self,
        spans: int = 100,
        service: str = "orders",
        *,
        start_ns: int = 1_764_000_000_000_000_000,
        correlations: bool = False,
        varied: bool = False,
    ) -> None:
        per_trace = max(1, spans // TRACES_PER_REQUEST)
        self.correlations, self.varied = correlations, varied
        self.last_ids: list[tuple[str, str]] = []
        out = []
        for i in range(spans):
            t = i // per_trace
            corr = _correlation_placeholder(t) if correlations else None
            root = t * per_trace
            if varied:
                span_id, parent = _span_placeholder(i, b"SPAN"), _span_placeholder(root, b"SPAN")
                start = int.from_bytes(_span_placeholder(i, b"STRT"), "little")
                end = int.from_bytes(_span_placeholder(i, b"END_"), "little")
            else:
                span_id, parent = (i + 1).to_bytes(8, "big"), (root + 1).to_bytes(8, "big")
                start, end = start_ns + i * 1000, start_ns + i * 1000 + 250_000
            out.append(
                Span(
                    trace_id=_placeholder(t),
                    span_id=span_id,
                    parent_span_id=parent if i % per_trace else b"",
                    name="orders.placed process" if i % 2 else "POST /api/v1/orders",
                    kind=Span.SPAN_KIND_CONSUMER if i % 2 else Span.SPAN_KIND_SERVER,
                    start_time_unix_nano=start,
                    end_time_unix_nano=end,
                    attributes=_attributes(i, corr, _key_placeholder(i) if varied else None),
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
        # per span: (id offsets, start offsets, end offsets, key offsets), when varied
        self.span_offsets = [
            tuple(
                _find_all(self.template, m)
                for m in (
                    _span_placeholder(i, b"SPAN"),
                    _span_placeholder(i, b"STRT"),
                    _span_placeholder(i, b"END_"),
                    _key_placeholder(i).encode(),
                )
            )
            for i in range(spans if varied else 0)
        ]
        self.variants = [
            self._vary(bytearray(self.template)) for _ in range(VARIANTS if varied else 0)
        ]
        self.sent = 0

    def next(self) -> bytes:
        self.sent += 1
        buf = bytearray(self.variants[self.sent % VARIANTS] if self.varied else self.template)
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

    def _vary(self, buf: bytearray) -> bytes:
        now = time.time_ns()
        noise = os.urandom(16 * len(self.span_offsets))
        for i, (ids, starts, ends, keys) in enumerate(self.span_offsets):
            r = noise[16 * i : 16 * i + 16]
            start = now + i * 1000 + int.from_bytes(r[8:10], "big") * 10
            end = (start + 50_000 + int.from_bytes(r[10:13], "big") * 3).to_bytes(8, "little")
            for at in ids:
                buf[at : at + 8] = r[:8]
            for at in starts:
                buf[at : at + 8] = start.to_bytes(8, "little")
            for at in ends:
                buf[at : at + 8] = end
            for at in keys:
                buf[at : at + 8] = r[12:16].hex().encode()
        return bytes(buf)
