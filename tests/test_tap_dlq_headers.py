"""Decoding Spring Kafka and Kafka Connect dead-letter headers (pure, no broker)."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from console.base.dlq_headers import (
    DlqMatcher,
    decode_dlq_headers,
    describe_header,
    has_dlq_headers,
    is_dead_letter,
)
from console.base.model import DeadLetter
from tests.dlq_headers_fixture import (
    connect_dlq_headers,
    spring_dlt_headers,
    streams_dlq_headers,
)


def test_default_topic_patterns() -> None:
    m = DlqMatcher()
    for topic in ("orders.dlq", "orders-dlq", "orders-dlt", "orders.DLT", "a.b.c-dlt"):
        assert m.is_dlq_topic(topic), topic
    for topic in ("orders", "dlq.orders", "orders.dlq.retry", "orders-DLT-x", "orders_dlt"):
        assert not m.is_dlq_topic(topic), topic


def test_configured_patterns_replace_the_defaults() -> None:
    m = DlqMatcher([r"^deadletters\..*"])
    assert m.is_dlq_topic("deadletters.orders")
    assert not m.is_dlq_topic("orders-dlt")
    assert not DlqMatcher([]).is_dlq_topic("orders-dlt")


def test_dead_letter_by_headers_on_any_topic() -> None:
    spring = spring_dlt_headers(topic="t", partition=0, offset=0, timestamp_ms=0, group="g")
    assert is_dead_letter("orders.retry", spring)
    assert is_dead_letter("sink-errors", connect_dlq_headers(topic="t", partition=0, offset=0))
    assert not is_dead_letter("orders", [("x-correlation-id", b"c")])
    assert not has_dlq_headers(None)


def test_spring_headers_decode_into_dead_letter_fields() -> None:
    headers = spring_dlt_headers(
        topic="canvasflow.orders",
        partition=3,
        offset=2**40 + 5,
        timestamp_ms=1_732_000_000_123,
        group="order-service",
        message="Unexpected character ('<' (code 60))",
    )
    fields = decode_dlq_headers(headers)
    assert fields == {
        "convention": "spring",
        "original_topic": "canvasflow.orders",
        "original_partition": 3,
        "original_offset": 2**40 + 5,
        "original_timestamp_ms": 1_732_000_000_123,
        "consumer_group": "order-service",
        "exception_class": "org.springframework.kafka.support.serializer.DeserializationException",
        "exception_cause_class": "com.fasterxml.jackson.core.JsonParseException",
        "exception_message": "Unexpected character ('<' (code 60))",
        "stacktrace": "org.springframework.kafka...\n\tat Example.main(Example.java:1)",
    }
    dl = DeadLetter(dlq_topic="orders-dlt", partition=0, offset=0, timestamp_ms=0, **fields)
    assert dl.original_partition == 3


def test_spring_repeated_header_last_wins() -> None:
    headers = spring_dlt_headers(topic="a", partition=1, offset=10, timestamp_ms=5, group="g")
    headers += [
        ("kafka_dlt-original-topic", b"b"),
        ("kafka_dlt-original-offset", struct.pack(">q", 99)),
        ("kafka_dlt-exception-message", b"second failure"),
    ]
    fields = decode_dlq_headers(headers)
    assert (fields["original_topic"], fields["original_offset"]) == ("b", 99)
    assert fields["exception_message"] == "second failure"


def test_connect_headers_decode_from_strings() -> None:
    fields = decode_dlq_headers(
        connect_dlq_headers(topic="canvasflow.catalog", partition=7, offset=123456)
    )
    assert fields["convention"] == "connect"
    assert fields["original_topic"] == "canvasflow.catalog"
    assert fields["original_partition"] == 7
    assert fields["original_offset"] == 123456
    assert fields["original_timestamp_ms"] is None
    assert fields["consumer_group"] == "connect-jdbc-sink"
    assert fields["exception_class"] == "org.apache.kafka.connect.errors.DataException"
    assert fields["exception_message"].startswith("Converting byte[] to Kafka Connect data")
    assert fields["stacktrace"].startswith("org.apache.kafka.connect.errors.DataException")


def test_no_convention_on_a_plain_dlq_message() -> None:
    fields = decode_dlq_headers([("x-correlation-id", b"c")])
    assert fields["convention"] == "none"
    assert all(v is None for k, v in fields.items() if k != "convention")


def test_garbage_values_leave_fields_empty_and_never_raise() -> None:
    headers = [
        ("kafka_dlt-original-partition", b"\x00\x01\x02"),  # 3 bytes: no int
        ("kafka_dlt-original-offset", b"\xff" * 9),
        ("kafka_dlt-original-topic", b"\xff\xfeorders"),  # not UTF-8
        ("kafka_dlt-original-timestamp", None),
        ("kafka_dlt-exception-message", b"ok"),
    ]
    fields = decode_dlq_headers(headers)
    assert fields["original_partition"] is None
    assert fields["original_offset"] is None
    assert fields["original_topic"] is None
    assert fields["original_timestamp_ms"] is None
    assert fields["exception_message"] == "ok"
    connect = decode_dlq_headers(
        [("__connect.errors.partition", b"seven"), ("__connect.errors.offset", b"\xff")]
    )
    assert connect["original_partition"] is None and connect["original_offset"] is None


def test_spring_numbers_written_as_text_are_accepted() -> None:
    fields = decode_dlq_headers([("kafka_dlt-original-offset", b"12345")])
    assert fields["original_offset"] == 12345


def test_describe_header_renders_for_people() -> None:
    assert describe_header("kafka_dlt-original-partition", struct.pack(">i", 3)) == "3"
    assert describe_header("kafka_dlt-original-offset", struct.pack(">q", 2**40)) == str(2**40)
    ts = struct.pack(">q", 1_700_000_000_000)
    assert describe_header("kafka_dlt-original-timestamp", ts) == "1700000000000"
    assert describe_header("kafka_dlt-original-partition", b"\x00\x01\x02") == "0x000102"
    assert describe_header("kafka_dlt-original-topic", b"orders") == "orders"
    assert describe_header("kafka_dlt-exception-stacktrace", b"a\n\tat b") == "a\n\tat b"
    assert describe_header("__connect.errors.offset", b"42") == "42"
    assert describe_header("bin", b"\xff\x00") == "0xff00"
    assert describe_header("ctl", b"a\x00b") == "0x610062"
    assert describe_header("nothing", None) == "null"
    assert describe_header("empty", b"") == ""


names = st.one_of(
    st.sampled_from(
        [
            "kafka_dlt-original-topic",
            "kafka_dlt-original-partition",
            "kafka_dlt-original-offset",
            "kafka_dlt-original-timestamp",
            "kafka_dlt-exception-fqcn",
            "kafka_dlt-key-exception-message",
            "__connect.errors.topic",
            "__connect.errors.partition",
            "__connect.errors.offset",
            "__connect.errors.connector.name",
        ]
    ),
    st.text(max_size=30),
)
garbage = st.lists(st.tuples(names, st.one_of(st.none(), st.binary(max_size=40))), max_size=12)


@given(garbage)
def test_garbage_headers_never_raise(headers: list[tuple[str, bytes | None]]) -> None:
    fields = decode_dlq_headers(headers)
    DeadLetter(dlq_topic="x-dlt", partition=0, offset=0, timestamp_ms=0, **fields)
    assert fields["convention"] in {"spring", "connect", "none"}
    for name, value in headers:
        assert isinstance(describe_header(name, value), str)


@given(st.integers(-(2**31), 2**31 - 1), st.integers(-(2**63), 2**63 - 1))
def test_spring_binary_numbers_round_trip(partition: int, offset: int) -> None:
    fields = decode_dlq_headers(
        [
            ("kafka_dlt-original-partition", struct.pack(">i", partition)),
            ("kafka_dlt-original-offset", struct.pack(">q", offset)),
        ]
    )
    assert (fields["original_partition"], fields["original_offset"]) == (partition, offset)
    assert describe_header("kafka_dlt-original-offset", struct.pack(">q", offset)) == str(offset)


def test_kafka_streams_headers_decode_into_dead_letter_fields() -> None:
    headers = streams_dlq_headers(topic="canvasflow.uploads", partition=4, offset=1234)
    assert has_dlq_headers(headers) and is_dead_letter("uploads-errors", headers)
    fields = decode_dlq_headers(headers)
    assert fields["convention"] == "streams"
    assert (fields["original_topic"], fields["original_partition"], fields["original_offset"]) == (
        "canvasflow.uploads",
        4,
        1234,
    )
    assert fields["exception_class"] == "org.apache.kafka.common.errors.SerializationException"
    assert fields["exception_message"] == "Error deserializing Avro message for id 1"
    assert fields["stacktrace"].startswith("org.apache.kafka.common.errors.Serialization")
