"""Avro and Protobuf dead letters as real producers make them: confluent-kafka's serializers.

``ORDER_AVRO`` is an Avro record with a union, bytes-backed decimal and a timestamp, so the Avro
JSON encoding's exactness shows. ``proto_classes()`` builds Protobuf message classes at run time
from ``FileDescriptorProto`` objects (no protoc, no generated code): ``shop/money.proto`` with
``Money``, and ``shop/order.proto`` importing it, so the registry holds a schema with a reference.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient, header_schema_id_serializer
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from console.base.model import Header

__all__ = [
    "ORDER_AVRO",
    "avro_deserializer",
    "avro_order",
    "avro_serializer",
    "produce_dead_letter",
    "proto_classes",
    "proto_deserializer",
    "proto_serializer",
]

ORDER_AVRO = """
{"type": "record", "name": "Order", "namespace": "shop", "fields": [
  {"name": "order_id", "type": "string"},
  {"name": "quantity", "type": "int"},
  {"name": "note", "type": ["null", "string"], "default": null},
  {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9,
   "scale": 2}},
  {"name": "placed_at", "type": {"type": "long", "logicalType": "timestamp-millis"}}
]}
"""


def avro_order(quantity: int = 2, note: str | None = "gift") -> dict[str, Any]:
    return {
        "order_id": "o-1",
        "quantity": quantity,
        "note": note,
        "price": decimal.Decimal("19.99"),
        "placed_at": datetime(2025, 3, 1, 12, 0, 0, 123000, tzinfo=UTC),
    }


def avro_serializer(
    client: SchemaRegistryClient, *, in_header: bool = False, schema: str = ORDER_AVRO
) -> AvroSerializer:
    conf: dict[str, Any] = {"auto.register.schemas": True}
    if in_header:
        conf["schema.id.serializer"] = header_schema_id_serializer
    return AvroSerializer(client, schema, conf=conf)


def avro_deserializer(client: SchemaRegistryClient) -> AvroDeserializer:
    return AvroDeserializer(client)


_POOL: descriptor_pool.DescriptorPool | None = None


def proto_classes() -> tuple[type, type]:
    """``(Order, Money)``: Order is in shop/order.proto, which imports shop/money.proto."""
    global _POOL
    if _POOL is None:
        F = descriptor_pb2.FieldDescriptorProto
        money = descriptor_pb2.FileDescriptorProto(
            name="shop/money.proto", package="shop", syntax="proto3"
        )
        m = money.message_type.add(name="Money")
        m.field.add(name="currency", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
        m.field.add(name="units", number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
        order = descriptor_pb2.FileDescriptorProto(
            name="shop/order.proto",
            package="shop",
            syntax="proto3",
            dependency=["shop/money.proto"],
        )
        o = order.message_type.add(name="Order")
        o.field.add(name="order_id", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
        o.field.add(name="quantity", number=2, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
        o.field.add(
            name="price",
            number=3,
            type=F.TYPE_MESSAGE,
            label=F.LABEL_OPTIONAL,
            type_name=".shop.Money",
        )
        o.field.add(name="tags", number=4, type=F.TYPE_STRING, label=F.LABEL_REPEATED)
        pool = descriptor_pool.DescriptorPool()
        pool.Add(money)
        pool.Add(order)
        _POOL = pool
    return (
        message_factory.GetMessageClass(_POOL.FindMessageTypeByName("shop.Order")),
        message_factory.GetMessageClass(_POOL.FindMessageTypeByName("shop.Money")),
    )


def proto_serializer(
    client: SchemaRegistryClient, *, in_header: bool = False
) -> ProtobufSerializer:
    order, _ = proto_classes()
    conf: dict[str, Any] = {"auto.register.schemas": True, "use.deprecated.format": False}
    if in_header:
        conf["schema.id.serializer"] = header_schema_id_serializer
    return ProtobufSerializer(order, client, conf)


def proto_deserializer() -> ProtobufDeserializer:
    order, _ = proto_classes()
    return ProtobufDeserializer(order, {"use.deprecated.format": False})


def produce_dead_letter(
    bootstrap: str,
    dlq_topic: str,
    *,
    original_topic: str,
    value: Any,
    serializer: Any,
    dlq_headers: Sequence[Header],
    key: bytes = b"order-1",
) -> None:
    """Serialize ``value`` as a producer on ``original_topic`` would (schema id in the payload
    or in ``__value_schema_id``), then put those bytes on ``dlq_topic`` with the DLQ headers, as
    the failing consumer's error handler does."""
    headers: list[tuple[str, str | bytes | None]] = [("tenant", b"acme")]
    # The same list, not a copy: a serializer that carries the schema in a header
    # (``__value_schema_id``) appends it there, and the message must be produced with it.
    ctx = SerializationContext(original_topic, MessageField.VALUE, headers)
    payload = serializer(value, ctx)
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(dlq_topic, value=payload, key=key, headers=[*headers, *dlq_headers])
    assert producer.flush(30) == 0
