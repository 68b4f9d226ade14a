"""``serve --metrics``: Prometheus scrapes the console itself, and the counters match what was
sent (the official OTel SDK exporters send; prometheus-client's own parser reads the scrape)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from console.runtime.daemon import Daemon, OtlpSettings, build_daemon
from console.store import Storage, Store
from console.store.api import AlertChanges, AlertRow
from tests import stored
from tests.conftest import run_cli
from tests.otlp_helpers import Serve, rows, trace_request, wait_for
from tests.prometheus_helpers import scrape, value
from tests.store_faults import SmallDisk, small_disk


def _send_spans(exporter: object, service: str, n: int) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))  # type: ignore[arg-type]  # an SDK exporter
    tracer = provider.get_tracer("metrics-test")
    for i in range(n):
        with tracer.start_as_current_span(f"step-{i}"):
            pass
    provider.shutdown()  # flushes: every span exported (or the exporter gave up) on return


def _send_metrics(exporter: OTLPMetricExporter) -> None:
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    meters = MeterProvider(
        resource=Resource.create({"service.name": "orders"}), metric_readers=[reader]
    )
    meter = meters.get_meter("metrics-test")
    placed = meter.create_counter("orders.placed", unit="{order}")
    placed.add(3, {"region": "eu"})
    placed.add(1, {"region": "us"})
    meter.create_histogram("order.value", unit="EUR").record(12.5)
    meters.shutdown()  # one export of three data points


def _send_logs(exporter: OTLPLogExporter, n: int) -> None:
    logs = LoggerProvider(resource=Resource.create({"service.name": "catalog"}))
    logs.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    for i in range(n):
        logs.get_logger("metrics-test").emit(
            body=f"line {i}", severity_number=SeverityNumber.INFO, severity_text="INFO"
        )
    logs.shutdown()


def test_a_scrape_counts_exactly_what_the_sdk_exporters_sent(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with Serve(db, "--metrics", ":0") as s:
        assert s.metrics_url is not None
        assert urlsplit(s.metrics_url).hostname == "127.0.0.1"  # no host given: loopback only
        before = scrape(s.metrics_url)
        assert value(before, "handoff_alerts_firing", severity="critical") == 0

        _send_spans(GrpcSpans(endpoint=s.grpc_target, insecure=True), "orders", 7)
        _send_spans(HttpSpans(endpoint=f"{s.http_url}/v1/traces"), "catalog", 2)
        _send_metrics(OTLPMetricExporter(endpoint=s.grpc_target, insecure=True))
        _send_logs(OTLPLogExporter(endpoint=f"{s.http_url}/v1/logs"), 4)
        bad = httpx.post(
            f"{s.http_url}/v1/logs",
            content=b"not a protobuf",
            headers={"content-type": "application/x-protobuf"},
        )
        assert bad.status_code == 400

        after = scrape(s.metrics_url)
        stored_spans = len(stored.spans(db))
        stored_points = len(rows(db, "SELECT 1 FROM metric_points"))
        stored_logs = len(stored.logs(db))
    assert (stored_spans, stored_points, stored_logs) == (9, 3, 4)

    sent = {("spans", "grpc"): 7, ("spans", "http"): 2, ("metrics", "grpc"): 3, ("logs", "http"): 4}
    for (signal, receiver), n in sent.items():
        for counter in ("received", "committed"):
            name = f"handoff_records_{counter}_total"
            assert value(after, name, signal=signal, receiver=receiver) == n, (name, signal)
        assert value(after, "handoff_records_refused_total", signal=signal, receiver=receiver) == 0
    assert value(after, "handoff_records_received_total", signal="spans", receiver="grpc") == 7
    assert value(after, "handoff_records_received_total", signal="logs", receiver="grpc") == 0
    refused = {
        dict(labels)["code"]: v
        for (name, labels), v in after.items()
        if name == "handoff_requests_refused_total"
    }
    assert refused == {"400": 1}
    assert value(after, "handoff_store_committed_records_total") == 16
    assert value(after, "handoff_store_commit_seconds_count") >= 1
    assert value(after, "handoff_writer_queue_records") == 0
    assert value(after, "handoff_store_failing") == 0
    assert value(after, "handoff_store_bytes") >= db.stat().st_size > 0
    assert value(after, "handoff_alerts_firing", severity="warning") == 0


@pytest.fixture
def disk() -> Iterator[SmallDisk]:
    with small_disk("16m") as d:
        yield d


def _post(url: str, seed: int, n: int) -> httpx.Response:
    body = trace_request(n, service="refused", seed=seed).SerializeToString()
    return httpx.post(
        f"{url}/v1/traces",
        content=body,
        headers={"content-type": "application/x-protobuf"},
        timeout=60,
    )


def test_a_full_disk_shows_as_refused_records_and_a_failing_store(disk: SmallDisk) -> None:
    db = disk.path / "h.db"
    with Serve(db, "--metrics", "127.0.0.1:0") as s:
        assert s.metrics_url is not None
        assert _post(s.http_url, 1, 5).status_code == 200
        disk.fill()
        answers = [_post(s.http_url, 10 + i, 3).status_code for i in range(3)]
        assert answers == [503, 503, 503]
        during = scrape(s.metrics_url)
        disk.free()
        wait_for(lambda: _post(s.http_url, 99, 2).status_code == 200, timeout=30)
        after = scrape(s.metrics_url)

    labels = {"signal": "spans", "receiver": "http"}
    assert value(during, "handoff_requests_refused_total", code="503", **labels) == 3
    assert value(during, "handoff_records_refused_total", **labels) == 9
    assert value(during, "handoff_records_committed_total", **labels) == 5  # nothing refused
    assert value(during, "handoff_records_received_total", **labels) == 14
    assert value(during, "handoff_store_failing") == 1
    assert value(during, "handoff_store_commit_failures_total") >= 1

    assert value(after, "handoff_store_failing") == 0
    assert value(after, "handoff_records_committed_total", **labels) == 7
    # The requests refused while the store retried are counted too (wait_for's own tries).
    assert value(after, "handoff_requests_refused_total", code="503", **labels) >= 3


def test_two_daemons_in_one_process_keep_their_own_counts_and_alerts(tmp_path: Path) -> None:
    """Each daemon has its own registry: the second neither clashes with the first (a duplicate
    metric name in prometheus-client's global registry would raise) nor shows its counts."""
    otlp = OtlpSettings(grpc_at=None, http_at=("127.0.0.1", 0))
    daemons = [
        build_daemon(
            Store.open(tmp_path / f"{n}.db"), otlp=otlp, tap=None, metrics_at=("127.0.0.1", 0)
        )
        for n in ("a", "b")
    ]
    for daemon in daemons:
        daemon.start()
    try:
        urls = [f"http://{_component(d, 'metrics').address}/metrics" for d in daemons]
        http_a = _component(daemons[0], "otlp-http").address
        assert _post(f"http://{http_a}", 1, 4).status_code == 200
        # `watch` or the TUI evaluates the rules and keeps their state in the store
        _alerts(daemons[0].store, critical="firing", **{"page-me": "firing", "warning": "pending"})
        a, b = scrape(urls[0]), scrape(urls[1])
        _alerts(daemons[0].store, critical="resolved", warning="firing")
        later = scrape(urls[0])
    finally:
        for daemon in daemons:
            daemon.stop()
    spans_http = {"signal": "spans", "receiver": "http"}
    assert value(a, "handoff_records_committed_total", **spans_http) == 4
    assert value(b, "handoff_records_committed_total", **spans_http) == 0
    assert value(a, "handoff_alerts_firing", severity="critical") == 1
    assert value(a, "handoff_alerts_firing", severity="warning") == 0  # pending: not yet firing
    assert value(a, "handoff_alerts_firing", severity="page-me") == 1
    assert value(b, "handoff_alerts_firing", severity="critical") == 0
    firing = {
        dict(k[1])["severity"]: v for k, v in later.items() if k[0] == "handoff_alerts_firing"
    }
    assert firing == {"critical": 0, "warning": 1, "info": 0, "page-me": 1}


def _alerts(store: Storage, **states: str) -> None:
    """One alert per severity in ``states``, in that state, as the alerts engine writes it."""
    rows = [
        AlertRow(
            "rule-" + severity,
            json.dumps({"alertname": "rule-" + severity, "severity": severity}, sort_keys=True),
            state,
            1,
            2 if state != "pending" else None,
            3 if state == "resolved" else None,
            1.0,
            "summary",
            "{}",
        )
        for severity, state in states.items()
    ]
    store.change_alerts(lambda _: AlertChanges(rows, (), ()))


def _component(daemon: Daemon, name: str) -> Any:
    return next(c for c in daemon.components if c.name == name)


def test_a_bad_or_taken_metrics_address_is_refused_in_one_line(tmp_path: Path) -> None:
    off = ["--db", str(tmp_path / "h.db"), "--otlp-grpc", "off", "--otlp-http", "off"]
    done = run_cli("serve", *off, "--metrics", "9464")
    assert done.returncode == 2
    assert "--metrics: '9464' is not HOST:PORT" in done.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli("serve", *off, "--metrics", f"127.0.0.1:{port}")
    assert done.returncode == 2
    assert "cannot listen" in done.stderr and "Traceback" not in done.stderr
