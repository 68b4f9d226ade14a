"""A team's Collector wrote the telemetry, the console reads it: the OpenTelemetry Collector's
clickhouse exporter tables made from its own v0.165.1 templates (``tests/clickhouse_helpers.py``
renders them as the exporter does, with no console code), filled through its own INSERT
statements with the rows ``exporter_traces.go`` and ``exporter_logs.go`` build for an
instrumented producer and consumer (spans from the OpenTelemetry SDK, ``correlation.id`` on
them), and ``trace --store chdb:///... --correlation-id`` finds the journey in a subprocess."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, set_span_in_context

from tests.clickhouse_helpers import exporter_insert_columns, exporter_table_ddl
from tests.conftest import run_cli

TOPIC = "orders.placed"
# pdata's SpanKind.String() and StatusCode.String(), what the exporter writes.
_KINDS = {
    SpanKind.INTERNAL: "Internal",
    SpanKind.SERVER: "Server",
    SpanKind.CLIENT: "Client",
    SpanKind.PRODUCER: "Producer",
    SpanKind.CONSUMER: "Consumer",
}
_STATUS = {StatusCode.UNSET: "Unset", StatusCode.OK: "Ok", StatusCode.ERROR: "Error"}


def _as_string(value: Any) -> str:
    """pcommon ``Value.AsString`` for the values these spans carry (internal/util.go
    ``AttributesToMap``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _map(attrs: Mapping[str, Any] | None) -> dict[str, str]:
    return {k: _as_string(v) for k, v in (attrs or {}).items()}


def _hex(value: int, width: int) -> str:
    return f"{value:0{width}x}" if value else ""


def _span_row(s: ReadableSpan) -> list[Any]:
    """One row of ``traces_insert.sql`` as ``tracesExporter.pushTraceData`` appends it."""
    ctx = s.get_span_context()
    assert ctx is not None and s.start_time is not None and s.end_time is not None
    resource = dict(s.resource.attributes)
    scope = s.instrumentation_scope
    return [
        s.start_time,
        _hex(ctx.trace_id, 32),
        _hex(ctx.span_id, 16),
        _hex(s.parent.span_id, 16) if s.parent else "",
        ctx.trace_state.to_header(),
        s.name,
        _KINDS[s.kind],
        _as_string(resource.get("service.name", "")),
        _map(resource),
        scope.name if scope else "",
        (scope.version or "") if scope else "",
        _map(s.attributes),
        s.end_time - s.start_time,
        _STATUS[s.status.status_code],
        s.status.description or "",
        [e.timestamp for e in s.events],
        [e.name for e in s.events],
        [_map(e.attributes) for e in s.events],
        [_hex(lk.context.trace_id, 32) for lk in s.links],
        [_hex(lk.context.span_id, 16) for lk in s.links],
        [lk.context.trace_state.to_header() for lk in s.links],
        [_map(lk.attributes) for lk in s.links],
    ]


def _log_row(r: ReadableLogRecord) -> list[Any]:
    """One row of ``logs_insert.sql`` as ``logsExporter.pushLogsData`` appends it."""
    rec = r.log_record
    resource = dict(r.resource.attributes) if r.resource else {}
    scope = r.instrumentation_scope
    return [
        rec.timestamp or rec.observed_timestamp,
        _hex(rec.trace_id or 0, 32),
        _hex(rec.span_id or 0, 16),
        int(rec.trace_flags or 0),
        rec.severity_text or "",
        int(rec.severity_number.value if rec.severity_number else 0),
        _as_string(resource.get("service.name", "")),
        _as_string(rec.body),
        "",
        _map(resource),
        "",
        scope.name if scope else "",
        (scope.version or "") if scope else "",
        {},
        _map(rec.attributes),
    ]


def _services(cid: str, offset: int) -> tuple[list[ReadableSpan], list[ReadableLogRecord]]:
    """checkout takes POST /orders and publishes to orders.placed; fulfilment consumes it in a
    trace of its own, linked to the send, and logs while it reserves stock."""
    out: list[ReadableSpan] = []
    records: list[ReadableLogRecord] = []
    for service in ("checkout", "fulfilment"):
        spans, logs = InMemorySpanExporter(), InMemoryLogRecordExporter()  # each service its own
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(spans))
        loggers = LoggerProvider(resource=Resource.create({"service.name": service}))
        loggers.add_log_record_processor(SimpleLogRecordProcessor(logs))
        tracer, logger = provider.get_tracer("canvasflow"), loggers.get_logger("canvasflow")
        t = time.time_ns() - 120 * 10**9
        if service == "checkout":
            root = tracer.start_span(
                "POST /orders", kind=SpanKind.SERVER, start_time=t,
                attributes={"correlation.id": cid, "http.route": "/orders"},
            )  # fmt: skip
            send = tracer.start_span(
                f"{TOPIC} send", context=set_span_in_context(root), kind=SpanKind.PRODUCER,
                start_time=t + 5_000_000,
                attributes={
                    "correlation.id": cid, "messaging.system": "kafka",
                    "messaging.destination.name": TOPIC, "messaging.operation.type": "send",
                },
            )  # fmt: skip
            send.end(end_time=t + 7_000_000)
            root.end(end_time=t + 20_000_000)
            sent = send.get_span_context()
        else:
            consume = tracer.start_span(
                f"{TOPIC} process", kind=SpanKind.CONSUMER, start_time=t + 40_000_000,
                links=[Link(sent)],
                attributes={
                    "correlation.id": cid, "messaging.system": "kafka",
                    "messaging.destination.name": TOPIC, "messaging.operation.type": "process",
                    "messaging.destination.partition.id": "0", "messaging.kafka.offset": offset,
                    "messaging.consumer.group.name": "fulfilment",
                },
            )  # fmt: skip
            reserve = tracer.start_span(
                "reserve stock", context=set_span_in_context(consume), start_time=t + 42_000_000
            )
            logger.emit(
                body=f"reserved stock for {cid}", severity_number=SeverityNumber.INFO,
                severity_text="INFO", timestamp=t + 45_000_000,
                context=set_span_in_context(reserve),
            )  # fmt: skip
            reserve.set_status(Status(StatusCode.OK))
            reserve.end(end_time=t + 50_000_000)
            consume.end(end_time=t + 55_000_000)
        provider.shutdown()
        loggers.shutdown()
        out.extend(spans.get_finished_spans())
        records.extend(logs.get_finished_logs())
    return out, records


