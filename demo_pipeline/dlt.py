"""Dead-letter records as Spring Kafka's ``DeadLetterPublishingRecoverer`` writes them.

Partition a 4-byte big-endian int, offset and timestamp 8-byte big-endian longs, the rest UTF-8.
The DLT of ``<topic>`` is ``<topic>-dlt``; the original record's headers are kept.
"""

from __future__ import annotations

import struct
import traceback
from dataclasses import dataclass

__all__ = ["DltOrigin", "dlt_topic", "spring_dlt_headers"]

Header = tuple[str, bytes]


def dlt_topic(topic: str) -> str:
    return f"{topic}-dlt"


@dataclass(frozen=True)
class DltOrigin:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    timestamp_type: str  # "CreateTime" or "LogAppendTime"
    group: str


def _fqcn(exc: BaseException) -> str:
    cls = type(exc)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def spring_dlt_headers(origin: DltOrigin, exc: BaseException) -> list[Header]:
    """The ``kafka_dlt-*`` headers for a record that failed with ``exc``."""
    cause: BaseException = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    stack = "".join(traceback.format_exception(exc)).strip()
    return [
        ("kafka_dlt-original-topic", origin.topic.encode()),
        ("kafka_dlt-original-partition", struct.pack(">i", origin.partition)),
        ("kafka_dlt-original-offset", struct.pack(">q", origin.offset)),
        ("kafka_dlt-original-timestamp", struct.pack(">q", origin.timestamp_ms)),
        ("kafka_dlt-original-timestamp-type", origin.timestamp_type.encode()),
        ("kafka_dlt-original-consumer-group", origin.group.encode()),
        ("kafka_dlt-exception-fqcn", _fqcn(exc).encode()),
        ("kafka_dlt-exception-cause-fqcn", _fqcn(cause).encode()),
        ("kafka_dlt-exception-message", str(exc).encode()),
        ("kafka_dlt-exception-stacktrace", stack.encode()),
    ]
