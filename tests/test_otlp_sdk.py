"""The official OpenTelemetry SDK exporters send to `serve`; the store holds what was sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from tests import stored
from tests.conftest import run_cli
from tests.otlp_helpers import Serve, rows


def _exporters(transport: str, s: Serve) -> tuple[Any, Any, Any]:
    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        target = s.grpc_target
        return (
            OTLPSpanExporter(endpoint=target, insecure=True),
            OTLPMetricExporter(endpoint=target, insecure=True),
            OTLPLogExporter(endpoint=target, insecure=True),
        )
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HLog
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HMetric,
    )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HSpan

    url = s.http_url
    return (
        HSpan(endpoint=f"{url}/v1/traces"),
        HMetric(endpoint=f"{url}/v1/metrics"),
        HLog(endpoint=f"{url}/v1/logs"),
    )


def _send_traces(exporter_factory: Any, services: list[str]) -> list[Any]:
    """Two services hand an order over: a producer span, a linked consumer span with a child."""
    memory = InMemorySpanExporter()
    providers = []
    for name in services:
        provider = TracerProvider(resource=Resource.create({"service.name": name, "env": "test"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter_factory()))
        provider.add_span_processor(SimpleSpanProcessor(memory))
        providers.append(provider)
    orders = providers[0].get_tracer("canvasflow.orders")
    catalog = providers[1].get_tracer("canvasflow.catalog")
    with orders.start_as_current_span("POST /orders", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.route", "/orders")
        with orders.start_as_current_span(
            "orders send",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": "orders.placed",
                "messaging.destination.partition.id": "2",
                "messaging.kafka.offset": 41,
                "messaging.operation.type": "send",
                "correlation.id": "order-7",
                "retry.count": 0,
                "weights": [0.5, 1.5],
                "enabled": True,
            },
        ) as produce:
            produce.add_event("enqueued", {"queue.depth": 3})
    produce_ctx = produce.get_span_context()
    with catalog.start_as_current_span(
        "orders.placed process",
        kind=SpanKind.CONSUMER,
        links=[Link(produce_ctx, {"link.kind": "follows"})],
        attributes={
            "messaging.system": "kafka",
            "messaging.destination.name": "orders.placed",
            "messaging.consumer.group.name": "catalog",
            "messaging.operation": "process",
            "app.correlation_id": "order-7",
        },
    ) as consume:
        consume.set_status(Status(StatusCode.ERROR, "sku not found"))
        with catalog.start_as_current_span("lookup sku"):
            pass
    for provider in providers:
        provider.shutdown()
    return list(memory.get_finished_spans())


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_sdk_exporters_land_exactly_in_the_store(tmp_path: Path, transport: str) -> None:
    db = tmp_path / "h.db"
    with Serve(db) as s:
        _, metric_exp, log_exp = _exporters(transport, s)
        sent = _send_traces(lambda: _exporters(transport, s)[0], ["orders", "catalog"])

        reader = PeriodicExportingMetricReader(metric_exp, export_interval_millis=3_600_000)
        meters = MeterProvider(
            resource=Resource.create({"service.name": "orders"}), metric_readers=[reader]
        )
        meter = meters.get_meter("canvasflow")
        meter.create_counter("orders.placed").add(3, {"region": "eu"})
        meter.create_histogram("order.value", unit="EUR").record(12.5)
        meter.create_histogram("order.value", unit="EUR").record(87.5)
        meter.create_gauge("queue.depth").set(7)
        meters.shutdown()

        logs = LoggerProvider(resource=Resource.create({"service.name": "catalog"}))
        logs.add_log_record_processor(SimpleLogRecordProcessor(log_exp))
        (producer,) = [span for span in sent if span.name == "orders send"]
        ctx = trace.set_span_in_context(trace.NonRecordingSpan(producer.get_span_context()))
        logs.get_logger("canvasflow").emit(
            body="sku 42 not found",
            severity_number=SeverityNumber.ERROR,
            severity_text="ERROR",
            attributes={"correlation_id": "order-7"},
            context=ctx,
        )
        logs.shutdown()
        assert s.stop() == 0
    assert "records committed" in s.stderr

    spans = {sp.span_id: sp for sp in stored.spans(db)}
    assert len(spans) == len(sent) == 4
    for span in sent:
        ctx = span.get_span_context()
        got = spans[format(ctx.span_id, "016x")]
        assert got.trace_id == format(ctx.trace_id, "032x")
        assert got.name == span.name
        assert got.start_ns == span.start_time and got.end_ns == span.end_time
        parent = format(span.parent.span_id, "016x") if span.parent else None
        assert got.parent_span_id == parent
        assert got.kind == span.kind.value + 1  # the SDK's enum starts at INTERNAL = 0
        assert got.service == span.resource.attributes["service.name"]
        expected = {k: list(v) if isinstance(v, tuple) else v for k, v in span.attributes.items()}
        assert dict(got.attributes) == expected
        assert got.status_code == span.status.status_code.value
    by_name = {sp.name: sp for sp in spans.values()}
    produce, consume = by_name["orders send"], by_name["orders.placed process"]
    assert produce.correlation_id == consume.correlation_id == "order-7"
    assert (produce.messaging_system, produce.messaging_destination) == ("kafka", "orders.placed")
    assert (
        produce.messaging_partition,
        produce.messaging_offset,
        produce.messaging_operation,
    ) == (2, 41, "send")
    assert (consume.messaging_consumer_group, consume.messaging_operation) == (
        "catalog",
        "process",
    )
    assert consume.status_message == "sku not found"
    assert produce.events[0]["name"] == "enqueued"
    links = [(sp.span_id, lk.trace_id, lk.span_id) for sp in spans.values() for lk in sp.links]
    assert links == [(consume.span_id, produce.trace_id, produce.span_id)]
    assert dict(consume.links[0].attributes) == {"link.kind": "follows"}
    assert {r["name"] for r in rows(db, "SELECT name FROM services")} == {"orders", "catalog"}

    points = {r["name"]: r for r in rows(db, "SELECT * FROM metric_points")}
    assert points["orders.placed"]["kind"] == "sum" and points["orders.placed"]["value"] == 3
    assert json.loads(points["orders.placed"]["attributes"]) == {"region": "eu"}
    hist = points["order.value"]
    assert (hist["kind"], hist["count"], hist["sum"], hist["unit"]) == (
        "histogram",
        2,
        100.0,
        "EUR",
    )
    assert sum(json.loads(hist["bucket_counts"])) == 2
    assert (points["queue.depth"]["kind"], points["queue.depth"]["value"]) == ("gauge", 7)

    (log,) = stored.logs(db)
    assert (log.service, log.body, log.severity_number) == ("catalog", "sku 42 not found", 17)
    assert log.trace_id == produce.trace_id and log.span_id == produce.span_id
    assert log.correlation_id == "order-7"

    stats = json.loads(run_cli("stats", "--db", str(db), "--json").stdout)
    assert (stats["spans"], stats["metric_points"], stats["log_records"]) == (4, 3, 1)
    assert stats["per_service"] == {
        "orders": {"spans": 2, "metric_points": 3},
        "catalog": {"spans": 2, "log_records": 1},
    }
