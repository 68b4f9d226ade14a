"""The one seam between the screens' workers and the domain modules console/journeys.py,
console/dlq.py and console/contracts.py (the same functions the CLI calls).

Every function takes the ``DataSource`` and runs in a worker thread.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tui_app.source import DataSource

__all__ = [
    "NotAvailable",
    "errors_by_line",
    "find_journey",
    "recent_journeys",
]

_COORD = re.compile(r"^(?P<topic>.+):(?P<partition>\d+):(?P<offset>\d+)$")
_TRACE = re.compile(r"^[0-9a-f]{32}$")


class NotAvailable(RuntimeError):
    """A sibling module this screen needs is not in this build."""


def _journeys() -> Any:
    try:
        from console import journeys  # type: ignore[attr-defined]
    except ImportError as exc:
        raise NotAvailable("console/journeys.py is not in this build") from exc
    return journeys


def _dlq() -> Any:
    try:
        from console import dlq  # type: ignore[attr-defined]
    except ImportError as exc:
        raise NotAvailable("console/dlq.py is not in this build") from exc
    return dlq


def query_kind(text: str) -> tuple[str, Any]:
    """What a search box text names: a Kafka coordinate, a trace id or a correlation id."""
    text = text.strip()
    m = _COORD.match(text)
    if m:
        return "message", (m["topic"], int(m["partition"]), int(m["offset"]))
    if _TRACE.match(text.lower()):
        return "trace_id", text.lower()
    return "correlation_id", text


def find_journey(source: DataSource, text: str) -> Any | None:
    raise NotAvailable("console/journeys.py is not in this build")


def recent_journeys(
    source: DataSource, *, status: str | None, service: str | None, topic: str | None
) -> list[Any]:
    raise NotAvailable("console/journeys.py is not in this build")


def errors_by_line(text: str, errors: list[tuple[str, str]]) -> list[tuple[int | None, str]]:
    """Map contract errors (JSON path, message) to the line of the text where the key sits."""
    lines = text.splitlines()
    out: list[tuple[int | None, str]] = []
    for path, message in errors:
        key = path.rstrip("/").split("/")[-1].split(".")[-1] if path else ""
        line = None
        if key and not key.isdigit():
            needle = json.dumps(key) + ":"
            for i, ln in enumerate(lines, 1):
                if needle in ln.replace('" :', '":'):
                    line = i
                    break
        out.append((line, message))
    return out
