"""The OTLP/HTTP receiver: ``POST /v1/traces``, ``/v1/metrics``, ``/v1/logs`` (Starlette, uvicorn).

Bodies are ``application/x-protobuf`` or ``application/json`` (OTLP JSON), optionally
``Content-Encoding: gzip``; the answer uses the request's Content-Type. The size limit is applied
while reading and again while inflating (``zlib`` with ``max_length``), so a gzip bomb is refused
after at most ``max_bytes`` of output. Records that cannot be stored (bad ids, a fixed64 past
2**63-1) fill ``partial_success``. Errors: 400 bad body, nothing in it storable, or records the
write path refused (``RecordsRejected``: not retryable), 401 missing or wrong bearer token,
413 too large, 415 other content types, 503 with ``Retry-After`` when the store queue is full or
the store cannot commit. 200 is answered only after the commit holding the request's records.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import threading
import zlib
from collections.abc import Callable
from typing import Any

import uvicorn
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collectors.otlp.common import (
    ReceiverSettings,
    ReceiverStats,
    refuse_if_full,
    token_matches,
)
from collectors.otlp.decode import (
    Decoded,
    DecodeError,
    Format,
    logs_from_request,
    metrics_from_request,
    parse_body,
    spans_from_request,
)
from collectors.otlp.fast import FastTraceDecoder
from console.base.errors import Overloaded, RecordsRejected, StoreUnavailable
from console.base.sink import Sink, Ticket

__all__ = ["HttpReceiver", "make_app"]

log = logging.getLogger(__name__)

_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
_INLINE_DECODE_BYTES = 256 * 1024  # larger bodies decode on a worker thread
_COMMIT_TIMEOUT_S = 30.0  # a request waits this long for its commit before it is answered 503


class _Reject(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def _inflate(body: bytes, limit: int) -> bytes:
    """Gunzip ``body``, refusing (413) as soon as the output passes ``limit``."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise _Reject(400, f"bad gzip body: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise _Reject(413, f"body larger than {limit} bytes once decompressed")
    if not inflater.eof:
        raise _Reject(400, "truncated gzip body")
    return out


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _Reject(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Reject(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding == "gzip":
        return _inflate(body, limit)
    if encoding not in ("", "identity"):
        raise _Reject(415, f"unsupported Content-Encoding {encoding!r}")
    return body


def _format_of(request: Request) -> Format:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == _PROTOBUF:
        return "protobuf"
    if ctype == _JSON:
        return "json"
    raise _Reject(
        415, f"unsupported Content-Type {ctype or '(none)'!r}; use {_PROTOBUF} or {_JSON}"
    )


def _encode(message: Any, fmt: Format) -> Response:
    if fmt == "json":
        return Response(json_format.MessageToJson(message, indent=None), media_type=_JSON)
    return Response(message.SerializeToString(), media_type=_PROTOBUF)


def _error(status: int, message: str, fmt: Format, headers: dict[str, str]) -> Response:
    response = _encode(Status(code=status, message=message), fmt)
    response.status_code = status
    response.headers.update(headers)
    return response


async def _committed(ticket: Ticket, timeout: float = _COMMIT_TIMEOUT_S) -> None:
    """Wait for the ticket's commit without blocking the event loop; raise as ``wait`` does."""
    if not ticket.done:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def resolved(_: Ticket) -> None:
            loop.call_soon_threadsafe(lambda: None if done.done() else done.set_result(None))

        ticket.add_done_callback(resolved)
        try:
            await asyncio.wait_for(done, timeout)
        except TimeoutError:
            raise StoreUnavailable(
                f"the store did not commit within {timeout:g} s", retry_after_s=1.0
            ) from None
    ticket.wait(0)


class _Signal:
    """One endpoint: the request type, how to turn it into records, how to answer."""

    def __init__(
        self,
        request_type: type,
        decode: Callable[[Any], Decoded],
        respond: Callable[..., Any],
        fast: Callable[[bytes], Decoded] | None = None,
    ) -> None:
        self.request_type = request_type
        self.decode = decode
        self.respond = respond
        self.fast = fast

    def run(self, body: bytes, fmt: Format) -> Decoded:
        if fmt == "protobuf" and self.fast is not None:
            return self.fast(body)
        return self.decode(parse_body(body, fmt, self.request_type))


def make_app(sink: Sink, settings: ReceiverSettings, stats: ReceiverStats) -> Starlette:
    """The Starlette app (tests may serve it any way they like)."""
    keys = settings.correlation_keys
    names = settings.key_attributes
    signals = {
        "traces": _Signal(
            trace_pb.ExportTraceServiceRequest,
            lambda r: spans_from_request(r, keys, names),
            lambda n, m: trace_pb.ExportTraceServiceResponse(
                partial_success=trace_pb.ExportTracePartialSuccess(
                    rejected_spans=n, error_message=m
                )
            ),
            FastTraceDecoder(keys, key_attributes=names).decode_rows,
        ),
        "metrics": _Signal(
            metrics_pb.ExportMetricsServiceRequest,
            metrics_from_request,
            lambda n, m: metrics_pb.ExportMetricsServiceResponse(
                partial_success=metrics_pb.ExportMetricsPartialSuccess(
                    rejected_data_points=n, error_message=m
                )
            ),
        ),
        "logs": _Signal(
            logs_pb.ExportLogsServiceRequest,
            lambda r: logs_from_request(r, keys),
            lambda n, m: logs_pb.ExportLogsServiceResponse(
                partial_success=logs_pb.ExportLogsPartialSuccess(
                    rejected_log_records=n, error_message=m
                )
            ),
        ),
    }

    async def export(request: Request) -> Response:
        path = request.url.path.rsplit("/", 1)[-1]
        signal = signals[path]
        counted = _COUNTED_AS[path]
        records: list[Any] = []
        fmt: Format = "json" if "json" in request.headers.get("content-type", "") else "protobuf"
        try:
            if not token_matches(settings.auth_token, request.headers.get("authorization")):
                raise _Reject(
                    401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"}
                )
            fmt = _format_of(request)
            refuse_if_full(sink)
            body = await _read_body(request, settings.max_bytes)
            if len(body) <= _INLINE_DECODE_BYTES:
                records, rejected, message = signal.run(body, fmt)
            else:
                records, rejected, message = await asyncio.to_thread(signal.run, body, fmt)
            if rejected and not records:  # nothing in it can be stored: a bad request
                raise DecodeError(message)
            # Answer 200 only once the commit holding these records succeeded.
            await _committed(sink.submit(records))
        except (DecodeError, RecordsRejected) as exc:
            stats.failed(f"decode: {exc}", counted, "400")
            log.debug("rejected an OTLP request: %s", exc)
            return _error(400, str(exc), fmt, {})
        except Overloaded as exc:  # a full queue, or the store failing (StoreUnavailable)
            stats.failed(str(exc), counted, "503", len(records))
            retry = str(max(1, math.ceil(exc.retry_after_s)))
            return _error(503, str(exc), fmt, {"Retry-After": retry})
        except _Reject as exc:
            stats.failed(str(exc), counted, str(exc.status))
            return _error(exc.status, str(exc), fmt, exc.headers)
        stats.accepted(len(records), rejected, counted)
        if rejected:
            return _encode(signal.respond(rejected, message), fmt)
        return _encode(_EMPTY[signal.request_type], fmt)

    return Starlette(routes=[Route(f"/v1/{name}", export, methods=["POST"]) for name in signals])


_COUNTED_AS = {"traces": "spans", "metrics": "metrics", "logs": "logs"}  # the stats' signal names

_EMPTY: dict[type, Any] = {
    trace_pb.ExportTraceServiceRequest: trace_pb.ExportTraceServiceResponse(),
    metrics_pb.ExportMetricsServiceRequest: metrics_pb.ExportMetricsServiceResponse(),
    logs_pb.ExportLogsServiceRequest: logs_pb.ExportLogsServiceResponse(),
}


class HttpReceiver:
    """OTLP/HTTP served by uvicorn on its own thread; a daemon component (start/stop/health)."""

    name = "otlp-http"

    def __init__(self, sink: Sink, settings: ReceiverSettings) -> None:
        self.settings = settings
        self.stats = ReceiverStats()
        self.port: int | None = None
        self._app = make_app(sink, settings, self.stats)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.port if self.port is not None else self.settings.port}"

    def start(self) -> None:
        s = self.settings
        family = socket.AF_INET6 if ":" in s.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((s.host, s.port))
        sock.listen(2048)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=10,
            ssl_certfile=str(s.tls_cert) if s.tls_cert and s.tls_key else None,
            ssl_keyfile=str(s.tls_key) if s.tls_cert and s.tls_key else None,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="otlp-http", daemon=True
        )
        self._thread.start()
        while not server.started:
            if not self._thread.is_alive():
                raise OSError(f"OTLP/HTTP receiver on {self.address} did not start")
            self._thread.join(0.02)

    def stop(self, grace: float = 10.0) -> None:
        """Stop accepting; requests in flight finish (and reach the sink) first."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(grace + 2)
            self._server = None

    def health(self) -> dict[str, object]:
        return {"listening": self.address if self._server else None, **self.stats.snapshot()}
