"""What a span's or log record's attributes say about its journey: one derivation, two users.

The OTLP receivers set a record's derived fields (``Span.correlation_id``, ``messaging_*``,
``business_keys``; ``LogRecord.correlation_id``) from its attributes as they decode it; a store
that keeps only the attributes, as the OpenTelemetry Collector's clickhouse exporter does
(``SpanAttributes`` is a map of strings), derives the same fields from them when it reads. Both
call these functions, so a journey cannot be found by one and missed by the other.

Attribute values may be any JSON value (the receivers) or their text (the exporter's maps:
``31`` becomes ``"31"``): every function here gives the same answer for either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

__all__ = [
    "DEFAULT_CORRELATION_KEYS",
    "GROUP_KEYS",
    "MESSAGE_KEY_ATTRIBUTES",
    "OFFSET_KEYS",
    "OPERATION_KEYS",
    "SpanFields",
    "as_int",
    "as_text",
    "business_keys",
    "correlation_id",
    "first",
    "span_fields",
]

#: Where a correlation id is looked for, in order: on the record, then on its resource.
DEFAULT_CORRELATION_KEYS: tuple[str, ...] = (
    "correlation.id",
    "correlation_id",
    "app.correlation_id",
    "messaging.message.conversation_id",
)
#: Span attributes always indexed as business keys: the Kafka message key a span names.
MESSAGE_KEY_ATTRIBUTES: tuple[str, ...] = ("messaging.kafka.message.key",)
OFFSET_KEYS: tuple[str, ...] = ("messaging.kafka.offset", "messaging.kafka.message.offset")
OPERATION_KEYS: tuple[str, ...] = ("messaging.operation.type", "messaging.operation")
GROUP_KEYS: tuple[str, ...] = ("messaging.consumer.group.name", "messaging.kafka.consumer.group")

_MIN_INT64 = -(1 << 63)
_MAX_INT64 = (1 << 63) - 1


def as_text(value: Any) -> str | None:
    """An attribute as text: a string as it is, another value as JSON, nothing for ""/None."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value)


def as_int(value: Any) -> int | None:
    """An attribute as a 64-bit integer, None when it is not one (a bool is not)."""
    if isinstance(value, bool) or value is None:
        return None
    if not isinstance(value, int):
        try:
            value = int(value)
        except (TypeError, ValueError, OverflowError):
            return None
    return value if _MIN_INT64 <= value <= _MAX_INT64 else None


def first(attrs: Mapping[str, Any], keys: Sequence[str]) -> Any:
    """The value of the first of ``keys`` that ``attrs`` holds and is not empty."""
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


def business_keys(attrs: Mapping[str, Any], names: Sequence[str]) -> tuple[str, ...]:
    """The text values of the attributes ``names`` (and the message key attribute) in ``attrs``."""
    out: list[str] = []
    for name in (*MESSAGE_KEY_ATTRIBUTES, *names):
        value = as_text(attrs.get(name))
        if value is not None and value not in out:
            out.append(value)
    return tuple(out)


def correlation_id(
    attrs: Mapping[str, Any], resource: Mapping[str, Any], keys: Sequence[str]
) -> str | None:
    """The first correlation attribute found on the record, then on its resource."""
    found = first(attrs, keys)
    if found is None and resource:
        found = first(resource, keys)
    return as_text(found)


class SpanFields(NamedTuple):
    """A span's fields derived from its attributes (``Span``'s names)."""

    correlation_id: str | None
    messaging_system: str | None
    messaging_destination: str | None
    messaging_partition: int | None
    messaging_offset: int | None
    messaging_operation: str | None
    messaging_consumer_group: str | None
    business_keys: tuple[str, ...]


def span_fields(
    attrs: Mapping[str, Any],
    resource: Mapping[str, Any],
    correlation_keys: Sequence[str] = DEFAULT_CORRELATION_KEYS,
    key_attributes: Sequence[str] = (),
) -> SpanFields:
    """What ``attrs`` (a span's attributes; ``resource``, its resource's) say of its journey."""
    get = attrs.get
    return SpanFields(
        correlation_id=correlation_id(attrs, resource, correlation_keys),
        messaging_system=as_text(get("messaging.system")),
        messaging_destination=as_text(get("messaging.destination.name")),
        messaging_partition=as_int(get("messaging.destination.partition.id")),
        messaging_offset=as_int(first(attrs, OFFSET_KEYS)),
        messaging_operation=as_text(first(attrs, OPERATION_KEYS)),
        messaging_consumer_group=as_text(first(attrs, GROUP_KEYS)),
        business_keys=business_keys(attrs, key_attributes),
    )
