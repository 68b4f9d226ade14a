"""OTLP over Kafka with messages in the Collector kafka exporter's exact format, produced by
confluent-kafka: serialized ``Export*ServiceRequest`` (``otlp_proto``) and OTLP JSON
(``otlp_json``), one request per message, into ``serve --otlp-kafka-topics``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from console.readers.panels import health
from console.store import Store
from tests.conftest import run_cli
from tests.otlp_helpers import Serve, trace_request, wait_for
from tui_app.screens.overview import health_text

GARBAGE = b"\xff\xfeSECRET-PAYLOAD not otlp at all"


def _resource(service: str) -> Resource:
    return Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))])


def metrics_request(points: int, service: str = "billing") -> ExportMetricsServiceRequest:
    import time

    now = time.time_ns()
    gauge = Gauge(
        data_points=[
            NumberDataPoint(time_unix_nano=now + i, as_double=float(i)) for i in range(points)
        ]
    )
    metric = Metric(name="queue.depth", unit="1", gauge=gauge)
    return ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(
                resource=_resource(service), scope_metrics=[ScopeMetrics(metrics=[metric])]
            )
        ]
    )


def logs_request(n: int, service: str = "billing") -> ExportLogsServiceRequest:
    import time

    now = time.time_ns()
    records = [
        LogRecord(time_unix_nano=now + i, body=AnyValue(string_value=f"line {i}")) for i in range(n)
    ]
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(resource=_resource(service), scope_logs=[ScopeLogs(log_records=records)])
        ]
    )


def otlp_json(message: object) -> bytes:
    """OTLP JSON as the exporter's ``otlp_json`` writes it: hex ids, lowerCamelCase keys."""
    doc = json_format.MessageToDict(message)

    def hexify(node: object) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                    import base64

                    node[k] = base64.b64decode(v).hex()
                else:
                    hexify(v)
        elif isinstance(node, list):
            for item in node:
                hexify(item)

    hexify(doc)
    return json.dumps(doc).encode()


