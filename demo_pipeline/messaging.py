"""Producing events: the JSON payload, the four headers, and a PRODUCER span per send.

Headers on every event: ``x-correlation-id``, ``traceparent`` (W3C, from the send span),
``event-type`` and ``schema-version``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any, cast

from confluent_kafka import KafkaError, Message, Producer
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from demo_pipeline.contracts import SCHEMA_VERSION
from demo_pipeline.telemetry import PROPAGATOR, Telemetry

__all__ = ["Emitter", "Stats", "header_map", "new_event"]

Header = tuple[str, bytes]
_PURGED = (KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT)


class Stats:
    """Thread-safe counters for the run's summary."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.dead_letters: Counter[str] = Counter()
        self.shipped: dict[str, str] = {}  # correlation id -> order id
        self.last_activity = time.monotonic()  # when a record was last sent or processed

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n
            self.last_activity = time.monotonic()

    def dead_letter(self, reason: str) -> None:
        with self._lock:
            self.dead_letters[reason] += 1
            self.last_activity = time.monotonic()

    def ship(self, correlation_id: str, order_id: str) -> None:
        with self._lock:
            self.shipped[correlation_id] = order_id
            self.last_activity = time.monotonic()


def consumed_headers(msg: Message) -> list[tuple[str, bytes | None]]:
    """A consumed record's headers: pairs with bytes values (the stubs allow a dict and str)."""
    return cast("list[tuple[str, bytes | None]]", msg.headers() or [])


def header_map(headers: list[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """Headers as text; a repeated name keeps its last value (as Spring reads them)."""
    out: dict[str, str] = {}
    for name, value in headers or []:
        out[name] = (value or b"").decode("utf-8", "replace")
    return out


def new_event(event_type: str, correlation_id: str, **fields: Any) -> dict[str, Any]:
    """A payload with the envelope every contract requires."""
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "schema_version": SCHEMA_VERSION,
        "correlation_id": correlation_id,
        "occurred_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        **fields,
    }


class Emitter:
    """One service's Kafka producer; every send gets a PRODUCER span and the standard headers."""

    def __init__(self, telemetry: Telemetry, bootstrap: str, stats: Stats) -> None:
        self.tel = telemetry
        self.stats = stats
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "client.id": telemetry.service_name,
                "enable.idempotence": True,
                "linger.ms": 5,
            }
        )
        self._sent = telemetry.meter.create_counter(
            "canvasflow.events.produced", unit="{event}", description="Events acknowledged by Kafka"
        )

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            topic = msg.topic() or ""
            kind = "records_forwarded" if topic.endswith(("-retry", "-dlt")) else "events_produced"
            self.stats.add(kind)
            self._sent.add(1, {"messaging.destination.name": topic})
        else:
            self.stats.add("produce_errors")
            if err.code() not in _PURGED:  # purged at stop: counted in undelivered_at_stop
                self.tel.log.error("produce to %s failed: %s", msg.topic(), err)

    def emit(
        self,
        topic: str,
        key: str,
        payload: dict[str, Any],
        *,
        extra_headers: list[Header] | None = None,
    ) -> None:
        """Send ``payload`` (its ``event_type``/``correlation_id`` become headers) under a span."""
        value = json.dumps(payload).encode()
        self.send_raw(
            topic,
            key,
            value,
            event_type=str(payload.get("event_type", "")),
            correlation_id=str(payload.get("correlation_id", "")),
            extra_headers=extra_headers,
        )

    def send_raw(
        self,
        topic: str,
        key: str,
        value: bytes,
        *,
        event_type: str,
        correlation_id: str,
        extra_headers: list[Header] | None = None,
    ) -> None:
        attrs: dict[str, AttributeValue] = {
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.operation.name": "send",
            "messaging.destination.name": topic,
            "messaging.kafka.message.key": key,
            "messaging.client.id": self.tel.service_name,
            "messaging.message.body.size": len(value),
            "correlation.id": correlation_id,
            "event.type": event_type,
        }
        with self.tel.tracer.start_as_current_span(
            f"send {topic}", kind=SpanKind.PRODUCER, attributes=attrs
        ):
            carrier: dict[str, str] = {}
            PROPAGATOR.inject(carrier)
            headers: list[Header] = [
                ("x-correlation-id", correlation_id.encode()),
                ("traceparent", carrier.get("traceparent", "").encode()),
                ("event-type", event_type.encode()),
                ("schema-version", SCHEMA_VERSION.encode()),
                *(extra_headers or []),
            ]
            self._produce(topic, key, value, headers)

    def forward(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[Header]
    ) -> None:
        """Send a record as is (retry and dead-letter topics), inside the current span."""
        self._produce(topic, key, value, headers)

    def _produce(
        self, topic: str, key: str | bytes | None, value: bytes | None, headers: list[Header]
    ) -> None:
        while True:
            try:
                self.producer.produce(
                    topic,
                    key=key,
                    value=value,
                    headers=headers,  # type: ignore[arg-type]  # list is invariant: bytes values fit
                    on_delivery=self._delivered,
                )
                break
            except BufferError:
                self.producer.poll(0.1)
        self.producer.poll(0)

    def close(self, timeout: float = 10.0) -> int:
        """Flush (at most ``timeout`` seconds) and close; the number of records left undelivered.

        Records still undelivered then are purged first: ``close()`` on a producer still holding
        records waits for them, and with the broker gone it never returned (issue 28)."""
        left = self.producer.flush(timeout)
        if left:
            self.producer.purge()
            self.producer.flush(0)  # their delivery reports (purged) count them as errors
        self.producer.close()
        return left
