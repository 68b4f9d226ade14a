"""A tiny in-test OTLP/gRPC receiver: the real wire protocol, real SDK exporters on the other end.

It keeps every decoded span, log record and metric name, grouped by ``service.name``.
(Stand-in until the console's own collector, ``console/runtime/daemon.py``, is merged on this
branch.)
"""

from __future__ import annotations

import threading
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def _attrs(kvs: list[KeyValue]) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


@dataclass
class Span:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    links: list[str]
    events: list[str]
    status_code: int


@dataclass
class Received:
    spans: list[Span] = field(default_factory=list)
    logs: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    metrics: list[tuple[str, str]] = field(default_factory=list)
    # (service, severity number, trace id hex, span id hex, attributes) of each log record
    log_records: list[tuple[str, int, str, str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def services(self) -> set[str]:
        with self.lock:
            return {s.service for s in self.spans}


class _Trace(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, rx: Received) -> None:
        self.rx = rx

    def Export(self, request: Any, context: Any) -> Any:
        out = []
        for rs in request.resource_spans:
            service = str(_attrs(rs.resource.attributes).get("service.name"))
            for ss in rs.scope_spans:
                for s in ss.spans:
                    out.append(
                        Span(
                            service,
                            s.name,
                            s.kind,
                            s.trace_id.hex(),
                            s.span_id.hex(),
                            s.parent_span_id.hex(),
                            _attrs(s.attributes),
                            [link.trace_id.hex() for link in s.links],
                            [e.name for e in s.events],
                            s.status.code,
                        )
                    )
        with self.rx.lock:
            self.rx.spans.extend(out)
        return trace_service_pb2.ExportTraceServiceResponse()


class _Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, rx: Received) -> None:
        self.rx = rx

    def Export(self, request: Any, context: Any) -> Any:
        with self.rx.lock:
            for rl in request.resource_logs:
                service = str(_attrs(rl.resource.attributes).get("service.name"))
                for sl in rl.scope_logs:
                    for r in sl.log_records:
                        attrs = _attrs(r.attributes)
                        self.rx.logs.append((service, str(_value(r.body)), attrs))
                        self.rx.log_records.append(
                            (service, r.severity_number, r.trace_id.hex(), r.span_id.hex(), attrs)
                        )
        return logs_service_pb2.ExportLogsServiceResponse()


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, rx: Received) -> None:
        self.rx = rx

    def Export(self, request: Any, context: Any) -> Any:
        with self.rx.lock:
            for rm in request.resource_metrics:
                service = str(_attrs(rm.resource.attributes).get("service.name"))
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        self.rx.metrics.append((service, m.name))
        return metrics_service_pb2.ExportMetricsServiceResponse()


class OtlpReceiver:
    """Serve OTLP/gRPC on 127.0.0.1:<free port> until ``stop()``."""

    def __init__(self) -> None:
        self.received = Received()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(
            _Trace(self.received), self.server
        )
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_Logs(self.received), self.server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(
            _Metrics(self.received), self.server
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OtlpReceiver:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(grace=1).wait()
