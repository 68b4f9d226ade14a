"""OTLP messages as the OpenTelemetry Collector's ``kafka`` exporter writes them, to records.

One Kafka message holds one export request: a serialized ``ExportTraceServiceRequest``,
``ExportMetricsServiceRequest`` or ``ExportLogsServiceRequest`` (``otlp_proto``, the exporter's
default) or the same in OTLP JSON (``otlp_json``). The topic says which signal it is
(``topic_signals``); the first byte says which encoding (OTLP JSON is an object, ``{``; a
protobuf request never starts with that byte, since ``{`` is no field tag of these messages).
Decoding goes through the receivers' own decoders (``FastTraceDecoder`` for protobuf traces,
``parse_body`` with ``metrics_from_request``/``logs_from_request`` otherwise).

A message that does not decode is a *bad message*: counted, its coordinates logged at WARNING
(its payload never; the decoder's reason only at DEBUG, since it may quote the payload), and
skipped: its offset still moves on, so it never stops the consumer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collectors.kafka.decode import BatchResult
from collectors.otlp.decode import (
    DEFAULT_CORRELATION_KEYS,
    Decoded,
    DecodeError,
    Format,
    logs_from_request,
    metrics_from_request,
    parse_body,
    spans_from_request,
)
from collectors.otlp.fast import FastTraceDecoder

__all__ = [
    "DEFAULT_OTLP_TOPICS",
    "SIGNALS",
    "OtlpMessageDecoder",
    "topic_signals",
]

log = logging.getLogger("handoff.otlp.kafka")

SIGNALS = ("traces", "metrics", "logs")
#: The Collector kafka exporter's default topic for each signal.
DEFAULT_OTLP_TOPICS = "otlp_spans,otlp_metrics,otlp_logs"
_HINTS = (("span", "traces"), ("trace", "traces"), ("metric", "metrics"), ("log", "logs"))
_COUNT_KEYS = {"traces": "spans", "metrics": "metric_points", "logs": "log_records"}
_SIGNAL_NAMES = {"traces": "spans", "metrics": "metrics", "logs": "logs"}  # as the receivers count


def topic_signals(spec: str) -> dict[str, str]:
    """``{topic: signal}`` from ``'otlp_spans,otlp_metrics,otlp_logs'`` or ``'traces=t1,logs=t2'``.

    A bare name says its signal by containing ``span``/``trace``, ``metric`` or ``log``; any
    other name needs ``SIGNAL=``. Raises ``ValueError`` naming the item it cannot place.
    """
    out: dict[str, str] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        signal, sep, topic = item.partition("=")
        if sep:
            signal, topic = signal.strip().lower(), topic.strip()
            if signal not in SIGNALS or not topic:
                raise ValueError(
                    f"{item!r}: expected SIGNAL=TOPIC with SIGNAL one of traces, metrics, logs"
                )
        else:
            topic = item
            lower = item.lower()
            found = {s for hint, s in _HINTS if hint in lower}
            if len(found) != 1:
                raise ValueError(
                    f"cannot tell which signal topic {item!r} carries; "
                    f"write traces={item}, metrics={item} or logs={item}"
                )
            signal = found.pop()
        if topic.startswith("^"):
            raise ValueError(f"{item!r}: OTLP topics are names, not patterns")
        out[topic] = signal
    if not out:
        raise ValueError("no topics given")
    return out


class _NoDeadLetters:
    """OTLP topics hold no dead letters (what the tap's metrics ask of a matcher)."""

    def is_dlq_topic(self, topic: str) -> bool:
        return False


class OtlpMessageDecoder:
    """Decodes a batch of consumed messages; counts what it took and what it skipped.

    ``decode_batch`` has the tap's ``MessageDecoder`` shape (``BatchResult``; ``hops`` counts
    the records), so the consumer loop and its offset bookkeeping are the tap's own.
    """

    matcher = _NoDeadLetters()

    def __init__(
        self,
        signals: Mapping[str, str],
        correlation_keys: Sequence[str] = DEFAULT_CORRELATION_KEYS,
        key_attributes: Sequence[str] = (),
    ) -> None:
        self.signals = dict(signals)
        self.correlation_keys = tuple(correlation_keys)
        self.key_attributes = tuple(key_attributes)  # business keys, as the receivers index them
        self.cluster_id: str | None = None  # set by the consumer, as for the tap
        self._fast = FastTraceDecoder(self.correlation_keys, key_attributes=self.key_attributes)
        self.messages = 0
        self.bad_messages = 0
        self.last_bad: str | None = None  # "topic[partition]@offset: reason"
        self.rejected = 0  # records inside good messages refused (invalid ids)
        self.seen = {key: 0 for key in _COUNT_KEYS.values()}

    def decode(self, signal: str, value: bytes) -> Decoded:
        """One message's records; ``DecodeError`` when it is not an OTLP request of ``signal``."""
        head = value.lstrip()[:1]
        fmt: Format = "json" if head == b"{" else "protobuf"
        if signal == "traces":
            if fmt == "protobuf":
                return self._fast.decode_rows(value)
            return spans_from_request(
                parse_body(value, fmt, ExportTraceServiceRequest),
                self.correlation_keys,
                self.key_attributes,
            )
        if signal == "metrics":
            return metrics_from_request(parse_body(value, fmt, ExportMetricsServiceRequest))
        return logs_from_request(
            parse_body(value, fmt, ExportLogsServiceRequest), self.correlation_keys
        )

    def decode_batch(self, messages: Sequence[Any], now_ns: int) -> BatchResult:
        out = BatchResult()
        records = out.records
        for m in messages:
            if m.error() is not None:
                out.errors.append(str(m.error()))
                continue
            topic, partition, offset = m.topic(), m.partition(), m.offset()
            value = m.value() or b""
            signal = self.signals.get(topic)
            self.messages += 1
            try:
                if signal is None:
                    raise DecodeError(f"topic {topic!r} is not one of the OTLP topics")
                rows, rejected, _ = self.decode(signal, value)
            except (DecodeError, RecursionError, ValueError) as exc:
                self._bad(topic, partition, offset, len(value), signal, exc)
            else:
                records.extend(rows)
                out.hops += len(rows)
                self.rejected += rejected
                self.seen[_COUNT_KEYS[signal]] += len(rows)
                counted = _SIGNAL_NAMES[signal]
                out.signals[counted] = out.signals.get(counted, 0) + len(rows)
            out.next_offsets[(topic, partition)] = offset + 1
            counts = out.per_topic.get(topic)
            if counts is None:
                out.per_topic[topic] = [1, len(value)]
            else:
                counts[0] += 1
                counts[1] += len(value)
        return out

    def _bad(
        self, topic: str, partition: int, offset: int, size: int, signal: str | None, exc: Exception
    ) -> None:
        self.bad_messages += 1
        where = f"{topic}[{partition}]@{offset}"
        self.last_bad = f"{where}: not an OTLP {signal or 'request'} ({size} bytes)"
        log.warning(
            "otlp-kafka: skipped bad message %s (%d bytes, not an OTLP %s request)",
            where,
            size,
            signal or "known",
        )
        log.debug("otlp-kafka: %s: %s", where, exc)  # the reason may quote the payload
