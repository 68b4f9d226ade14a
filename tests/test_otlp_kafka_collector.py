"""OTLP over Kafka with the real OpenTelemetry Collector as the producer.

telemetrygen -> (OTLP/gRPC) Jaeger v2's Collector: batch -> kafka exporter -> the harness broker
-> ``serve --otlp-kafka-topics``. Both Go programs are built from the Go module proxy on first use
and cached (``tests/otlp_peers.py``): the first run on a machine spends about five minutes
building them, hence this module's longer timeout; later runs take about 40 s.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from console.store import Store
from tests.conftest import create_topic
from tests.otlp_helpers import Serve, wait_for
from tests.otlp_peers import KafkaCollector, jaeger_binary, telemetrygen, telemetrygen_binary

pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module", autouse=True)
def peers() -> None:
    """Build (or find cached) Jaeger v2 and telemetrygen once, before the first test's clock."""
    jaeger_binary()
    telemetrygen_binary()


def _topics(bootstrap: str) -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    topics = {s: f"test.collector.{tag}.{s}" for s in ("traces", "metrics", "logs")}
    for name in topics.values():
        create_topic(bootstrap, name, partitions=2)
    return topics


def _serve_args(bootstrap: str, topics: dict[str, str], group: str) -> list[str]:
    spec = ",".join(f"{s}={name}" for s, name in topics.items())
    return [
        "--otlp-grpc", "off", "--otlp-http", "off", "--bootstrap", bootstrap,
        "--otlp-kafka-topics", spec, "--otlp-kafka-group", group,
    ]  # fmt: skip


def _counts(db: Path) -> dict[str, int]:
    c = Store.open(db, create=False).counts()
    return {
        "spans": c["spans"],
        "metric_points": c["metric_points"],
        "log_records": c["log_records"],
    }


@pytest.mark.parametrize("encoding", ["otlp_proto", "otlp_json"])
def test_every_span_point_and_log_record_arrives(
    kafka_bootstrap: str, db_path: Path, tmp_path: Path, encoding: str
) -> None:
    topics = _topics(kafka_bootstrap)
    group = f"test-collector-{uuid.uuid4().hex[:8]}"
    with (
        KafkaCollector(tmp_path, kafka_bootstrap, topics, encoding) as collector,
        Serve(db_path, *_serve_args(kafka_bootstrap, topics, group)) as serve,
    ):
        at = collector.endpoint
        telemetrygen("traces", at, "--traces", "300", "--rate", "300", "--child-spans", "2")
        telemetrygen("metrics", at, "--metrics", "200", "--rate", "400")
        telemetrygen("logs", at, "--logs", "250", "--rate", "500")
        want = {"spans": 900, "metric_points": 200, "log_records": 250}
        wait_for(lambda: _counts(db_path) == want, timeout=90)
        serve.stop()
    assert _counts(db_path) == want
    assert "0 bad messages skipped" in serve.stderr


def test_a_console_stopped_midway_loses_nothing_and_doubles_nothing(
    kafka_bootstrap: str, db_path: Path, tmp_path: Path
) -> None:
    topics = _topics(kafka_bootstrap)
    group = f"test-collector-{uuid.uuid4().hex[:8]}"
    args = _serve_args(kafka_bootstrap, topics, group)
    with KafkaCollector(tmp_path, kafka_bootstrap, topics) as collector:
        gen = str(telemetrygen_binary())
        at = ["--otlp-endpoint", collector.endpoint, "--otlp-insecure"]
        feeds = [  # about 8 s each, side by side
            subprocess.Popen([gen, "traces", *at, "--traces", "800", "--rate", "100"]),
            subprocess.Popen([gen, "logs", *at, "--logs", "400", "--rate", "50"]),
        ]
        try:
            with Serve(db_path, *args) as first:
                wait_for(lambda: _counts(db_path)["spans"] >= 200, timeout=60)
                first.stop()
            midway = _counts(db_path)
            assert midway["spans"] < 1600 and midway["log_records"] < 400  # really midway
            with Serve(db_path, *args) as second:
                for feed in feeds:
                    assert feed.wait(120) == 0
                want = {"spans": 1600, "metric_points": 0, "log_records": 400}
                wait_for(lambda: _counts(db_path) == want, timeout=90)
                second.stop()
        finally:
            for feed in feeds:
                if feed.poll() is None:
                    feed.kill()
    # log records are never deduplicated by the store: equal counts mean none was read twice
    assert _counts(db_path) == want


def test_garbage_between_the_collector_s_messages_is_skipped_and_counted(
    kafka_bootstrap: str, db_path: Path, tmp_path: Path
) -> None:
    from confluent_kafka import Producer

    topics = _topics(kafka_bootstrap)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(3):
        producer.produce(topics["traces"], b"\x00\x01garbage-" + bytes([i]) * 20, partition=0)
    assert producer.flush(30) == 0
    group = f"test-collector-{uuid.uuid4().hex[:8]}"
    with (
        KafkaCollector(tmp_path, kafka_bootstrap, topics) as collector,
        Serve(db_path, *_serve_args(kafka_bootstrap, topics, group)) as serve,
    ):
        telemetrygen("traces", collector.endpoint, "--traces", "100", "--rate", "200")
        wait_for(lambda: _counts(db_path)["spans"] == 200, timeout=90)
        serve.stop()
    assert _counts(db_path)["spans"] == 200
    assert "3 bad messages skipped" in serve.stderr
    for offset in range(3):
        assert f"skipped bad message {topics['traces']}[0]@{offset}" in serve.stderr
    assert "garbage" not in serve.stderr
