"""Log records for the ``logs`` command and the live tail: filters, severities, JSON.

Severity follows the OTel log data model: numbers 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN,
17-20 ERROR, 21-24 FATAL. A record that gives only a text (number 0) is placed by its text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from console.base.model import LogRecord
from console.store.api import Cursor, SignalReads, StoreReader

__all__ = [
    "SEVERITIES",
    "LogFilter",
    "log_json",
    "new_logs",
    "parse_severity",
    "recent_logs",
    "severity_name",
    "severity_rank",
]

SEVERITIES = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
_ALIASES = {"WARNING": "WARN", "CRITICAL": "FATAL", "ERR": "ERROR"}


def parse_severity(text: str) -> int:
    """``"warn"`` -> the lowest severity number of WARN (13). Raises ValueError otherwise."""
    t = text.strip().upper()
    t = _ALIASES.get(t, t)
    if t not in SEVERITIES:
        raise ValueError(f"{text!r} is not one of {', '.join(SEVERITIES[1:])}")
    return SEVERITIES.index(t) * 4 + 1


def severity_rank(r: LogRecord) -> int:
    """The record's severity number, or its text's when the number is unspecified (0 if none)."""
    if r.severity_number:
        return r.severity_number
    try:
        return parse_severity(r.severity_text) if r.severity_text else 0
    except ValueError:
        return 0


def severity_name(r: LogRecord) -> str:
    """TRACE, DEBUG, INFO, WARN, ERROR or FATAL ("" when unspecified)."""
    n = severity_rank(r)
    return SEVERITIES[min(5, (n - 1) // 4)] if n > 0 else ""


@dataclass(frozen=True, slots=True)
class LogFilter:
    service: str | None = None
    min_severity: int = 0
    grep: str | None = None  # case-insensitive, in the body
    correlation_id: str | None = None

    def __call__(self, r: LogRecord) -> bool:
        if self.service is not None and r.service != self.service:
            return False
        if self.min_severity and severity_rank(r) < self.min_severity:
            return False
        if self.correlation_id is not None and r.correlation_id != self.correlation_id:
            return False
        return not (self.grep and self.grep.lower() not in r.body.lower())


def log_json(r: LogRecord) -> dict[str, Any]:
    return {
        "time_ns": r.time_ns,
        "service": r.service,
        "severity_text": r.severity_text,
        "severity_number": r.severity_number,
        "body": r.body,
        "trace_id": r.trace_id,
        "span_id": r.span_id,
        "correlation_id": r.correlation_id,
    }


def recent_logs(
    store: StoreReader,
    since_ns: int,
    keep: Callable[[LogRecord], bool] | None = None,
    limit: int | None = None,
) -> tuple[list[LogRecord], Cursor]:
    """Records since ``since_ns`` that ``keep`` accepts, oldest first, and the cursor of the
    newest record so far (where ``new_logs`` carries on)."""
    with store.reading():
        top = store.last_cursor(LogRecord)
        got = store.logs_between(since_ns, keep=keep, limit=limit)
    return [r for _, r in got], top


def new_logs(
    store: SignalReads,
    after: Cursor,
    keep: Callable[[LogRecord], bool] | None = None,
    limit: int = 1000,
) -> tuple[list[LogRecord], Cursor]:
    """Records stored after the cursor ``after`` that ``keep`` accepts, in arrival order (at
    most ``limit`` read; call again with the cursor returned for the rest), and the last cursor
    read."""
    got = store.logs_after(after, limit)
    top = got[-1][0] if got else after
    return [r for _, r in got if keep is None or keep(r)], top
