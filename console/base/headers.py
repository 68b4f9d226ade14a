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

from console.base.model import Header

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


_OTHER, _TRACE, _FLAGGED = -1, -2, -3  # header kinds; a correlation header's kind is its rank


class HeaderReader:
    """The correlation-header configuration, compiled for reading many messages.

    ``flag_prefixes`` names header prefixes whose presence ``scan`` reports (the tap passes the
    DLQ conventions' prefixes, so one pass over the headers serves both purposes).
    """

    __slots__ = ("_kinds", "_rank", "flag_prefixes", "names")

    def __init__(
        self, correlation_headers: Sequence[str] | None = None, flag_prefixes: tuple[str, ...] = ()
    ) -> None:
        names = tuple(correlation_headers or DEFAULT_CORRELATION_HEADERS)
        self.names = names
        self.flag_prefixes = flag_prefixes
        rank: dict[str, int] = {}
        for i, name in enumerate(names):
            rank.setdefault(name.lower(), i)
        self._rank = rank
        self._kinds: dict[str, int] = {}

    def _kind(self, name: str) -> int:
        lname = name.lower()
        if lname == TRACEPARENT:
            kind = _TRACE
        elif lname in self._rank:
            kind = self._rank[lname]
        elif self.flag_prefixes and name.startswith(self.flag_prefixes):
            kind = _FLAGGED
        else:
            kind = _OTHER
        if len(self._kinds) < 10_000:  # header names are few; never grow without bound
            self._kinds[name] = kind
        return kind

    def scan(
        self, headers: Iterable[Header] | None
    ) -> tuple[str | None, str | None, str | None, bool]:
        """``(correlation_id, trace_id, span_id, flagged)`` of one message's headers."""
        if not headers:
            return None, None, None, False
        kinds = self._kinds
        best = len(self._rank)
        corr: str | None = None
        traceparent: bytes | None = None
        flagged = False
        for name, value in headers:
            kind = kinds.get(name)
            if kind is None:
                kind = self._kind(name)
            if kind == _OTHER:
                continue
            if kind == _TRACE:
                traceparent = value
            elif kind == _FLAGGED:
                flagged = True
            elif kind <= best:
                text = _text(value)
                if text is not None:
                    best, corr = kind, text
        trace_id = span_id = None
        if traceparent is not None:
            ctx = parse_traceparent(traceparent)
            if ctx is not None:
                trace_id, span_id = ctx
        if corr is None:
            corr = trace_id
        return corr, trace_id, span_id, flagged

    def read(self, headers: Iterable[Header] | None) -> tuple[str | None, str | None, str | None]:
        """``(correlation_id, trace_id, span_id)`` of one message's headers."""
        return self.scan(headers)[:3]


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
