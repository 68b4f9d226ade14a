"""Dead letters: which messages are dead letters, and what their headers say (pure).

A message is a dead letter when its topic matches one of the DLQ patterns (defaults
``.*\\.dlq$``, ``.*-dlq$``, ``.*-dlt$``, ``.*\\.DLT$``) or when it carries the headers of one of the
two conventions in use:

* Spring Kafka ``DeadLetterPublishingRecoverer`` (``kafka_dlt-*``): original partition a 4-byte
  big-endian int, original offset and timestamp 8-byte big-endian longs, everything else UTF-8.
  A header name may repeat (a record dead-lettered twice): the last one wins.
* Kafka Connect (``errors.deadletterqueue.context.headers.enable=true``, ``__connect.errors.*``):
  all UTF-8 strings, numbers too. A sink connector's consumer group is ``connect-<connector>``
  unless overridden; that default is reported as the consumer group.
* Kafka Streams (KIP-1034, Kafka 4.x, ``__streams.errors.*``): ``topic``, ``partition``,
  ``offset``, ``exception``, ``message``, ``stacktrace``, all UTF-8 strings, numbers too.

``decode_dlq_headers(headers)`` returns the fields of ``console.base.model.DeadLetter`` that the
headers fill (``convention``: spring, connect, streams or none; ``original_topic``,
``original_partition``, ``original_offset``, ``original_timestamp_ms``, ``consumer_group``,
``exception_class``, ``exception_cause_class``, ``exception_message``, ``stacktrace``),
so ``DeadLetter(..., **decode_dlq_headers(h))`` works.
Garbage never raises: a value of the wrong length or not UTF-8 leaves its field ``None`` (numbers
written as decimal text are accepted too) while the raw bytes stay in the record's headers.
``describe_header(name, value)`` renders one header for people: the decoded number for Spring's
binary partition, offset and timestamp, text where the value is UTF-8, ``0x…`` hex otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from console.base.model import Header

__all__ = [
    "CONNECT_PREFIX",
    "DEFAULT_DLQ_PATTERNS",
    "DLQ_HEADER_PREFIXES",
    "SPRING_PREFIX",
    "STREAMS_PREFIX",
    "DlqMatcher",
    "decode_dlq_headers",
    "describe_header",
    "has_dlq_headers",
    "is_dead_letter",
]

DEFAULT_DLQ_PATTERNS: tuple[str, ...] = (r".*\.dlq$", r".*-dlq$", r".*-dlt$", r".*\.DLT$")
SPRING_PREFIX = "kafka_dlt-"
CONNECT_PREFIX = "__connect.errors."
STREAMS_PREFIX = "__streams.errors."
DLQ_HEADER_PREFIXES = (SPRING_PREFIX, CONNECT_PREFIX, STREAMS_PREFIX)

# Spring header name -> (DeadLetter field, binary width as written, 0 for text).
_SPRING: dict[str, tuple[str, int]] = {
    "kafka_dlt-original-topic": ("original_topic", 0),
    "kafka_dlt-original-partition": ("original_partition", 4),
    "kafka_dlt-original-offset": ("original_offset", 8),
    "kafka_dlt-original-timestamp": ("original_timestamp_ms", 8),
    "kafka_dlt-original-consumer-group": ("consumer_group", 0),
    "kafka_dlt-exception-fqcn": ("exception_class", 0),
    "kafka_dlt-exception-cause-fqcn": ("exception_cause_class", 0),
    "kafka_dlt-exception-message": ("exception_message", 0),
    "kafka_dlt-exception-stacktrace": ("stacktrace", 0),
}
# Spring also writes key-deserialization variants of the exception headers.
_SPRING_KEY_ALIASES = {
    "kafka_dlt-key-exception-fqcn": "kafka_dlt-exception-fqcn",
    "kafka_dlt-key-exception-cause-fqcn": "kafka_dlt-exception-cause-fqcn",
    "kafka_dlt-key-exception-message": "kafka_dlt-exception-message",
    "kafka_dlt-key-exception-stacktrace": "kafka_dlt-exception-stacktrace",
}
_CONNECT: dict[str, tuple[str, bool]] = {
    "__connect.errors.topic": ("original_topic", False),
    "__connect.errors.partition": ("original_partition", True),
    "__connect.errors.offset": ("original_offset", True),
    "__connect.errors.exception.class.name": ("exception_class", False),
    "__connect.errors.exception.message": ("exception_message", False),
    "__connect.errors.exception.stacktrace": ("stacktrace", False),
}
_CONNECT_CONNECTOR = "__connect.errors.connector.name"
_STREAMS: dict[str, tuple[str, bool]] = {
    "__streams.errors.topic": ("original_topic", False),
    "__streams.errors.partition": ("original_partition", True),
    "__streams.errors.offset": ("original_offset", True),
    "__streams.errors.exception": ("exception_class", False),
    "__streams.errors.message": ("exception_message", False),
    "__streams.errors.stacktrace": ("stacktrace", False),
}
_FIELDS = (
    "original_topic",
    "original_partition",
    "original_offset",
    "original_timestamp_ms",
    "consumer_group",
    "exception_class",
    "exception_cause_class",
    "exception_message",
    "stacktrace",
)
_DECIMAL = re.compile(r"[+-]?\d{1,19}")
_INT64 = (-(2**63), 2**63 - 1)


class DlqMatcher:
    """Topic patterns compiled once, with a per-topic cache for the hot path."""

    __slots__ = ("_cache", "_regex", "patterns")

    def __init__(self, patterns: Sequence[str] | None = None) -> None:
        self.patterns = tuple(DEFAULT_DLQ_PATTERNS if patterns is None else patterns)
        joined = "|".join(f"(?:{p})" for p in self.patterns)
        self._regex = re.compile(joined) if self.patterns else None
        self._cache: dict[str, bool] = {}

    def is_dlq_topic(self, topic: str) -> bool:
        found = self._cache.get(topic)
        if found is None:
            found = self._regex is not None and self._regex.match(topic) is not None
            if len(self._cache) < 100_000:
                self._cache[topic] = found
        return found


def has_dlq_headers(headers: Iterable[Header] | None) -> bool:
    """True when a header of the Spring, Connect or Streams DLQ convention is present."""
    if not headers:
        return False
    return any(name.startswith(DLQ_HEADER_PREFIXES) for name, _ in headers)


def is_dead_letter(
    topic: str, headers: Iterable[Header] | None, patterns: Sequence[str] | None = None
) -> bool:
    """A dead letter by its topic name or by its headers."""
    return DlqMatcher(patterns).is_dlq_topic(topic) or has_dlq_headers(headers)


def _text(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _decimal(value: bytes | None) -> int | None:
    text = _text(value)
    if text is None or not _DECIMAL.fullmatch(text.strip()):
        return None
    n = int(text.strip())
    return n if _INT64[0] <= n <= _INT64[1] else None


def _spring_int(value: bytes | None) -> int | None:
    """A big-endian int (4 or 8 bytes, whichever was written); decimal text leniently."""
    if value is None:
        return None
    if len(value) in (4, 8):
        return int.from_bytes(value, "big", signed=True)
    return _decimal(value)


def decode_dlq_headers(headers: Iterable[Header] | None) -> dict[str, Any]:
    """The ``DeadLetter`` fields the headers give (``convention``: spring, connect, streams or
    none)."""
    last: dict[str, bytes | None] = {}
    spring = connect = streams = False
    for name, value in headers or ():
        if name.startswith(SPRING_PREFIX):
            spring = True
            last[_SPRING_KEY_ALIASES.get(name, name)] = value
        elif name.startswith(CONNECT_PREFIX):
            connect = True
            last[name] = value
        elif name.startswith(STREAMS_PREFIX):
            streams = True
            last[name] = value
    out: dict[str, Any] = dict.fromkeys(_FIELDS)
    if spring:
        out["convention"] = "spring"
        for name, (field, width) in _SPRING.items():
            if name in last:
                value = last[name]
                out[field] = _spring_int(value) if width else _text(value)
    elif connect:
        out["convention"] = "connect"
        for name, (field, numeric) in _CONNECT.items():
            if name in last:
                value = last[name]
                out[field] = _decimal(value) if numeric else _text(value)
        connector = _text(last.get(_CONNECT_CONNECTOR))
        if connector:
            out["consumer_group"] = f"connect-{connector}"
    elif streams:
        out["convention"] = "streams"
        for name, (field, numeric) in _STREAMS.items():
            if name in last:
                value = last[name]
                out[field] = _decimal(value) if numeric else _text(value)
    else:
        out["convention"] = "none"
    return out


def _printable(text: str) -> bool:
    return all(ch.isprintable() or ch in "\n\r\t" for ch in text)


def describe_header(name: str, value: bytes | None) -> str:
    """One header value for people: Spring's binary numbers decoded, text, or ``0x…`` hex."""
    if value is None:
        return "null"
    spec = _SPRING.get(name)
    if spec is not None and spec[1] and len(value) in (4, 8):
        return str(int.from_bytes(value, "big", signed=True))
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + value.hex()
    if _printable(text):
        return text
    return "0x" + value.hex()
