"""A service's consumer loop: contract check, idempotency, retry with decay, dead letters.

Per record, one CONSUMER ``process`` span (a child of the producer's context, or a new trace
linked to it). Then:

- a payload breaking the topic's contract goes straight to ``<topic>-dlt``;
- an event already processed successfully by this consumer group is skipped (only successes
  are remembered, so a fixed replay of a failed event runs);
- a ``TransientError`` is retried through ``<topic>-retry`` after 3 quick then 3 slow delays
  (the loop pauses that partition and holds the record, and what it already fetched behind it,
  until the record is due; it never sleeps and never seeks), then dead-lettered;
- any other error is dead-lettered at once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, Message, TopicPartition
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from demo_pipeline.contracts import ContractViolation, validate
from demo_pipeline.dlt import DltOrigin, dlt_topic, spring_dlt_headers
from demo_pipeline.messaging import Emitter, Stats, consumed_headers, header_map
from demo_pipeline.telemetry import PROPAGATOR, Telemetry, duration_histogram

__all__ = ["DEFAULT_BACKOFF", "ConsumerService", "Delivery", "TransientError", "retry_topic"]

PROCESSED_KEYS_KEPT = 200_000  # idempotency keys remembered per consumer group (oldest dropped)
DEFAULT_BACKOFF: tuple[float, ...] = (0.2, 0.4, 0.8, 2.0, 3.0, 4.0)  # 3 quick, 3 slow
_RETRY_HEADERS = (
    "x-retry-attempt",
    "x-retry-not-before",
    "x-retry-group",
    "x-retry-reason",
    "x-original-partition",
    "x-original-offset",
    "x-original-timestamp",
    "x-original-timestamp-type",
)


class TransientError(Exception):
    """A failure worth retrying (a timeout, a busy dependency)."""


def retry_topic(topic: str) -> str:
    return f"{topic}-retry"


@dataclass
class Delivery:
    """One record, decoded and validated, as a handler sees it."""

    topic: str
    partition: int
    offset: int
    key: str
    headers: dict[str, str]
    payload: dict[str, Any]
    attempt: int = 0
    span: trace.Span = field(default_factory=trace.get_current_span)

    @property
    def correlation_id(self) -> str:
        return str(self.payload.get("correlation_id") or self.headers.get("x-correlation-id", ""))

    @property
    def replay_id(self) -> str | None:
        return self.headers.get("x-replay-id")


Handler = Callable[[Delivery], None]


class ConsumerService(threading.Thread):
    """Consume ``handlers``' topics (and their retry topics) in one thread until ``stop`` is set."""

    def __init__(
        self,
        *,
        telemetry: Telemetry,
        emitter: Emitter,
        bootstrap: str,
        group: str,
        handlers: dict[str, Handler],
        stats: Stats,
        stop: threading.Event,
        link_parent: bool = False,
        backoff: tuple[float, ...] = DEFAULT_BACKOFF,
    ) -> None:
        super().__init__(name=f"svc-{telemetry.service_name}", daemon=True)
        self.tel, self.emitter, self.group = telemetry, emitter, group
        self.handlers, self.stats, self.stop_event = handlers, stats, stop
        self.link_parent, self.backoff = link_parent, backoff
        self.processed: OrderedDict[str, None] = OrderedDict()  # event ids, successes only
        self._lock = threading.Lock()
        self._paused: dict[tuple[str, int], float] = {}  # partition -> when its held head is due
        self._held: dict[tuple[str, int], list[Message]] = {}  # records waiting, in order
        self._done: dict[tuple[str, int], int] = {}  # the last offset handled per partition
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "client.id": telemetry.service_name,
                "auto.offset.reset": "earliest",
                "enable.auto.offset.store": False,
                "session.timeout.ms": 10000,
                "topic.metadata.refresh.interval.ms": 2000,
            }
        )
        m = telemetry.meter
        self._outcomes = m.create_counter("canvasflow.messages.processed", unit="{message}")
        self._retries = m.create_counter("canvasflow.retries", unit="{retry}")
        self._dead = m.create_counter("canvasflow.dead_letters", unit="{message}")
        self._duration = duration_histogram(m, "canvasflow.process.duration")
        # The semantic-convention histogram the overview can read latency from.
        self._semconv_duration = duration_histogram(m, "messaging.process.duration")
        self._dedup_keys = m.create_gauge("canvasflow.dedup.keys", unit="{key}")

    @property
    def retrying(self) -> bool:
        """A retry is waiting for its delay (its partition is paused)."""
        return bool(self._paused)

    def seen(self, event_id: str) -> bool:
        with self._lock:
            return event_id in self.processed

    def run(self) -> None:
        topics = [*self.handlers, *(retry_topic(t) for t in self.handlers)]
        self.consumer.subscribe(topics)
        try:
            while not self.stop_event.is_set():
                self._resume_due()
                msg = self.consumer.poll(0.2)
                if msg is None:
                    continue
                if msg.error():
                    self.tel.log.warning("consumer error: %s", msg.error())
                    continue
                key = (msg.topic() or "", msg.partition() or 0)
                if (msg.offset() or 0) <= self._done.get(key, -1):
                    continue  # fetched again after a pause: already handled
                if key in self._held:
                    self._held[key].append(msg)
                    continue
                self._on_message(msg)
        finally:
            self.consumer.close()

    def _resume_due(self) -> None:
        now = time.time()
        for key, due in list(self._paused.items()):
            if due > now:
                continue
            del self._paused[key]
            held = self._held.pop(key, [])
            for i, m in enumerate(held):
                self._on_message(m)
                if key in self._held:  # held again: the rest waits behind it
                    self._held[key].extend(held[i + 1 :])
                    break
            else:
                self.consumer.resume([TopicPartition(*key)])

    def _on_message(self, msg: Message) -> None:
        topic = msg.topic() or ""
        headers = header_map(consumed_headers(msg))
        is_retry = topic.endswith("-retry")
        origin_topic = topic.removesuffix("-retry")
        key = (topic, msg.partition() or 0)
        if is_retry:
            if headers.get("x-retry-group") != self.group:
                self.consumer.store_offsets(msg)
                self._done[key] = msg.offset() or 0
                return
            due = int(headers.get("x-retry-not-before", "0")) / 1000
            if due > time.time():
                self.consumer.pause([TopicPartition(*key)])
                self._held[key] = [msg]
                self._paused[key] = due
                return
        started = time.perf_counter()
        with self._span(msg, origin_topic, headers) as span:
            outcome = self._process(msg, origin_topic, headers, span)
            span.set_attribute("canvasflow.outcome", outcome)
            self.tel.log.debug(
                "processed %s:%s:%s: %s",
                origin_topic,
                msg.partition(),
                msg.offset(),
                outcome,
                extra={"correlation.id": headers.get("x-correlation-id", "")},
            )
        self.consumer.store_offsets(msg)
        elapsed = time.perf_counter() - started
        self._done[key] = msg.offset() or 0
        attrs = {"messaging.destination.name": origin_topic, "outcome": outcome}
        self._outcomes.add(1, attrs)
        self._duration.record(elapsed, attrs)
        semconv: dict[str, str] = {
            "messaging.system": "kafka",
            "messaging.operation.name": "process",
            "messaging.destination.name": origin_topic,
            "messaging.consumer.group.name": self.group,
        }
        if outcome not in ("success", "duplicate"):
            semconv["error.type"] = outcome
        self._semconv_duration.record(elapsed, semconv)
        with self._lock:
            self._dedup_keys.set(len(self.processed))

    def _span(self, msg: Message, topic: str, headers: dict[str, str]) -> Any:
        """The CONSUMER span names the record it took, as real instrumentation does: a record
        from ``<topic>-retry`` is named by the retry topic's coordinates, not the first
        delivery's (``canvasflow.retry.topic`` keeps the topic it retries)."""
        taken = msg.topic() or topic
        parent = PROPAGATOR.extract(headers)
        parent_span = trace.get_current_span(parent).get_span_context()
        attrs: dict[str, AttributeValue] = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": taken,
            "messaging.destination.partition.id": str(msg.partition()),
            "messaging.kafka.offset": msg.offset() or 0,
            "messaging.consumer.group.name": self.group,
            "messaging.kafka.message.key": (msg.key() or b"").decode("utf-8", "replace"),
            "correlation.id": headers.get("x-correlation-id", ""),
            "event.type": headers.get("event-type", ""),
        }
        if taken != topic:
            attrs["canvasflow.retry.attempt"] = int(headers.get("x-retry-attempt", "0"))
            attrs["canvasflow.retry.topic"] = topic
        if "x-replay-id" in headers:
            attrs["canvasflow.replay.id"] = headers["x-replay-id"]
        name = f"process {taken}"
        if self.link_parent:
            links = [Link(parent_span)] if parent_span.is_valid else []
            return self.tel.tracer.start_as_current_span(
                name,
                context=otel_context.Context(),
                kind=SpanKind.CONSUMER,
                attributes=attrs,
                links=links,
            )
        return self.tel.tracer.start_as_current_span(
            name, context=parent, kind=SpanKind.CONSUMER, attributes=attrs
        )

    def _process(self, msg: Message, topic: str, headers: dict[str, str], span: trace.Span) -> str:
        cid = headers.get("x-correlation-id", "")
        try:
            payload = validate(topic, msg.value())
        except ContractViolation as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, "contract violation"))
            self._dead_letter(msg, topic, headers, exc, "contract-violation")
            return "contract-violation"
        event_id = str(payload["event_id"])
        span.set_attribute("messaging.message.id", event_id)
        if self.seen(event_id):
            self.stats.add("duplicates_skipped")
            span.set_attribute("canvasflow.duplicate", True)
            self.tel.log.info("duplicate event skipped", extra={"correlation.id": cid})
            return "duplicate"
        attempt = int(headers.get("x-retry-attempt", "0")) if msg.topic() != topic else 0
        delivery = Delivery(
            topic,
            msg.partition() or 0,
            msg.offset() or 0,
            (msg.key() or b"").decode("utf-8", "replace"),
            headers,
            payload,
            attempt,
            span,
        )
        try:
            self.handlers[topic](delivery)
        except TransientError as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, "transient failure"))
            if attempt < len(self.backoff):
                self._retry(msg, topic, headers, attempt + 1, exc)
                return "retry"
            self._dead_letter(msg, topic, headers, exc, "retries-exhausted")
            return "retries-exhausted"
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            self._dead_letter(msg, topic, headers, exc, "processing-error")
            return "processing-error"
        with self._lock:
            self.processed[event_id] = None
            if len(self.processed) > PROCESSED_KEYS_KEPT:
                self.processed.popitem(last=False)
        self.stats.add("processed")
        return "success"

    def _origin(self, msg: Message, topic: str, headers: dict[str, str]) -> DltOrigin:
        ts_type, ts = msg.timestamp()
        if msg.topic() != topic:  # from the retry topic: name the first delivery
            return DltOrigin(
                topic,
                int(headers["x-original-partition"]),
                int(headers["x-original-offset"]),
                int(headers["x-original-timestamp"]),
                headers.get("x-original-timestamp-type", "CreateTime"),
                self.group,
            )
        kind = "LogAppendTime" if ts_type == TIMESTAMP_LOG_APPEND_TIME else "CreateTime"
        return DltOrigin(topic, msg.partition() or 0, msg.offset() or 0, ts, kind, self.group)

    def _kept_headers(self, msg: Message) -> list[tuple[str, bytes]]:
        return [
            (k, v or b"")
            for k, v in consumed_headers(msg)
            if k not in _RETRY_HEADERS and not k.startswith("kafka_dlt-")
        ]

    def _retry(
        self, msg: Message, topic: str, headers: dict[str, str], attempt: int, exc: Exception
    ) -> None:
        delay = self.backoff[attempt - 1]
        origin = self._origin(msg, topic, headers)
        extra = [
            ("x-retry-attempt", str(attempt).encode()),
            ("x-retry-not-before", str(int((time.time() + delay) * 1000)).encode()),
            ("x-retry-group", self.group.encode()),
            ("x-retry-reason", type(exc).__name__.encode()),
            ("x-original-partition", str(origin.partition).encode()),
            ("x-original-offset", str(origin.offset).encode()),
            ("x-original-timestamp", str(origin.timestamp_ms).encode()),
            ("x-original-timestamp-type", origin.timestamp_type.encode()),
        ]
        self.emitter.forward(
            retry_topic(topic), msg.key(), msg.value(), self._kept_headers(msg) + extra
        )
        self.stats.add("retries")
        self._retries.add(1, {"messaging.destination.name": topic, "attempt": attempt})
        self.tel.log.warning(
            "transient failure, retry %d in %.1fs: %s",
            attempt,
            delay,
            exc,
            extra={"correlation.id": headers.get("x-correlation-id", "")},
        )

    def _dead_letter(
        self, msg: Message, topic: str, headers: dict[str, str], exc: Exception, reason: str
    ) -> None:
        origin = self._origin(msg, topic, headers)
        out = self._kept_headers(msg) + spring_dlt_headers(origin, exc)
        self.emitter.forward(dlt_topic(topic), msg.key(), msg.value(), out)
        self.stats.dead_letter(reason)
        self._dead.add(1, {"messaging.destination.name": topic, "reason": reason})
        self.tel.log.error(
            "dead-lettered to %s (%s): %s",
            dlt_topic(topic),
            reason,
            type(exc).__name__,
            extra={"correlation.id": headers.get("x-correlation-id", "")},
        )
