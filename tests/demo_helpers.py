"""Reading and writing CanvasFlow topics from tests, as an outside client would."""

from __future__ import annotations

import json
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition


@dataclass
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    def header(self, name: str) -> bytes | None:
        found = None
        for k, v in self.headers:
            if k == name:
                found = v
        return found

    def json(self) -> dict[str, Any]:
        return json.loads(self.value or b"null")


def read_all(bootstrap: str, topic: str, timeout: float = 10.0) -> list[Rec]:
    """Every record of ``topic`` from the beginning, without committing anything."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-read-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        meta = c.list_topics(topic, timeout=timeout).topics[topic]
        parts = list(meta.partitions)
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        done: set[int] = set()
        out: list[Rec] = []
        import time

        deadline = time.monotonic() + timeout
        while len(done) < len(parts) and time.monotonic() < deadline:
            # confluent's Message types every field Optional; one without an error has them all.
            m: Any = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    done.add(m.partition())
                continue
            out.append(
                Rec(
                    m.topic(),
                    m.partition(),
                    m.offset(),
                    m.key(),
                    m.value(),
                    [(k, v or b"") for k, v in (m.headers() or [])],
                )
            )
        return out
    finally:
        c.close()


def upload_event(correlation_id: str, **over: Any) -> dict[str, Any]:
    payload = {
        "event_id": str(uuid.uuid4()),
        "event_type": "UploadReceived",
        "schema_version": "1",
        "correlation_id": correlation_id,
        "occurred_at": datetime.now(UTC).isoformat(),
        "upload_id": "up-" + correlation_id,
        "artist_id": "artist-7",
        "title": "Test Piece",
        "price": 99.5,
        "currency": "EUR",
        "image_url": f"s3://test/{correlation_id}.tiff",
        "size_bytes": 1234,
    }
    payload.update(over)
    return payload


def produce(
    bootstrap: str, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]]
) -> None:
    p = Producer({"bootstrap.servers": bootstrap})
    p.produce(topic, key=key, value=value, headers=list(headers))
    assert p.flush(10) == 0


def event_headers(payload: dict[str, Any]) -> list[tuple[str, bytes]]:
    return [
        ("x-correlation-id", payload["correlation_id"].encode()),
        ("event-type", payload["event_type"].encode()),
        ("schema-version", b"1"),
    ]


def decode_spring(rec: Rec) -> dict[str, Any]:
    """The kafka_dlt-* headers decoded as Spring writes them (struct for the numbers)."""
    h = {k: v for k, v in rec.headers}  # the last one wins
    return {
        "topic": h["kafka_dlt-original-topic"].decode(),
        "partition": struct.unpack(">i", h["kafka_dlt-original-partition"])[0],
        "offset": struct.unpack(">q", h["kafka_dlt-original-offset"])[0],
        "timestamp": struct.unpack(">q", h["kafka_dlt-original-timestamp"])[0],
        "timestamp_type": h["kafka_dlt-original-timestamp-type"].decode(),
        "group": h["kafka_dlt-original-consumer-group"].decode(),
        "fqcn": h["kafka_dlt-exception-fqcn"].decode(),
        "cause": h["kafka_dlt-exception-cause-fqcn"].decode(),
        "message": h["kafka_dlt-exception-message"].decode(),
        "stacktrace": h["kafka_dlt-exception-stacktrace"].decode(),
    }


def fix_upload(payload: dict[str, Any]) -> dict[str, Any]:
    """What an operator does to a poisoned upload: a decimal comma, a missing artist."""
    fixed = dict(payload)
    if isinstance(fixed.get("price"), str):
        fixed["price"] = float(fixed["price"].replace(",", "."))
    fixed.setdefault("artist_id", "artist-restored")
    return fixed
