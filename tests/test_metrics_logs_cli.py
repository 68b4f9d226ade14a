"""``metrics`` and ``logs``: what the official SDK exporters sent to a real ``serve``, as a user
reads it back (gauges, sums, explicit and exponential histograms; every log severity)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetrics,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from tests.conftest import ROOT, run_cli
from tests.otlp_helpers import Serve

SEVERITIES = [
    (SeverityNumber.TRACE, "TRACE"),
    (SeverityNumber.DEBUG, "DEBUG"),
    (SeverityNumber.INFO, "INFO"),
    (SeverityNumber.WARN, "WARN"),
    (SeverityNumber.ERROR, "ERROR"),
    (SeverityNumber.FATAL, "FATAL"),
]


def _send_metrics(s: Serve, transport: str) -> None:
    """orders: a counter split by region, a gauge, a duration histogram (explicit buckets) and
    one with exponential buckets; each histogram gets 1..100 ms twice, exported twice
    (cumulative), so the window holds 200 observations, not 300."""
    exporter = (
        OTLPMetricExporter(endpoint=s.grpc_target, insecure=True)
        if transport == "grpc"
        else HttpMetrics(endpoint=f"{s.http_url}/v1/metrics")
    )
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    meters = MeterProvider(
        resource=Resource.create({"service.name": "orders"}),
        metric_readers=[reader],
        views=[
            View(
                instrument_name="queue.wait",
                aggregation=ExponentialBucketHistogramAggregation(max_size=160),
            )
        ],
    )
    meter = meters.get_meter("canvasflow")
    placed = meter.create_counter("orders.placed")
    depth = meter.create_gauge("queue.depth")
    duration = meter.create_histogram("http.server.request.duration", unit="ms")
    wait = meter.create_histogram("queue.wait", unit="ms")
    placed.add(3, {"region": "eu"})
    depth.set(7)
    for v in range(1, 101):
        duration.record(v, {"http.route": "/orders"})
        wait.record(v)
    assert reader.force_flush()
    placed.add(4, {"region": "us"})
    depth.set(9)
    for v in range(1, 101):
        duration.record(v, {"http.route": "/orders"})
        wait.record(v)
    meters.shutdown()  # the second export


def _send_logs(s: Serve, transport: str, service: str = "catalog") -> LoggerProvider:
    exporter = (
        OTLPLogExporter(endpoint=s.grpc_target, insecure=True)
        if transport == "grpc"
        else HttpLogs(endpoint=f"{s.http_url}/v1/logs")
    )
    logs = LoggerProvider(resource=Resource.create({"service.name": service}))
    logs.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    return logs


def _let_go(s: Serve, backend: str) -> None:
    """chDB is one process: the commands read the store once serve has let go of it (a SQLite
    store is read while serve writes it)."""
    if backend != "sqlite":
        assert s.stop() == 0, s.stderr


@pytest.mark.backends("sqlite", "chdb")
@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_metrics_shows_last_values_and_window_percentiles(
    store_url: str, store_args: list[str], backend: str, transport: str
) -> None:
    db = store_args
    with Serve(store_url) as s:
        _send_metrics(s, transport)
        _let_go(s, backend)
        out = run_cli("metrics", *db, "--json")
        assert out.returncode == 0, out.stderr
        got = {(m["service"], m["name"]): m for m in json.loads(out.stdout)}
        text = run_cli("metrics", *db, env={"COLUMNS": "140"})
        only = run_cli("metrics", *db, "--name", "queue.depth", "--json")
        none = run_cli("metrics", *db, "--service", "nobody", "--json")
    assert set(got) == {
        ("orders", "orders.placed"),
        ("orders", "queue.depth"),
        ("orders", "http.server.request.duration"),
        ("orders", "queue.wait"),
    }
    for m in got.values():
        assert set(m) == {
            "service", "name", "kind", "unit", "points", "last", "count", "p50", "p95", "p99",
            "min", "max", "p50_bound", "p95_bound", "p99_bound",
            "p50_range", "p95_range", "p99_range",
        }  # fmt: skip
    placed = got[("orders", "orders.placed")]
    assert (placed["kind"], placed["last"], placed["count"]) == ("sum", 7, None)
    assert placed["points"] == 3  # eu twice (cumulative), us once
    depth = got[("orders", "queue.depth")]
    assert (depth["kind"], depth["last"], depth["points"]) == ("gauge", 9, 2)
    hist = got[("orders", "http.server.request.duration")]
    assert (hist["kind"], hist["unit"], hist["count"], hist["points"]) == (
        "histogram",
        "ms",
        200,
        2,
    )
    # Default bounds 0,5,10,25,50,75,100: interpolation inside (25,50] and (75,100] is exact here.
    assert (hist["p50"], hist["p95"], hist["p99"]) == (50, 95, 99)
    assert hist["last"] is None
    assert (hist["min"], hist["max"], hist["p50_bound"], hist["p50_range"]) == (
        1,
        100,
        None,
        [25, 50],
    )
    exp = got[("orders", "queue.wait")]
    assert (exp["kind"], exp["count"]) == ("exponential_histogram", 200)
    for q, want in (("p50", 50), ("p95", 95), ("p99", 99)):
        assert abs(exp[q] - want) / want < 0.05, (q, exp[q])

    assert text.returncode == 0
    row = next(line for line in text.stdout.splitlines() if "http.server.request.duration" in line)
    assert "histogram" in row and "200" in row and "95 ms" in row
    assert [m["name"] for m in json.loads(only.stdout)] == ["queue.depth"]
    assert json.loads(none.stdout) == []


def _emit_every_severity(logs: LoggerProvider) -> None:
    logger = logs.get_logger("canvasflow")
    tracer = trace.get_tracer("t")
    for number, text in SEVERITIES:
        with tracer.start_as_current_span("work"):
            logger.emit(
                body=f"{text.lower()} about sku 42" if text == "ERROR" else f"{text} happened",
                severity_number=number,
                severity_text=text,
                attributes={"correlation.id": "order-7"} if text in ("WARN", "ERROR") else {},
            )


@pytest.mark.backends("sqlite", "chdb", "chdb-json")
@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_logs_filter_by_severity_service_text_and_journey(
    store_url: str, store_args: list[str], backend: str, transport: str
) -> None:
    db = store_args
    with Serve(store_url) as s:
        catalog = _send_logs(s, transport, "catalog")
        _emit_every_severity(catalog)
        catalog.shutdown()
        billing = _send_logs(s, transport, "billing")
        billing.get_logger("b").emit(body="invoice sent", severity_number=SeverityNumber.INFO)
        billing.shutdown()
        _let_go(s, backend)

        def logs(*args: str) -> list[dict[str, object]]:
            out = run_cli("logs", *db, "--json", *args)
            assert out.returncode == 0, out.stderr
            return json.loads(out.stdout)

        everything = logs()
        warn_up = logs("--severity", "warn", "--service", "catalog")
        grep = logs("--grep", "SKU 42")
        journey = logs("--correlation-id", "order-7")
        billing_only = logs("--service", "billing")
        text = run_cli("logs", *db, "--severity", "ERROR")
        bad = run_cli("logs", *db, "--severity", "LOUD")
    assert len(everything) == 7
    assert set(everything[0]) == {
        "time_ns", "service", "severity_text", "severity_number", "body", "trace_id", "span_id",
        "correlation_id",
    }  # fmt: skip
    assert [r["severity_text"] for r in everything if r["service"] == "catalog"] == [
        t for _, t in SEVERITIES
    ]
    assert [r["severity_number"] for r in warn_up] == [13, 17, 21]
    assert [r["body"] for r in grep] == ["error about sku 42"]
    assert [r["severity_text"] for r in journey] == ["WARN", "ERROR"]
    assert all(r["correlation_id"] == "order-7" for r in journey)
    assert [r["body"] for r in billing_only] == ["invoice sent"]
    assert text.returncode == 0
    assert ["ERROR" in text.stdout, "FATAL" in text.stdout, "WARN" in text.stdout] == [
        True,
        True,
        False,
    ]
    assert bad.returncode == 2 and "--severity" in bad.stderr


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    q: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            q.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return q


def test_logs_follow_prints_records_as_they_arrive_until_ctrl_c(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with Serve(db) as s:
        provider = _send_logs(s, "grpc")
        logger = provider.get_logger("canvasflow")
        logger.emit(body="before", severity_number=SeverityNumber.INFO)
        follow = subprocess.Popen(
            [sys.executable, "-m", "console", "logs", "--db", str(db), "--follow", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=dict(os.environ),
        )
        try:
            lines = _lines(follow)
            assert json.loads(lines.get(timeout=30))["body"] == "before"
            logger.emit(body="debug noise", severity_number=SeverityNumber.DEBUG)
            logger.emit(body="after", severity_number=SeverityNumber.ERROR)
            assert json.loads(lines.get(timeout=30))["body"] == "debug noise"
            assert json.loads(lines.get(timeout=30))["body"] == "after"
            follow.send_signal(signal.SIGINT)
            assert follow.wait(30) == 0
        finally:
            if follow.poll() is None:
                follow.kill()
                follow.wait()
        provider.shutdown()


def test_logs_follow_misses_nothing_in_a_burst(tmp_path: Path) -> None:
    import time

    from console.base.model import LogRecord
    from console.store import Store

    db = tmp_path / "h.db"
    store = Store.open(db)
    now = time.time_ns()
    store.write([LogRecord(now, "billing", 9, "INFO", "first")])
    follow = subprocess.Popen(
        [sys.executable, "-m", "console", "logs", "--db", str(db), "--follow", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        lines = _lines(follow)
        assert json.loads(lines.get(timeout=30))["body"] == "first"
        burst = [LogRecord(now + i, "billing", 9, "INFO", f"n{i}") for i in range(2500)]
        store.write(burst)  # three blocks at once, more than one page of the follower
        got = [json.loads(lines.get(timeout=30))["body"] for _ in range(2500)]
        assert got == [f"n{i}" for i in range(2500)]
        follow.send_signal(signal.SIGINT)
        assert follow.wait(30) == 0
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