def produce(bootstrap: str, messages: list[tuple[str, bytes]]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for topic, value in messages:
        producer.produce(topic, value)
    assert producer.flush(30) == 0


def topics() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    return {s: f"test.otlp.{tag}.{s}" for s in ("traces", "metrics", "logs")}


def spec(t: dict[str, str]) -> str:
    return ",".join(f"{s}={name}" for s, name in t.items())


def group() -> str:
    return f"test-otlp-{uuid.uuid4().hex[:10]}"


def counts(db: Path) -> dict[str, Any]:
    return dict(Store.open(db, create=False).counts())


def test_serve_takes_proto_and_json_and_skips_garbage(kafka_bootstrap: str, db_path: Path) -> None:
    t = topics()
    produce(
        kafka_bootstrap,
        [
            (t["traces"], trace_request(4, service="orders", seed=7).SerializeToString()),
            (t["traces"], GARBAGE),
            (t["traces"], otlp_json(trace_request(3, service="orders", seed=8))),
            (t["metrics"], metrics_request(5).SerializeToString()),
            (t["metrics"], otlp_json(metrics_request(2))),
            (t["logs"], logs_request(6).SerializeToString()),
            (t["logs"], b'{"resourceLogs": [ not json'),
            (t["logs"], otlp_json(logs_request(1))),
        ],
    )
    args = ["--otlp-grpc", "off", "--otlp-http", "off", "--bootstrap", kafka_bootstrap]
    with Serve(db_path, *args, "--otlp-kafka-topics", spec(t), "--otlp-kafka-group", group()) as s:
        want = {"spans": 7, "metric_points": 7, "log_records": 7}
        wait_for(lambda: {k: counts(db_path)[k] for k in want} == want, timeout=60)
        s.stop()
    assert {k: counts(db_path)[k] for k in want} == want
    assert f"skipped bad message {t['traces']}[0]@1 (32 bytes" in s.stderr
    assert f"skipped bad message {t['logs']}[0]@1" in s.stderr
    assert "SECRET-PAYLOAD" not in s.stderr and "not json" not in s.stderr
    assert "OTLP/Kafka: 21 records committed, 2 bad messages skipped" in s.stderr


def test_restart_resumes_from_the_group_offsets(kafka_bootstrap: str, db_path: Path) -> None:
    """What arrives while the console is stopped is taken when it is back; nothing twice."""
    t = topics()
    args = ["--otlp-grpc", "off", "--otlp-http", "off", "--bootstrap", kafka_bootstrap]
    args += ["--otlp-kafka-topics", spec(t), "--otlp-kafka-group", group()]
    produce(kafka_bootstrap, [(t["logs"], logs_request(10).SerializeToString())])
    with Serve(db_path, *args) as s:
        wait_for(lambda: counts(db_path)["log_records"] == 10, timeout=60)
        s.stop()
    produce(kafka_bootstrap, [(t["logs"], logs_request(5).SerializeToString())])
    with Serve(db_path, *args) as s:
        wait_for(lambda: counts(db_path)["log_records"] == 15, timeout=60)
        s.stop()
    assert counts(db_path)["log_records"] == 15  # log records are not deduplicated: none twice


def test_lag_shows_on_the_health_line(kafka_bootstrap: str, db_path: Path) -> None:
    t = topics()
    produce(kafka_bootstrap, [(t["traces"], trace_request(2, seed=3).SerializeToString())])
    args = ["--otlp-grpc", "off", "--otlp-http", "off", "--bootstrap", kafka_bootstrap]
    with Serve(db_path, *args, "--otlp-kafka-topics", spec(t), "--otlp-kafka-group", group()):

        def line() -> str:
            reader = Store.open(db_path, create=False).reader()
            try:
                import time

                return health_text(health(reader, time.time_ns())).plain
            finally:
                reader.close()

        wait_for(lambda: "otlp-kafka up (lag 0 msgs)" in line(), timeout=30)


def test_bad_topic_spec_and_kafka_settings_are_refused(kafka_bootstrap: str, db_path: Path) -> None:
    off = ["--db", str(db_path), "--otlp-grpc", "off", "--otlp-http", "off"]
    off += ["--bootstrap", kafka_bootstrap]
    done = run_cli("serve", *off, "--otlp-kafka-topics", "payments")
    assert done.returncode == 2
    assert "cannot tell which signal topic 'payments' carries" in done.stderr
    # -X reaches the OTLP consumer as it reaches the tap
    done = run_cli("serve", *off, "--otlp-kafka", "-X", "no.such.property=1")
    assert done.returncode == 2
    assert "bad Kafka configuration" in done.stderr and "no.such.property" in done.stderr


def test_tui_runtime_consumes_and_reports_its_state(kafka_bootstrap: str, db_path: Path) -> None:
    """``tui --otlp-kafka-topics``: the in-process runtime takes the records and its health
    line says the consumer is up, with its lag."""
    from console.runtime.daemon import OtlpKafkaSettings
    from console.runtime.inprocess import start_runtime

    t = topics()
    produce(kafka_bootstrap, [(t["logs"], logs_request(4).SerializeToString())])
    settings = OtlpKafkaSettings(spec(t), {"bootstrap.servers": kafka_bootstrap}, group())
    runtime = start_runtime(
        db_path,
        bootstrap=kafka_bootstrap,
        topics="off",
        otlp_grpc="off",
        otlp_http="off",
        otlp_kafka=settings,
    )
    try:
        wait_for(lambda: counts(db_path)["log_records"] == 4, timeout=60)
        wait_for(lambda: "otlp_kafka_lag" in runtime.status(), timeout=30)
        status = runtime.status()
        reader = Store.open(db_path, create=False).reader()
        try:
            import time

            line = health_text(health(reader, time.time_ns(), status)).plain
        finally:
            reader.close()
    finally:
        runtime.stop()
    assert status["otlp_kafka"] == "up"
    assert f"otlp-kafka up (lag {int(status['otlp_kafka_lag']):,} msgs)" in line


def test_a_killed_console_reads_again_and_stores_no_span_twice(
    kafka_bootstrap: str, db_path: Path
) -> None:
    """kill -9 as soon as the store holds every span, most often before the group's offsets were
    committed (once a second): what the restart reads again, the store's dedupe keeps once."""
    import signal

    t = topics()
    requests = [trace_request(10, seed=100 + i).SerializeToString() for i in range(30)]
    produce(kafka_bootstrap, [(t["traces"], body) for body in requests])
    args = ["--otlp-grpc", "off", "--otlp-http", "off", "--bootstrap", kafka_bootstrap]
    args += ["--otlp-kafka-topics", spec(t), "--otlp-kafka-group", group()]
    with Serve(db_path, *args) as s:
        wait_for(lambda: counts(db_path)["spans"] == 300, timeout=60)
        s.stop(signal.SIGKILL)
    with Serve(db_path, *args) as s:
        produce(kafka_bootstrap, [(t["traces"], trace_request(5, seed=999).SerializeToString())])
        wait_for(lambda: counts(db_path)["spans"] == 305, timeout=60)
        s.stop()
    assert counts(db_path)["spans"] == 305
    assert "OTLP/Kafka: " in s.stderr and "0 bad messages skipped" in s.stderr
