"""Correlation and trace context from Kafka message headers (pure: bytes in, strings out).

* The **correlation id** comes from the first configured header name that a message carries
  (defaults ``x-correlation-id``, ``correlation-id``, ``correlationId``, ``correlation_id``;
  names match case-insensitively, and a repeated header's last value wins, as Kafka's
  ``lastHeader`` does).
  Values that are empty or not UTF-8 are ignored.
* The **trace context** comes from a W3C ``traceparent`` header
  (``version-traceid-parentid-flags``, lowercase hex). An invalid one is ignored, as the W3C Trace
  Context spec requires: version ``ff``, all-zero ids, uppercase or wrong lengths.
* With no correlation header, the trace id stands in as the correlation id.

``HeaderReader`` compiles the configuration once for the tap's hot path; the module-level
functions are the same rules for one-off use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from console.model import Header

__all__ = [
    "DEFAULT_CORRELATION_HEADERS",
    "TRACEPARENT",
    "HeaderReader",
    "correlation_id",
    "parse_traceparent",
    "read_context",
]

DEFAULT_CORRELATION_HEADERS: tuple[str, ...] = (
    "x-correlation-id",
    "correlation-id",
    "correlationId",
    "correlation_id",
)
TRACEPARENT = "traceparent"

_TRACEPARENT_RE = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def parse_traceparent(value: bytes | str | None) -> tuple[str, str] | None:
    """``(trace_id, span_id)`` from a W3C traceparent value, or None when it is not valid."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = value.encode("ascii")
        except UnicodeEncodeError:
            return None
    value = value.strip(b" \t")
    m = _TRACEPARENT_RE.fullmatch(value)
    if m is None:
        return None
    version, trace, span, _flags, rest = m.groups()
    if version == b"ff" or (version == b"00" and rest is not None):
        return None
    trace_id = trace.decode("ascii")
    span_id = span.decode("ascii")
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return trace_id, span_id


def _text(value: bytes | None) -> str | None:
    if not value:
        return None
    try:
        text = value.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    return text or None


class HeaderReader:
    """The correlation-header configuration, compiled for reading many messages."""

    __slots__ = ("_rank", "names")

    def __init__(self, correlation_headers: Sequence[str] | None = None) -> None:
        names = tuple(correlation_headers or DEFAULT_CORRELATION_HEADERS)
        self.names = names
        rank: dict[str, int] = {}
        for i, name in enumerate(names):
            rank.setdefault(name.lower(), i)
        self._rank = rank

    def read(self, headers: Iterable[Header] | None) -> tuple[str | None, str | None, str | None]:
        """``(correlation_id, trace_id, span_id)`` of one message's headers."""
        if not headers:
            return None, None, None
        rank = self._rank
        best = len(rank)
        corr: str | None = None
        traceparent: bytes | None = None
        for name, value in headers:
            lname = name.lower()
            if lname == TRACEPARENT:
                traceparent = value
                continue
            r = rank.get(lname)
            if r is not None and r <= best:
                text = _text(value)
                if text is not None:
                    best, corr = r, text
        trace_id = span_id = None
        if traceparent is not None:
            ctx = parse_traceparent(traceparent)
            if ctx is not None:
                trace_id, span_id = ctx
        if corr is None:
            corr = trace_id
        return corr, trace_id, span_id


_DEFAULT_READER = HeaderReader()


def read_context(
    headers: Iterable[Header] | None, correlation_headers: Sequence[str] | None = None
) -> tuple[str | None, str | None, str | None]:
    """``(correlation_id, trace_id, span_id)``; the trace id stands in for a missing correlation."""
    reader = HeaderReader(correlation_headers) if correlation_headers else _DEFAULT_READER
    return reader.read(headers)


def correlation_id(
    headers: Iterable[Header] | None, correlation_headers: Sequence[str] | None = None
) -> str | None:
    """The correlation id of a message: a correlation header, else its traceparent's trace id."""
    return read_context(headers, correlation_headers)[0]
