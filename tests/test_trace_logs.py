"""Logs and span events in the journey: what the services said while the order went wrong,
sent by the official SDK exporters, in ``trace --json`` and interleaved in ``trace``'s text."""

from __future__ import annotations

import json

import pytest
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from tests.conftest import run_cli
from tests.otlp_helpers import Serve


def _send(s: Serve) -> None:
    resource = Resource.create({"service.name": "canvasflow-fulfillment"})
    spans = TracerProvider(resource=resource)
    spans.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=s.grpc_target, insecure=True))
    )
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=s.grpc_target, insecure=True))
    )
    tracer, logger = spans.get_tracer("canvasflow"), logs.get_logger("canvasflow")
    with tracer.start_as_current_span(
        "process orders", attributes={"correlation.id": "cid-logs"}
    ) as span:
        logger.emit(body="charging card", severity_number=SeverityNumber.INFO, severity_text="INFO")
        try:
            raise TimeoutError("print shop API timed out")
        except TimeoutError as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, "transient failure"))
    with tracer.start_as_current_span(
        "process orders-retry", attributes={"correlation.id": "cid-logs"}
    ):
        pass
    # A log with only the correlation id, outside any span, belongs to the journey too.
    logger.emit(
        body="order shipped",
        severity_number=SeverityNumber.INFO,
        severity_text="INFO",
        attributes={"correlation.id": "cid-logs"},
        context=trace.set_span_in_context(trace.INVALID_SPAN),
    )
    spans.shutdown()
    logs.shutdown()


@pytest.mark.backends("sqlite", "chdb", "chdb-json")
def test_trace_shows_the_journeys_logs_and_exceptions(
    store_url: str, store_args: list[str]
) -> None:
    with Serve(store_url) as s:
        _send(s)
        assert s.stop() == 0

    res = run_cli("trace", "--correlation-id", "cid-logs", *store_args, "--json")
    assert res.returncode == 0, res.stderr
    j = json.loads(res.stdout)
    failed = next(sp for sp in j["spans"] if sp["name"] == "process orders")
    assert [r["body"] for r in j["logs"]] == ["charging card", "order shipped"]
    first = j["logs"][0]
    assert set(first) == {"time_ns", "service", "severity_text", "body", "trace_id", "span_id"}
    assert (first["service"], first["severity_text"]) == ("canvasflow-fulfillment", "INFO")
    assert (first["trace_id"], first["span_id"]) == (failed["trace_id"], failed["span_id"])
    assert j["logs"][1]["span_id"] is None
    (event,) = failed["events"]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "TimeoutError"
    assert event["attributes"]["exception.message"] == "print shop API timed out"
    assert "Traceback" in event["attributes"]["exception.stacktrace"]

    text = run_cli(
        "trace", "--correlation-id", "cid-logs", *store_args, env={"COLUMNS": "200"}
    ).stdout
    lines = text.splitlines()
    # The waterfall, below the critical path on top (which names the spans too).
    lines = lines[next(i for i, line in enumerate(lines) if line.rstrip().endswith("took")) :]

    def row(needle: str) -> int:
        return next(i for i, line in enumerate(lines) if needle in line)

    # By time: the span, its log, its exception, the retry, then the last log.
    assert (
        row("process orders ")
        < row("≡ INFO charging card")
        < row("⚠ TimeoutError: print shop API timed out")
        < row("process orders-retry")
        < row("≡ INFO order shipped")
    )
