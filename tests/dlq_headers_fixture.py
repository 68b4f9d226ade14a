"""Dead-letter headers built byte for byte as the frameworks write them, for tests.

Spring Kafka's ``DeadLetterPublishingRecoverer``: partition a 4-byte big-endian int, offset and
timestamp 8-byte big-endian longs, the rest UTF-8. Kafka Connect's DLQ context headers and Kafka
Streams' (KIP-1034): all UTF-8 strings, numbers too.
"""

from __future__ import annotations

import struct

from console.base.model import Header


def spring_dlt_headers(
    *,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int,
    group: str,
    exception_fqcn: str = "org.springframework.kafka.support.serializer.DeserializationException",
    cause_fqcn: str = "com.fasterxml.jackson.core.JsonParseException",
    message: str = "failed to deserialize",
    stacktrace: str = "org.springframework.kafka...\n\tat Example.main(Example.java:1)",
    timestamp_type: str = "CreateTime",
) -> list[Header]:
    return [
        ("kafka_dlt-original-topic", topic.encode()),
        ("kafka_dlt-original-partition", struct.pack(">i", partition)),
        ("kafka_dlt-original-offset", struct.pack(">q", offset)),
        ("kafka_dlt-original-timestamp", struct.pack(">q", timestamp_ms)),
        ("kafka_dlt-original-timestamp-type", timestamp_type.encode()),
        ("kafka_dlt-original-consumer-group", group.encode()),
        ("kafka_dlt-exception-fqcn", exception_fqcn.encode()),
        ("kafka_dlt-exception-cause-fqcn", cause_fqcn.encode()),
        ("kafka_dlt-exception-message", message.encode()),
        ("kafka_dlt-exception-stacktrace", stacktrace.encode()),
    ]


def connect_dlq_headers(
    *,
    topic: str,
    partition: int,
    offset: int,
    connector: str = "jdbc-sink",
    task_id: int = 0,
    stage: str = "VALUE_CONVERTER",
    class_name: str = "org.apache.kafka.connect.json.JsonConverter",
    exception_class: str = "org.apache.kafka.connect.errors.DataException",
    message: str = "Converting byte[] to Kafka Connect data failed due to serialization error",
    stacktrace: str = "org.apache.kafka.connect.errors.DataException: ...",
) -> list[Header]:
    return [
        ("__connect.errors.topic", topic.encode()),
        ("__connect.errors.partition", str(partition).encode()),
        ("__connect.errors.offset", str(offset).encode()),
        ("__connect.errors.connector.name", connector.encode()),
        ("__connect.errors.task.id", str(task_id).encode()),
        ("__connect.errors.stage", stage.encode()),
        ("__connect.errors.class.name", class_name.encode()),
        ("__connect.errors.exception.class.name", exception_class.encode()),
        ("__connect.errors.exception.message", message.encode()),
        ("__connect.errors.exception.stacktrace", stacktrace.encode()),
    ]


def streams_dlq_headers(
    *,
    topic: str,
    partition: int,
    offset: int,
    exception: str = "org.apache.kafka.common.errors.SerializationException",
    message: str = "Error deserializing Avro message for id 1",
    stacktrace: str = "org.apache.kafka.common.errors.SerializationException: ...",
) -> list[Header]:
    """Kafka Streams' DLQ headers (KIP-1034, Kafka 4.x): all UTF-8 strings, numbers too."""
    return [
        ("__streams.errors.exception", exception.encode()),
        ("__streams.errors.message", message.encode()),
        ("__streams.errors.stacktrace", stacktrace.encode()),
        ("__streams.errors.topic", topic.encode()),
        ("__streams.errors.partition", str(partition).encode()),
        ("__streams.errors.offset", str(offset).encode()),
    ]
