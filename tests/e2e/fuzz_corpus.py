"""Real OTLP requests (encoded by the official SDK's own encoders) and cheap mutations of them,
for the fuzz tests: bytes as a service would send them, then broken in the ways wires break."""

from __future__ import annotations

import base64
import gzip
import json
import random
from typing import Any

from google.protobuf import json_format

__all__ = ["MUTATORS", "mutate", "real_requests"]


def _hex_ids(node: Any) -> Any:
    """OTLP JSON carries trace and span ids as hex, not protobuf JSON's base64."""
    if isinstance(node, dict):
        return {
            k: base64.b64decode(v).hex()
            if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str)
            else _hex_ids(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids(v) for v in node]
    return node


def real_requests() -> list[tuple[str, str, bytes]]:
    """``(signal, format, body)`` for traces, metrics and logs, protobuf and OTLP JSON."""
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Link, SpanKind

    resource = Resource.create({"service.name": "fuzz-orders", "host.name": "n1"})
    spans = InMemorySpanExporter()
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(SimpleSpanProcessor(spans))
    tracer = tp.get_tracer("fuzz")
    with tracer.start_as_current_span("POST /orders", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.route", "/orders")
        with tracer.start_as_current_span(
            "orders send",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": "orders",
                "messaging.kafka.offset": 41,
                "correlation.id": "order-7",
                "weights": [0.5, 1.5],
            },
        ) as p:
            p.add_event("enqueued", {"depth": 3})
    with tracer.start_as_current_span(
        "orders process", kind=SpanKind.CONSUMER, links=[Link(p.get_span_context())]
    ):
        pass
    tp.shutdown()
    logs = InMemoryLogRecordExporter()
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(SimpleLogRecordProcessor(logs))
    lp.get_logger("fuzz").emit(
        body="order-7 placed", severity_number=SeverityNumber.WARN, attributes={"order": "o-7"}
    )
    lp.shutdown()
    reader = InMemoryMetricReader()
    mp = MeterProvider(resource=resource, metric_readers=[reader])
    meter = mp.get_meter("fuzz")
    meter.create_counter("orders.placed").add(3, {"region": "eu"})
    meter.create_histogram("order.value").record(12.5)
    meter.create_up_down_counter("queue.depth").add(-2)
    metrics = reader.get_metrics_data()
    assert metrics is not None
    mp.shutdown()
    messages: dict[str, Any] = {
        "traces": encode_spans(spans.get_finished_spans()),
        "logs": encode_logs([r for r in logs.get_finished_logs()]),
        "metrics": encode_metrics(metrics),
    }
    out = []
    for signal, msg in messages.items():
        out.append((signal, "protobuf", msg.SerializeToString()))
        doc = _hex_ids(json_format.MessageToDict(msg))
        out.append((signal, "json", json.dumps(doc).encode()))
    return out


def _flip(b: bytearray, r: random.Random) -> None:
    if b:
        b[r.randrange(len(b))] = r.randrange(256)


def _insert(b: bytearray, r: random.Random) -> None:
    at = r.randrange(len(b) + 1)
    b[at:at] = r.randbytes(r.randint(1, 8))


def _delete(b: bytearray, r: random.Random) -> None:
    if b:
        at = r.randrange(len(b))
        del b[at : at + r.randint(1, 16)]


def _truncate(b: bytearray, r: random.Random) -> None:
    del b[r.randrange(len(b) + 1) :]


def _duplicate(b: bytearray, r: random.Random) -> None:
    if b:
        at = r.randrange(len(b))
        chunk = b[at : at + r.randint(1, 64)]
        b[at:at] = chunk


def _varint_max(b: bytearray, r: random.Random) -> None:
    """A length or tag byte turned into a huge varint: the classic protobuf trap."""
    at = r.randrange(len(b) + 1)
    b[at:at] = b"\xff" * r.randint(1, 10)


def _json_token(b: bytearray, r: random.Random) -> None:
    at = r.randrange(len(b) + 1)
    b[at:at] = r.choice([b"{", b"}", b"[", b"]", b'"', b":", b",", b"null", b"-1e999", b"\\u"])


MUTATORS = (_flip, _insert, _delete, _truncate, _duplicate, _varint_max, _json_token)


def mutate(body: bytes, r: random.Random) -> bytes:
    """One to four mutations of ``body``."""
    buf = bytearray(body)
    for _ in range(r.randint(1, 4)):
        r.choice(MUTATORS)(buf, r)
    return bytes(buf)


def gzipped(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=1)
