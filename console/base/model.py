"""Plain records that flow from the collectors into the store and out to the readers.

Every record is a frozen dataclass with no behaviour beyond small derived properties. IDs are
lowercase hex strings (trace id 32 chars, span id 16 chars); times are integers in nanoseconds
since the epoch unless a field name says ``_ms``. Attribute maps hold JSON-compatible values
(str, int, float, bool, None, lists and dicts of those); bytes values are rendered as hex by the
decoders before they get here.

Kafka header values stay bytes (or None): a header is not text until someone proves it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AuditEntry",
    "DeadLetter",
    "EncodedAttributes",
    "FixedPayload",
    "Header",
    "Hop",
    "LogRecord",
    "MetricPoint",
    "Record",
    "ReplayEntry",
    "SeriesPoint",
    "Span",
    "SpanLink",
    "SpanRow",
    "header_text",
    "is_dlq_topic",
    "payload_sha256",
]

Attributes = dict[str, Any]
Header = tuple[str, bytes | None]


class EncodedAttributes(dict[str, Any]):
    """An attribute map that carries its own JSON text (``json``), when a decoder built it cheaply.

    ``json`` equals the store's encoding of the dict, or is None or unset (read it with
    ``getattr(attrs, "json", None)``); treat the map as read-only.
    """

    __slots__ = ("json",)
    json: str | None


# OTLP SpanKind values (opentelemetry.proto.trace.v1.Span.SpanKind).
SPAN_KIND_UNSPECIFIED = 0
SPAN_KIND_INTERNAL = 1
SPAN_KIND_SERVER = 2
SPAN_KIND_CLIENT = 3
SPAN_KIND_PRODUCER = 4
SPAN_KIND_CONSUMER = 5

# OTLP Status.StatusCode values.
STATUS_UNSET = 0
STATUS_OK = 1
STATUS_ERROR = 2


@dataclass(frozen=True, slots=True)
class SpanLink:
    trace_id: str
    span_id: str
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Span:
    trace_id: str
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    service: str
    parent_span_id: str | None = None
    kind: int = SPAN_KIND_UNSPECIFIED
    status_code: int = STATUS_UNSET
    status_message: str = ""
    attributes: Attributes = field(default_factory=dict)
    resource: Attributes = field(default_factory=dict)
    events: tuple[Attributes, ...] = ()  # each {"name", "time_ns", "attributes"}
    links: tuple[SpanLink, ...] = ()
    scope: str = ""
    correlation_id: str | None = None
    messaging_system: str | None = None
    messaging_destination: str | None = None
    messaging_partition: int | None = None
    messaging_offset: int | None = None
    messaging_operation: str | None = None
    messaging_consumer_group: str | None = None
    # Values of the business-key attributes (``--key-attribute``) and the message key attribute:
    # indexed like Kafka message keys, so ``trace --key`` finds the journey by them.
    business_keys: tuple[str, ...] = ()

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)

    @property
    def is_error(self) -> bool:
        return self.status_code == STATUS_ERROR


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One data point. ``kind`` is gauge, sum, histogram, exponential_histogram or summary."""

    name: str
    service: str
    time_ns: int
    kind: str
    value: float | None = None  # gauge and sum
    count: int | None = None  # histogram, exponential histogram, summary
    sum: float | None = None
    bucket_counts: tuple[int, ...] = ()
    explicit_bounds: tuple[float, ...] = ()
    unit: str = ""
    attributes: Attributes = field(default_factory=dict)
    start_time_ns: int = 0
    # Exponential histograms: bucket i of the positive (negative) range holds values in
    # (base**(offset+i), base**(offset+i+1)] with base = 2**(2**-scale); zero_count at 0.
    scale: int | None = None
    zero_count: int = 0
    positive_offset: int = 0
    positive_bucket_counts: tuple[int, ...] = ()
    negative_offset: int = 0
    negative_bucket_counts: tuple[int, ...] = ()
    # Histograms (both kinds): the smallest and largest value the point covers, when the
    # exporter sent them (OTLP's optional ``min``/``max``); quantile estimates stay inside them.
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True, slots=True)
class LogRecord:
    time_ns: int
    service: str
    severity_number: int = 0
    severity_text: str = ""
    body: str = ""
    trace_id: str | None = None
    span_id: str | None = None
    attributes: Attributes = field(default_factory=dict)
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True)
class Hop:
    """One Kafka message seen by the tap."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    timestamp_type: int = 0  # 0 none, 1 create time, 2 log append time (librdkafka's values)
    key: bytes | None = None
    size: int = 0
    headers: tuple[Header, ...] = ()
    correlation_id: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    payload_sha256: str | None = None
    payload: bytes | None = None  # kept only where configured (dead letters, by default)
    seen_ns: int = 0
    cluster_id: str | None = None  # the Kafka cluster's id (broker metadata), when known
    business_keys: tuple[str, ...] = ()  # JSON payload fields named by ``--key-attribute``


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message on a dead-letter topic, with what its headers say about where it came from.

    ``convention`` is ``spring``, ``connect``, ``streams`` or ``none`` (a DLQ topic without known
    headers). ``cluster_id`` is the id of the Kafka cluster the tap read it from (None: unknown).
    """

    dlq_topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None = None
    headers: tuple[Header, ...] = ()
    payload: bytes | None = None
    payload_truncated: bool = False
    payload_size: int = 0
    convention: str = "none"
    original_topic: str | None = None
    original_partition: int | None = None
    original_offset: int | None = None
    original_timestamp_ms: int | None = None
    consumer_group: str | None = None
    exception_class: str | None = None
    exception_cause_class: str | None = None
    exception_message: str | None = None
    stacktrace: str | None = None
    correlation_id: str | None = None
    trace_id: str | None = None
    first_seen_ns: int = 0
    status: str = "pending"  # pending, replayed, discarded
    cluster_id: str | None = None

    @property
    def coordinates(self) -> str:
        return f"{self.dlq_topic}:{self.partition}:{self.offset}"


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """A time-series sample the panels read: rates, lag, DLQ depth.

    ``name`` says what is measured (``topic.messages_per_s``, ``consumer.lag``, ...), ``subject``
    what it is about (a topic), ``detail`` the finer key (a group, ``group/partition``).
    """

    name: str
    subject: str
    time_ns: int
    value: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FixedPayload:
    dlq_topic: str
    partition: int
    offset: int
    version: int
    payload: bytes
    created_ns: int
    author: str
    sha256: str = ""
    # A fix encoded with a registry schema: its id / GUID, and the __value_schema_id header value
    # when the schema rides in headers rather than in the payload's prefix.
    schema_id: int | None = None
    schema_guid: str | None = None
    schema_header: bytes | None = None


