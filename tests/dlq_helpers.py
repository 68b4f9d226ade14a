"""Helpers for the DLQ tests: poison messages in a real Spring-format DLQ, and reading topics.

``dead_letter_on_broker`` does what a failing Spring consumer plus the tap would do: it produces
the message with Spring's DLT headers to a real DLQ topic, and writes the ``DeadLetter`` the tap
would write, at the coordinates the broker assigned.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from console.base.model import DeadLetter, Header
from console.store import Storage
from tests.dlq_headers_fixture import spring_dlt_headers

CONTRACT: dict[str, object] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["order_id", "quantity"],
    "properties": {
        "order_id": {"type": "string"},
        "quantity": {"type": "integer", "minimum": 1},
        "sku": {"type": "string"},
    },
}


def write_contract(directory: Path, topic: str, schema: dict[str, Any] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{topic}.schema.json").write_text(json.dumps(schema or CONTRACT))
    return directory


def dead_letters_on_broker(
    bootstrap: str,
    store: Storage,
    *,
    dlq_topic: str,
    original_topic: str,
    payloads: Sequence[bytes | None],
    correlation_ids: Sequence[str] | None = None,
    message: str = 'Cannot deserialize value of type `int` from String "two"',
    payload_limit: int | None = None,
) -> list[DeadLetter]:
    """Produce ``payloads`` to ``dlq_topic`` with Spring headers; store them as the tap would."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    coords: dict[int, tuple[int, int, int]] = {}
    made: list[tuple[list[Header], str, bytes | None]] = []
    now_ms = int(time.time() * 1000)
    for i, payload in enumerate(payloads):
        corr = correlation_ids[i] if correlation_ids else f"corr-{uuid.uuid4().hex[:12]}"
        trace = uuid.uuid4().hex
        headers = [
            ("x-correlation-id", corr.encode()),
            ("traceparent", f"00-{trace}-{uuid.uuid4().hex[:16]}-01".encode()),
            ("tenant", b"acme"),
            *spring_dlt_headers(
                topic=original_topic,
                partition=0,
                offset=100 + i,
                timestamp_ms=now_ms - 5000,
                group="orders-service",
                message=message,
            ),
        ]
        made.append((headers, corr, payload))

        def done(err: object, msg: Any, i: int = i) -> None:
            assert err is None, err
            coords[i] = (msg.partition(), msg.offset(), msg.timestamp()[1])

        producer.produce(
            dlq_topic, value=payload, key=f"k{i}".encode(), headers=list(headers), on_delivery=done
        )
        if i % 1000 == 999:
            producer.flush(30)
    assert producer.flush(30) == 0
    # Read the DLQ back and decode it with the tap's own decoder, as the tap would.
    from collectors.kafka.decode import MessageDecoder

    wanted = {coords[i][:2] for i in range(len(made))}
    messages = [
        m for m in read_topic(bootstrap, dlq_topic) if (m.partition(), m.offset()) in wanted
    ]
    decoder = (
        MessageDecoder()
        if payload_limit is None
        else MessageDecoder(dlq_payload_limit=payload_limit)
    )
    decoder.cluster_id = cluster_id_of(bootstrap)  # as the tap does on each assignment
    result = decoder.decode_batch(messages, time.time_ns())
    store.write(result.records)
    letters = [r for r in result.records if isinstance(r, DeadLetter)]
    assert len(letters) == len(payloads)
    order = {(p, o): i for i, (p, o, _) in coords.items()}
    letters.sort(key=lambda d: order[(d.partition, d.offset)])
    return letters


def cluster_id_of(bootstrap: str) -> str:
    from confluent_kafka.admin import AdminClient

    cluster_id = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).cluster_id
    assert cluster_id
    return cluster_id


def read_topic(bootstrap: str, topic: str, timeout: float = 15.0) -> list[Any]:
    """Every message now in ``topic`` (all partitions), read with a throwaway group."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-read-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        md = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if md is None or md.error is not None:
            return []
        parts = []
        ends = {}
        for p in md.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                parts.append(TopicPartition(topic, p, low))
                ends[p] = high
        if not parts:
            return []
        consumer.assign(parts)
        out = []
        deadline = time.monotonic() + timeout
        while ends and time.monotonic() < deadline:
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error():
                    continue
                out.append(msg)
                if (msg.offset() or 0) + 1 >= ends.get(msg.partition() or 0, 1 << 62):
                    ends.pop(msg.partition(), None)
        assert not ends, f"could not read {topic} to its end"
        return out
    finally:
        consumer.close()


def headers_of(msg: Any) -> dict[str, bytes | None]:
    return dict(msg.headers() or [])
