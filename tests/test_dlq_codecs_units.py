"""The codec on its own (no broker): JSON Schema payloads, the latest schema version, and a
registry URL's credentials never shown. Payloads are made by confluent-kafka's serializers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from console.base.urls import display_url
from console.dlq.codecs import EncodeError, PayloadCodec, RegistryError
from tests.dlq_helpers import CONTRACT
from tests.schema_registry_server import RegistryServer
from tests.serde_fixtures import ORDER_AVRO, avro_deserializer, avro_order, avro_serializer


@pytest.fixture
def registry() -> Iterator[RegistryServer]:
    with RegistryServer() as reg:
        yield reg


def _ctx(topic: str) -> SerializationContext:
    return SerializationContext(topic, MessageField.VALUE, [])


def test_json_schema_payload_decodes_and_a_violation_names_the_field(
    registry: RegistryServer,
) -> None:
    client = SchemaRegistryClient({"url": registry.url})
    ser = JSONSerializer(json.dumps(CONTRACT), client, conf={"auto.register.schemas": True})
    payload = ser({"order_id": "o-1", "quantity": 2}, _ctx("orders"))
    codec = PayloadCodec(registry.url)
    decoded = codec.decode(payload, [], "orders")
    assert decoded is not None and decoded.kind == "jsonschema"
    assert decoded.document == {"order_id": "o-1", "quantity": 2}
    assert decoded.schema.type == "JSON" and decoded.schema.subject == "orders-value"
    with pytest.raises(EncodeError) as exc:
        codec.encode('{"order_id": "o-1", "quantity": 0}', decoded, topic="orders")
    assert [v.path for v in exc.value.violations] == ["$.quantity"]
    fixed = codec.encode('{"order_id": "o-1", "quantity": 5}', decoded, topic="orders")
    assert fixed.payload[:5] == payload[:5]  # the same schema id, prefixed
    assert codec.decode(fixed.payload, [], "orders").document["quantity"] == 5  # type: ignore[union-attr]  # decoded


def test_fix_encoded_with_the_latest_schema_version(registry: RegistryServer) -> None:
    client = SchemaRegistryClient({"url": registry.url})
    old = avro_serializer(client)(avro_order(quantity=0), _ctx("orders"))
    v2 = json.loads(ORDER_AVRO)
    v2["fields"].append({"name": "channel", "type": "string", "default": "web"})
    avro_serializer(client, schema=json.dumps(v2))(
        {**avro_order(), "channel": "shop"}, _ctx("orders")
    )
    codec = PayloadCodec(registry.url)
    decoded = codec.decode(old, [], "orders")
    assert decoded is not None and decoded.schema.version == 1
    doc = {**decoded.document, "quantity": 3, "channel": "app"}
    with pytest.raises(EncodeError, match="has no field 'channel'"):
        codec.encode(json.dumps(doc), decoded, topic="orders")  # v1 has no such field
    fixed = codec.encode(json.dumps(doc), decoded, topic="orders", latest=True)
    assert fixed.schema.version == 2 and fixed.schema.id != decoded.schema.id
    record = avro_deserializer(client)(fixed.payload, _ctx("orders"))
    assert record == {**avro_order(quantity=3), "channel": "app"}


def test_registry_credentials_are_never_shown(registry: RegistryServer) -> None:
    secret_url = registry.url.replace("http://", "http://ops:hunter2@")
    assert display_url(secret_url) == registry.url
    codec = PayloadCodec(secret_url)
    assert "hunter2" not in codec.url
    with pytest.raises(RegistryError) as exc:
        codec.decode(b"\x00\x00\x00\x00\x63" + b"body", [], "orders")  # schema id 99: unknown
    assert "hunter2" not in str(exc.value) and "schema id 99" in str(exc.value)


MONEY_AVRO = json.dumps(
    {
        "type": "record",
        "name": "Money",
        "namespace": "shop",
        "fields": [{"name": "currency", "type": "string"}, {"name": "cents", "type": "long"}],
    }
)
PRICED_ORDER_AVRO = json.dumps(
    {
        "type": "record",
        "name": "PricedOrder",
        "namespace": "shop",
        "fields": [{"name": "order_id", "type": "string"}, {"name": "price", "type": "shop.Money"}],
    }
)


def test_avro_schema_with_a_reference_decodes_and_a_fix_encodes(registry: RegistryServer) -> None:
    """An Avro schema naming a type registered under another subject: the codec fetches the
    reference, shows the nested record, and encodes a fix confluent-kafka's deserializer reads."""
    from confluent_kafka.schema_registry import Schema, SchemaReference
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer

    client = SchemaRegistryClient({"url": registry.url})
    client.register_schema("shop-money", Schema(MONEY_AVRO, "AVRO"))
    ref = SchemaReference("shop.Money", "shop-money", 1)
    order_schema = Schema(PRICED_ORDER_AVRO, "AVRO", references=[ref])
    client.register_schema("orders-value", order_schema)
    ser = AvroSerializer(client, order_schema, conf={"auto.register.schemas": False})
    payload = ser({"order_id": "o-7", "price": {"currency": "EUR", "cents": 1250}}, _ctx("orders"))

    codec = PayloadCodec(registry.url)
    decoded = codec.decode(payload, [], "orders")
    assert decoded is not None and decoded.kind == "avro"
    assert decoded.document == {"order_id": "o-7", "price": {"currency": "EUR", "cents": 1250}}
    doc = {**decoded.document, "price": {"currency": "EUR", "cents": 990}}
    fixed = codec.encode(json.dumps(doc), decoded, topic="orders")
    assert AvroDeserializer(client)(fixed.payload, _ctx("orders")) == doc
