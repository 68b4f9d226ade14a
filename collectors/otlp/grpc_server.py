"""The OTLP/gRPC receiver: Trace, Metrics and Logs ``Export`` mapped to decode, sink and status.

Status codes follow the OTLP specification: a body that does not decode is INVALID_ARGUMENT, a
full store queue, or a store that cannot commit, is UNAVAILABLE with a ``google.rpc.RetryInfo``
in the trailers, a message over the size limit is RESOURCE_EXHAUSTED (grpcio enforces
``max_receive_message_length``), a missing or wrong bearer token is UNAUTHENTICATED. Rejected
records fill ``partial_success``; a request with nothing storable, or whose records the write
path refused (``RecordsRejected``), is INVALID_ARGUMENT (not retryable). OK is answered only
after the commit holding the records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent import futures
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb

from collectors.otlp.common import (
    ReceiverSettings,
    ReceiverStats,
    refuse_if_full,
    token_matches,
)
from collectors.otlp.decode import (
    Decoded,
    logs_from_request,
    metrics_from_request,
    parse_body,
)
from collectors.otlp.fast import FastTraceDecoder
from console.base.errors import Overloaded, RecordsRejected
from console.base.model import Record
from console.base.sink import Sink

__all__ = ["GrpcReceiver"]

log = logging.getLogger(__name__)


class _Exporter:
    """The one code path every Export goes through."""

    def __init__(self, sink: Sink, settings: ReceiverSettings, stats: ReceiverStats) -> None:
        self.sink = sink
        self.settings = settings
        self.stats = stats

    def export(
        self,
        request: Any,
        context: grpc.ServicerContext,
        signal: str,
        decode: Callable[[Any], Decoded],
        respond: Callable[[int, str], Any],
    ) -> Any:
        if self.settings.auth_token is not None:
            metadata = dict(context.invocation_metadata())
            auth = metadata.get("authorization")
            if not token_matches(self.settings.auth_token, auth):
                self.stats.failed("unauthenticated request", signal, "UNAUTHENTICATED")
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is required")
        records: Sequence[Record] = ()
        try:
            refuse_if_full(self.sink)
            try:
                records, rejected, message = decode(request)
            except Exception as exc:  # the decoders raise DecodeError; anything else is a bug
                self.stats.failed(f"decode: {exc}", signal, "INVALID_ARGUMENT")
                log.debug("rejected an OTLP request: %s", exc)
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cannot decode request: {exc}")
            if rejected and not records:  # nothing in it can be stored: a bad request
                self.stats.failed(f"decode: {message}", signal, "INVALID_ARGUMENT")
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)
            # Answer OK only once the commit holding these records succeeded.
            self.sink.submit(records).wait(_commit_timeout(context))
        except RecordsRejected as exc:  # the write path cannot store them: a retry would fail
            self.stats.failed(str(exc), signal, "INVALID_ARGUMENT")
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Overloaded as exc:  # a full queue, or the store failing (StoreUnavailable)
            self.stats.failed(str(exc), signal, "UNAVAILABLE", len(records))
            delay = Duration()
            delay.FromNanoseconds(int(exc.retry_after_s * 1e9))
            context.set_trailing_metadata(
                (("google.rpc.retryinfo-bin", RetryInfo(retry_delay=delay).SerializeToString()),)
            )
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        self.stats.accepted(len(records), rejected, signal)
        return respond(rejected, message)


def _commit_timeout(context: grpc.ServicerContext) -> float:
    """How long to wait for the commit: the client's deadline (less a margin), at most 60 s."""
    left = context.time_remaining()
    return 60.0 if left is None else max(0.05, min(60.0, left - 0.2))


