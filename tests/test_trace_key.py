"""``trace --key``: an on-call engineer finds a journey by the order id on the ticket, whether it
is a Kafka message key, a JSON payload field or a span attribute named with ``--key-attribute``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from tests import stored
from tests.conftest import create_topic, run_cli
from tests.e2e.support import Tap, wait_until
from tests.otlp_helpers import Serve
from tests.tap_helpers import produce


def _trace(db: Path | list[str], *args: str) -> tuple[int, object]:
    where = db if isinstance(db, list) else ["--db", str(db)]
    res = run_cli("trace", *args, *where, "--json")
    return res.returncode, (json.loads(res.stdout) if res.returncode == 0 else res.stderr)


def _event(cid: str, **fields: str) -> bytes:
    return json.dumps({"correlation_id": cid, "event_type": "OrderPlaced", **fields}).encode()


def test_message_keys_and_payload_fields_find_journeys(
    kafka_bootstrap: str, topic: str, db_path: Path
) -> None:
    create_topic(kafka_bootstrap, topic)
    cid = [("x-correlation-id", b"cid-a")]
    produce(
        kafka_bootstrap,
        topic,
        [
            (b"ord-1", _event("cid-a", order_id="ord-1"), cid),
            (b"\xff\x00\x01", _event("cid-b", order_id="ord-2"), [("x-correlation-id", b"cid-b")]),
            (b"other", _event("cid-c", order_id="ord-2"), [("x-correlation-id", b"cid-c")]),
        ],
    )
    with Tap(db_path, kafka_bootstrap, topic, "--from-beginning", "--key-attribute", "order_id"):
        wait_until(lambda: len(stored.hops(db_path, topic)) == 3, 60, "3 hops stored")

    code, one = _trace(db_path, "--key", "ord-1")
    assert code == 0 and isinstance(one, dict)
    assert one["correlation_id"] == "cid-a"
    assert [h["key"] for h in one["hops"]] == ["ord-1"]

    code, binary = _trace(db_path, "--key", "0xff0001")
    assert code == 0 and isinstance(binary, dict)
    assert binary["correlation_id"] == "cid-b"
    assert [h["key"] for h in binary["hops"]] == ["0xff0001"]  # not UTF-8: hex, marked

    # Two orders' events carry ord-2 in their payload: both journeys are listed.
    code, several = _trace(db_path, "--key", "ord-2")
    assert code == 0 and isinstance(several, list)
    assert sorted(s["correlation_id"] for s in several) == ["cid-b", "cid-c"]
    text = run_cli("trace", "--key", "ord-2", "--db", str(db_path))
    assert text.returncode == 0 and "2 journeys for --key ord-2" in text.stdout

    assert _trace(db_path, "--key", "ord-404")[0] == 1
    assert _trace(db_path, "--key", "ord-1", "--correlation-id", "cid-a")[0] == 2


@pytest.mark.backends("sqlite", "chdb", "chdb-json")
def test_span_attributes_find_journeys_without_a_tap(store_url: str, store_args: list[str]) -> None:
    db = store_args
    with Serve(store_url, "--key-attribute", "order.id") as s:
        provider = TracerProvider(resource=Resource.create({"service.name": "orders"}))
        provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=s.grpc_target, insecure=True))
        )
        tracer = provider.get_tracer("canvasflow")
        with tracer.start_as_current_span(
            "order.step ReserveStock", attributes={"order.id": "ord-9", "correlation.id": "cid-9"}
        ):
            pass
        with tracer.start_as_current_span(
            "send uploads",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": "uploads",
                "messaging.kafka.message.key": "up-7",
                "correlation.id": "cid-7",
            },
        ):
            pass
        provider.shutdown()
        assert s.stop() == 0

    code, by_attribute = _trace(db, "--key", "ord-9")
    assert code == 0 and isinstance(by_attribute, dict)
    assert by_attribute["correlation_id"] == "cid-9"
    # The message key a producer span names is a key too, with no --key-attribute for it.
    code, by_message_key = _trace(db, "--key", "up-7")
    assert code == 0 and isinstance(by_message_key, dict)
    assert by_message_key["correlation_id"] == "cid-7"
