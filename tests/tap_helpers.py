"""Tap test helpers: produce for real, wait for a condition, record what reached the sink."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from console.base.model import Header, Hop, Record
from console.base.sink import Ticket
from console.store import StoreWriter


def produce(
    bootstrap: str,
    topic: str,
    messages: Sequence[tuple[bytes | None, bytes | None, Sequence[Header]]],
    *,
    partition: int | None = None,
) -> list[tuple[int, int]]:
    """Produce ``(key, value, headers)`` messages; returns their (partition, offset), acked."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    acks: list[tuple[int, int]] = []
    errors: list[Any] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(err)
        else:
            acks.append((msg.partition(), msg.offset()))

    for key, value, headers in messages:
        kwargs: dict[str, Any] = {"key": key, "value": value, "headers": list(headers)}
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                producer.produce(topic, on_delivery=on_delivery, **kwargs)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0
    assert not errors, errors
    return acks


def wait_for(cond: Callable[[], object], timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll ``cond`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class RecordingSink:
    """Forwards to the real store writer and remembers every hop coordinate handed over."""

    def __init__(self, writer: StoreWriter, delay_s: float = 0.0) -> None:
        self.writer = writer
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.hop_coordinates: list[tuple[str, int, int]] = []
        self.records: list[Record] = []

    def submit(self, records: Sequence[Record]) -> Ticket:
        if self.delay_s:
            time.sleep(self.delay_s)
        ticket = self.writer.submit(records)
        with self.lock:
            self.records.extend(records)
            self.hop_coordinates.extend(
                (r.topic, r.partition, r.offset) for r in records if isinstance(r, Hop)
            )
        return ticket

    def flush(self, timeout: float = 60.0) -> None:
        self.writer.flush(timeout)

    def hops(self) -> int:
        with self.lock:
            return len(self.hop_coordinates)


def committed_total(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    """The sum of ``group``'s committed offsets on ``topic`` (read without joining the group)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        return sum(max(tp.offset, 0) for tp in c.committed(tps, timeout=10))
    finally:
        c.close()