def _handlers(exporter: _Exporter) -> list[grpc.GenericRpcHandler]:
    """Export handlers that take the raw bytes: a body that does not parse is INVALID_ARGUMENT
    (grpcio's own deserializer would answer INTERNAL)."""
    keys = exporter.settings.correlation_keys
    traces = FastTraceDecoder(keys, key_attributes=exporter.settings.key_attributes)

    def metrics(body: bytes) -> Decoded:
        return metrics_from_request(parse_body(body, "protobuf", ExportMetricsServiceRequest))

    def logs(body: bytes) -> Decoded:
        return logs_from_request(parse_body(body, "protobuf", ExportLogsServiceRequest), keys)

    services = (
        ("trace", "TraceService", "spans", traces.decode_rows, _trace_response),
        ("metrics", "MetricsService", "metrics", metrics, _metrics_response),
        ("logs", "LogsService", "logs", logs, _logs_response),
    )
    handlers: list[grpc.GenericRpcHandler] = []
    for package, service, signal, decode, respond in services:

        def export(
            body: bytes,
            context: grpc.ServicerContext,
            s: str = signal,
            d: Any = decode,
            r: Any = respond,
        ) -> Any:
            return exporter.export(body, context, s, d, r)

        method = grpc.unary_unary_rpc_method_handler(
            export, request_deserializer=None, response_serializer=_serialize
        )
        name = f"opentelemetry.proto.collector.{package}.v1.{service}"
        handlers.append(grpc.method_handlers_generic_handler(name, {"Export": method}))
    return handlers


def _serialize(message: Any) -> bytes:
    return message.SerializeToString()  # type: ignore[no-any-return]  # protobuf is untyped


def _trace_response(rejected: int, message: str) -> Any:
    if not rejected:
        return trace_pb.ExportTraceServiceResponse()
    return trace_pb.ExportTraceServiceResponse(
        partial_success=trace_pb.ExportTracePartialSuccess(
            rejected_spans=rejected, error_message=message
        )
    )


def _metrics_response(rejected: int, message: str) -> Any:
    if not rejected:
        return metrics_pb.ExportMetricsServiceResponse()
    return metrics_pb.ExportMetricsServiceResponse(
        partial_success=metrics_pb.ExportMetricsPartialSuccess(
            rejected_data_points=rejected, error_message=message
        )
    )


def _logs_response(rejected: int, message: str) -> Any:
    if not rejected:
        return logs_pb.ExportLogsServiceResponse()
    return logs_pb.ExportLogsServiceResponse(
        partial_success=logs_pb.ExportLogsPartialSuccess(
            rejected_log_records=rejected, error_message=message
        )
    )


class GrpcReceiver:
    """OTLP/gRPC on ``settings.host:settings.port``; a daemon component (start/stop/health)."""

    name = "otlp-grpc"

    # A worker holds its request until the commit that stores it: 16 let that many requests
    # share one commit (with 4, a commit held at most 4 and the others queued undecoded).
    def __init__(self, sink: Sink, settings: ReceiverSettings, *, workers: int = 16) -> None:
        self.settings = settings
        self.stats = ReceiverStats()
        self.workers = workers
        self.port: int | None = None
        self._exporter = _Exporter(sink, settings, self.stats)
        self._server: grpc.Server | None = None

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.port if self.port is not None else self.settings.port}"

    def start(self) -> None:
        limit = self.settings.max_bytes
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="otlp-grpc"),
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", 4 * 1024 * 1024),
                ("grpc.so_reuseport", 0),
            ],
            maximum_concurrent_rpcs=max(32, self.workers * 2),
        )
        server.add_generic_rpc_handlers(_handlers(self._exporter))
        target = f"{_bracket(self.settings.host)}:{self.settings.port}"
        if self.settings.tls_cert and self.settings.tls_key:
            creds = grpc.ssl_server_credentials(
                [(self.settings.tls_key.read_bytes(), self.settings.tls_cert.read_bytes())]
            )
            port = server.add_secure_port(target, creds)
        else:
            port = server.add_insecure_port(target)
        if port == 0 and self.settings.port != 0:
            raise OSError(f"cannot listen for OTLP/gRPC on {target}")
        server.start()
        self.port = port
        self._server = server

    def stop(self, grace: float = 5.0) -> None:
        """Stop taking requests; requests in flight finish (and reach the sink) first."""
        if self._server is not None:
            self._server.stop(grace).wait(grace + 1)
            self._server = None

    def health(self) -> dict[str, object]:
        return {"listening": self.address if self._server else None, **self.stats.snapshot()}


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host