@dataclass(frozen=True, slots=True)
class ReplayEntry:
    """One line of the replay ledger. ``state`` is pending, acked or failed."""

    replay_id: str
    dlq_topic: str
    partition: int
    offset: int
    target_topic: str
    payload_sha256: str
    state: str
    created_ns: int
    replay_count: int = 1
    acked_ns: int | None = None
    target_partition: int | None = None
    target_offset: int | None = None
    error: str | None = None
    os_user: str = ""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    time_ns: int
    os_user: str
    action: str  # fix, replay, discard, ...
    target: str  # DLQ coordinates or a selection
    result: str
    before_sha256: str | None = None
    after_sha256: str | None = None
    detail: Attributes = field(default_factory=dict)


class SpanRow(tuple[Any, ...]):
    """A span already laid out as the store keeps it, built by the fast OTLP decoder without a
    ``Span`` object (the store turns a ``Span`` into one too; readers get ``Span`` back).

    Fields by index: 0 trace id (16 raw bytes), 1 span id (8 raw bytes), 2 parent span id (raw
    bytes or None), 3 name, 4 kind, 5 start_ns, 6 end_ns, 7 status code, 8 status message,
    9 service, 10 scope, 11 correlation id, 12 messaging system, 13 destination, 14 partition,
    15 offset, 16 operation, 17 consumer group, 18 attributes as JSON text, 19 resource as JSON
    text, 20 events as JSON text or None, 21 links as ``[[trace hex, span hex, attributes]]`` or
    None, 22 (optional) business-key values as a list or None. An id that is not hex stays
    text.
    """

    __slots__ = ()


Record = Span | SpanRow | MetricPoint | LogRecord | Hop | DeadLetter | SeriesPoint


_DLQ_SUFFIXES = ("-dlt", ".dlt", "_dlt", "-dlq", ".dlq", "_dlq", ".dead-letter", "-dead-letter")


def is_dlq_topic(topic: str, known: Iterable[str] = ()) -> bool:
    """A dead-letter topic by name: one of ``known``, or a conventional suffix (``-dlt``...)."""
    return topic in set(known) or topic.lower().endswith(_DLQ_SUFFIXES)


def payload_sha256(payload: bytes | None) -> str | None:
    """Hex SHA-256 of a payload, None for a tombstone."""
    return None if payload is None else hashlib.sha256(payload).hexdigest()


def header_text(value: bytes | None) -> str:
    """A header value for people: UTF-8 text where it is, ``0x…`` hex where it is not."""
    if value is None:
        return "null"
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + value.hex()
    if text.isprintable():
        return text
    return "0x" + value.hex()