def _insert(client: Any, template: str, table: str, rows: Sequence[list[Any]]) -> None:
    """The exporter's INSERT (``PrepareBatch`` on the template, ``Append`` per row, ``Send``):
    its column list, one block."""
    client.insert(f"otel.{table}", list(rows), column_names=exporter_insert_columns(template))


def _collector_store(where: Path) -> list[ReadableSpan]:
    """A store only a Collector wrote: the exporter's tables, two journeys' spans and logs
    through its INSERT statements; the spans of ``order-4711``."""
    import clickhouse_connect

    ours, our_logs = _services("order-4711", 42)
    other, other_logs = _services("order-4712", 43)  # a neighbour, not ours
    client = clickhouse_connect.get_client(dsn=f"chdb://{where}")
    try:
        client.command('CREATE DATABASE IF NOT EXISTS "otel"  ')  # createDatabaseDDL
        for ddl in exporter_table_ddl("otel").values():
            client.command(ddl)
        _insert(client, "traces_insert.sql", "otel_traces", [_span_row(s) for s in ours + other])
        _insert(
            client, "logs_insert.sql", "otel_logs", [_log_row(r) for r in our_logs + other_logs]
        )
        tables = {t for (t,) in client.query("SHOW TABLES FROM otel").result_rows}
    finally:
        client.close()  # chDB is one process: the command opens the directory next
    assert not any(t.startswith("handoff_") for t in tables)  # the Collector's tables only
    return ours


def test_trace_finds_a_journey_a_collector_wrote_with_the_exporters_own_tables(
    tmp_path: Path,
) -> None:

    where = tmp_path / "chdb"
    ours = _collector_store(where)

    res = run_cli("trace", "--store", f"chdb://{where}", "--correlation-id", "order-4711", "--json")
    assert res.returncode == 0, res.stderr
    j = json.loads(res.stdout)
    assert j["correlation_id"] == "order-4711"
    assert set(j["services"]) == {"checkout", "fulfilment"}
    want = {f"{s.get_span_context().span_id:016x}" for s in ours}  # type: ignore[union-attr]
    assert {s["span_id"] for s in j["spans"]} == want  # the child without the id too
    assert len(j["trace_ids"]) == 2  # the consumer's own trace, reached through its link
    consumer = next(s for s in j["spans"] if s["name"] == f"{TOPIC} process")
    assert consumer["messaging"]["destination"] == TOPIC
    assert (consumer["messaging"]["offset"], consumer["messaging"]["consumer_group"]) == (
        42,
        "fulfilment",
    )
    assert [r["body"] for r in j["logs"]] == ["reserved stock for order-4711"]
    sent = [h for h in j["handoffs"] if h["kind"] == "async"]
    assert [(h["topic"], h["from_service"], h["to_service"]) for h in sent] == [
        (TOPIC, "checkout", "fulfilment")
    ]

    text = run_cli(
        "trace", "--store", f"chdb://{where}", "--correlation-id", "order-4711",
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert text.returncode == 0, text.stderr
    assert "checkout → fulfilment" in text.stdout and "order-4712" not in text.stdout


def test_a_console_writer_fills_its_journey_keys_from_a_collectors_spans_and_finds_the_same(
    tmp_path: Path,
) -> None:
    # Read first as the Collector left it (no handoff_* tables: the exporter's tables are
    # scanned), then after a console writer opened it once (version 4's lookups made and
    # filled from the spans already there): the same journey, now through handoff_journey_keys.
    from console.store import open_store

    where = tmp_path / "chdb"
    _collector_store(where)
    args = ("trace", "--store", f"chdb://{where}", "--correlation-id", "order-4711", "--json")
    before = run_cli(*args)
    assert before.returncode == 0, before.stderr

    store = open_store(f"chdb://{where}")  # a console writer: migrates the store
    try:
        keyed = store._client.query(  # type: ignore[attr-defined]
            "SELECT toString(By), count() FROM otel.handoff_journey_keys"
            " WHERE Id = 'order-4711' GROUP BY By"
        ).result_rows
    finally:
        store.close()
    assert dict(keyed).get("correlation", 0) >= 2  # the producer's and the consumer's spans

    after = run_cli(*args)
    assert after.returncode == 0, after.stderr
    was, now = json.loads(before.stdout), json.loads(after.stdout)
    for field in ("status", "services", "trace_ids", "spans", "logs", "handoffs"):
        assert now[field] == was[field], field
