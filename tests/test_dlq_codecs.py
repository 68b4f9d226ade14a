"""Avro and Protobuf dead letters end to end: tap, show decoded, fix decoded, replay encoded.

The payloads are made by confluent-kafka's own serializers against a Confluent-compatible registry
(``tests/schema_registry_server.py``: the documented REST endpoints, exercised only through
confluent-kafka's ``SchemaRegistryClient``), the broker is the harness's real Kafka, and the
replayed bytes are read back with confluent-kafka's deserializers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.serialization import MessageField, SerializationContext

from collectors.kafka.tap import KafkaTap
from console import dlq
from console.base.model import DeadLetter
from console.store import Store
from tests.conftest import create_topic, run_cli
from tests.dlq_headers_fixture import (
    connect_dlq_headers,
    spring_dlt_headers,
    streams_dlq_headers,
)
from tests.dlq_helpers import headers_of, read_topic
from tests.schema_registry_server import RegistryServer
from tests.serde_fixtures import (
    avro_deserializer,
    avro_order,
    avro_serializer,
    produce_dead_letter,
    proto_classes,
    proto_deserializer,
    proto_serializer,
)
from tests.tap_helpers import unique, wait_for


@pytest.fixture
def registry() -> Iterator[RegistryServer]:
    with RegistryServer(user="ops", password="s3cret") as reg:
        yield reg


@pytest.fixture
def registry_client(registry: RegistryServer) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": registry.url, "basic.auth.user.info": "ops:s3cret"})


@pytest.fixture
def registry_config(tmp_path: Path) -> Path:
    path = tmp_path / "registry.properties"
    path.write_text("basic.auth.user.info=ops:s3cret\n")
    return path


def _tap_one(bootstrap: str, store: Store, dlq_topic: str) -> DeadLetter:
    """Run the real tap over the DLQ topic until the store holds its dead letter."""
    writer = store.writer(batch_size=100, flush_ms=20)
    tap = KafkaTap(
        writer, bootstrap=bootstrap, topics=dlq_topic, group_id=unique("t"), from_beginning=True
    )
    tap.start()
    conn = store.dead_letters()
    try:
        items = wait_for(
            lambda: dlq.list_dead_letters(conn, dlq.DlqFilter(topic=dlq_topic)),
            what="the dead letter in the store",
        )
    finally:
        tap.stop()
        writer.close()
    return dlq.get_dead_letter(conn, items[0].coordinates)


def _cli(*args: str) -> tuple[int, str, str]:
    r = run_cli(*args)
    return r.returncode, r.stdout, r.stderr


def _topics(bootstrap: str, topic: str, partitions: int = 1) -> str:
    create_topic(bootstrap, topic, partitions)
    create_topic(bootstrap, f"{topic}-dlt")
    return f"{topic}-dlt"


@pytest.mark.parametrize("in_header", [False, True], ids=["id-prefix", "guid-header"])
def test_avro_spring_dead_letter_shown_fixed_and_replayed(
    in_header: bool,
    kafka_bootstrap: str,
    topic: str,
    store: Store,
    db_path: Path,
    registry: RegistryServer,
    registry_client: SchemaRegistryClient,
    registry_config: Path,
) -> None:
    dlq_topic = _topics(kafka_bootstrap, topic, partitions=3)
    produce_dead_letter(
        kafka_bootstrap,
        dlq_topic,
        original_topic=topic,
        value=avro_order(quantity=0),
        serializer=avro_serializer(registry_client, in_header=in_header),
        dlq_headers=spring_dlt_headers(
            topic=topic,
            partition=2,
            offset=41,
            timestamp_ms=1,
            group="orders",
            message="quantity must be positive",
        ),
    )
    d = _tap_one(kafka_bootstrap, store, dlq_topic)
    assert d.cluster_id and d.convention == "spring"
    url_with_secret = registry.url.replace("http://", "http://ops:s3cret@")
    reg = ["--schema-registry", url_with_secret, "--db", str(db_path)]

    rc, out, err = _cli("dlq", "show", d.coordinates, *reg, "--json")
    assert rc == 0, err
    shown = json.loads(out)
    assert "s3cret" not in out + err
    assert shown["payload_kind"] == "avro"
    assert shown["cluster_id"] == d.cluster_id
    assert shown["schema"]["type"] == "AVRO"
    assert shown["schema"]["subject"] == f"{topic}-value"
    assert shown["schema"]["version"] == 1
    assert shown["schema"]["registry"] == registry.url
    decoded = json.loads(shown["payload"])
    # The Avro JSON encoding: a tagged union, the decimal's bytes as code points, millis.
    assert decoded["quantity"] == 0
    assert decoded["note"] == {"string": "gift"}
    assert decoded["placed_at"] == 1740830400123
    assert shown["contract"]["status"] == "valid"

    # A field the schema does not have, and a value of the wrong type: refused, nothing stored.
    rc, out, err = _cli(
        "dlq", "fix", d.coordinates, *reg, "--set", 'quantity="three"', "--set", "qty=3"
    )
    assert rc == 2, err
    assert "$.qty" in err and "has no field 'qty'" in err
    assert "$.quantity" in err and "is not an int" in err
    assert "nothing stored" in err
    assert dlq.fixes_for(store.dead_letters(), d) == []

    # The registry config file instead of credentials in the URL.
    reg = [
        "--schema-registry",
        registry.url,
        "--schema-registry-config",
        str(registry_config),
        "--db",
        str(db_path),
    ]
    rc, out, err = _cli("dlq", "fix", d.coordinates, *reg, "--set", "quantity=3")
    assert rc == 0, err
    assert '-  "quantity": 0' in out and '+  "quantity": 3' in out
    [fix] = dlq.fixes_for(store.dead_letters(), d)
    assert fix.schema_id == shown["schema"]["id"]

    rc, out, err = _cli("dlq", "show", d.coordinates, *reg, "--json")
    shown = json.loads(out)
    assert shown["fixed_kind"] == "avro" and json.loads(shown["fixed_payload"])["quantity"] == 3

    # Replay needs no registry: the fix keeps its encoded bytes and schema id.
    rc, out, err = _cli(
        "dlq",
        "replay",
        d.coordinates,
        "--yes",
        "--bootstrap",
        kafka_bootstrap,
        "--db",
        str(db_path),
    )
    assert rc == 0, err
    [msg] = read_topic(kafka_bootstrap, topic)
    assert msg.partition() == 2  # the original partition
    headers = headers_of(msg)
    assert not [h for h in headers if h.startswith("kafka_dlt-")]
    ctx = SerializationContext(topic, MessageField.VALUE, list(msg.headers() or []))
    record = avro_deserializer(registry_client)(msg.value(), ctx)
    assert record == avro_order(quantity=3)
    assert in_header == ("__value_schema_id" in headers)


@pytest.mark.parametrize("convention", ["connect", "streams"])
def test_protobuf_dead_letter_with_a_reference_fixed_and_replayed(
    convention: str,
    kafka_bootstrap: str,
    topic: str,
    store: Store,
    db_path: Path,
    registry: RegistryServer,
    registry_client: SchemaRegistryClient,
    registry_config: Path,
) -> None:
    dlq_topic = _topics(kafka_bootstrap, topic)
    order, money = proto_classes()
    headers_for = connect_dlq_headers if convention == "connect" else streams_dlq_headers
    produce_dead_letter(
        kafka_bootstrap,
        dlq_topic,
        original_topic=topic,
        value=order(order_id="o-7", quantity=-1, price=money(currency="EUR", units=12)),
        serializer=proto_serializer(registry_client),
        dlq_headers=headers_for(topic=topic, partition=0, offset=9),
    )
    d = _tap_one(kafka_bootstrap, store, dlq_topic)
    assert d.convention == convention and d.original_topic == topic
    reg = [
        "--schema-registry",
        registry.url,
        "--schema-registry-config",
        str(registry_config),
        "--db",
        str(db_path),
    ]
    rc, out, err = _cli("dlq", "show", d.coordinates, *reg, "--json")
    assert rc == 0, err
    shown = json.loads(out)
    assert shown["payload_kind"] == "protobuf"
    assert shown["schema"]["type"] == "PROTOBUF"
    doc = json.loads(shown["payload"])
    assert doc["price"] == {"currency": "EUR", "units": "12"}  # the referenced Money type
    # Protobuf is fetched in its serialized form, and its reference (shop/money.proto) too.
    assert any("format=serialized" in r and "/schemas/ids/" in r for r in registry.requests)

    rc, out, err = _cli("dlq", "fix", d.coordinates, *reg, "--set", "coupon=1")
    assert rc == 2 and "$.coupon" in err and "nothing stored" in err
    rc, out, err = _cli(
        "dlq", "fix", d.coordinates, *reg, "--set", "quantity=4", "--set", 'tags[0]="rush"'
    )
    assert rc == 0, err

    rc, out, err = _cli(
        "dlq",
        "replay",
        d.coordinates,
        "--yes",
        "--bootstrap",
        kafka_bootstrap,
        "--db",
        str(db_path),
    )
    assert rc == 0, err
    [msg] = read_topic(kafka_bootstrap, topic)
    assert not [h for h in headers_of(msg) if h.startswith(("__connect.", "__streams."))]
    got: Any = proto_deserializer()(
        msg.value(), SerializationContext(topic, MessageField.VALUE, [])
    )
    assert (got.order_id, got.quantity, list(got.tags)) == ("o-7", 4, ["rush"])
    assert (got.price.currency, got.price.units) == ("EUR", 12)


def test_wire_format_without_a_registry_says_so(
    kafka_bootstrap: str,
    topic: str,
    store: Store,
    db_path: Path,
    registry_client: SchemaRegistryClient,
) -> None:
    dlq_topic = _topics(kafka_bootstrap, topic)
    produce_dead_letter(
        kafka_bootstrap,
        dlq_topic,
        original_topic=topic,
        value=avro_order(),
        serializer=avro_serializer(registry_client),
        dlq_headers=spring_dlt_headers(
            topic=topic, partition=0, offset=1, timestamp_ms=1, group="g"
        ),
    )
    d = _tap_one(kafka_bootstrap, store, dlq_topic)
    rc, out, err = _cli("dlq", "show", d.coordinates, "--db", str(db_path), "--json")
    assert rc == 0, err
    shown = json.loads(out)
    assert shown["payload_kind"] == "hex" and shown["schema"] is None
    assert "Confluent wire format (schema id 1)" in shown["payload_note"]
    assert "--schema-registry" in shown["payload_note"]
