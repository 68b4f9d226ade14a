"""``serve --topics`` runs the Kafka tap beside the OTLP receivers: both land in one store."""

from __future__ import annotations

import json
from pathlib import Path

from confluent_kafka import Producer
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests import stored
from tests.conftest import run_cli
from tests.otlp_helpers import Serve, wait_for


def test_serve_with_topics_joins_spans_and_hops(
    db_path: Path, kafka_bootstrap: str, topic: str
) -> None:
    with Serve(
        db_path,
        "--topics",
        topic,
        "--bootstrap",
        kafka_bootstrap,
        "--group",
        f"tap-{topic}",
        "--from-beginning",
    ) as serve:
        provider = TracerProvider(resource=Resource.create({"service.name": "upload"}))
        provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=serve.grpc_target, insecure=True))
        )
        tracer = provider.get_tracer("test")
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        with tracer.start_as_current_span("publish", attributes={"correlation.id": "c-7"}) as span:
            ctx = span.get_span_context()
            traceparent = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-01"
            producer.produce(
                topic,
                value=b'{"artwork": 1}',
                headers=[("x-correlation-id", b"c-7"), ("traceparent", traceparent.encode())],
            )
        assert producer.flush(30) == 0
        provider.shutdown()
        wait_for(lambda: len(stored.hops(db_path)) == 1, timeout=60)
        wait_for(lambda: len(stored.spans(db_path)) == 1, timeout=30)
    hop = stored.hops(db_path)[0]
    got = stored.spans(db_path)[0]
    assert (hop.topic, hop.correlation_id, hop.trace_id) == (topic, "c-7", f"{ctx.trace_id:032x}")
    assert (got.trace_id, got.correlation_id, got.service) == (
        f"{ctx.trace_id:032x}",
        "c-7",
        "upload",
    )


def test_serve_topics_takes_every_tap_option(
    db_path: Path, kafka_bootstrap: str, topic: str
) -> None:
    """`serve --topics` reads correlation ids, dead letters, payloads and business keys as `tap`
    does with the same options: a custom header, a custom DLQ pattern, --keep-payloads and a
    payload field as a key."""
    broken = f"{topic}.broken"
    with Serve(
        db_path,
        "--otlp-grpc", "off",
        "--topics", f"^{topic.replace('.', '[.]')}.*",
        "--bootstrap", kafka_bootstrap,
        "--group", f"tap-{topic}",
        "--from-beginning",
        "--correlation-header", "x-order-ref",
        "--dlq-pattern", r".*\.broken$",
        "--keep-payloads",
        "--key-attribute", "order_id",
    ):  # fmt: skip
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        producer.produce(topic, value=b'{"order_id": "o-41"}', headers=[("x-order-ref", b"r-9")])
        producer.produce(broken, value=b"not json")
        assert producer.flush(30) == 0
        wait_for(lambda: len(stored.hops(db_path)) == 2, timeout=60)
    hops = {h.topic: h for h in stored.hops(db_path)}
    assert hops[topic].correlation_id == "r-9"
    assert hops[topic].payload == b'{"order_id": "o-41"}'
    letters = json.loads(run_cli("dlq", "list", "--json", "--db", str(db_path)).stdout)
    assert [d["dlq_topic"] for d in letters] == [broken]
    found = run_cli("trace", "--key", "o-41", "--json", "--db", str(db_path))
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["correlation_id"] == "r-9"
