"""The seam between the journey screens' workers and console/journeys: the same functions the
CLI calls. Every function takes the ``DataSource`` and runs in a worker thread; reads share the
source's connection under its lock. The DLQ screens call tui_app/dlq_ops.py.
"""

from __future__ import annotations

import re
from typing import Any

from console.base.coordinates import is_coordinates
from tui_app.source import DataSource

__all__ = [
    "dead_letter_of",
    "find_journey",
    "journey_query",
    "query_kind",
    "recent_journeys",
    "row_id",
]

_TRACE = re.compile(r"^[0-9a-f]{32}$")


# journeys ----------------------------------------------------------------------------------
def query_kind(text: str) -> tuple[str, str]:
    """What a search box names: a Kafka coordinate (``message``), a trace id or a correlation id."""
    text = text.strip()
    if is_coordinates(text):
        return "message", text
    if _TRACE.match(text.lower()):
        return "trace_id", text.lower()
    return "correlation_id", text


def find_journey(source: DataSource, text: str) -> Any | None:
    """The journey a search names (a correlation id, trace id, ``TOPIC:P:O``, or a business key
    as ``trace --key`` takes it), None, or a list of summaries when a key names several."""
    from console.journeys import journey, journeys_by_key

    kind, value = query_kind(text)
    now = source.clock()
    # `kind` names one of journey()'s str lookups (query_kind), never now_ns: mypy types a
    # **{str: str} as possibly now_ns too
    found = source.call(lambda store: journey(store, **{kind: value}, now_ns=now))  # type: ignore[arg-type]  # see above
    if found is None and kind == "trace_id":  # a 32-hex correlation id is possible too
        found = source.call(lambda store: journey(store, correlation_id=text.strip(), now_ns=now))
    if found is None and kind != "message":
        by_key = source.call(lambda store: journeys_by_key(store, text.strip(), now_ns=now))
        if len(by_key) == 1:
            return by_key[0]
        if by_key:
            return [j.summary() for j in by_key]
    return found


def journey_query(journey: Any) -> str | None:
    """What finds ``journey`` again: its correlation id, else its first trace id."""
    cid = getattr(journey, "correlation_id", None)
    if cid:
        return str(cid)
    traces = getattr(journey, "trace_ids", ()) or ()
    return str(traces[0]) if traces else None


def row_id(row: Any, journey_id: str) -> str:
    """The id a waterfall row stands for: a span's id, a hop's or dead letter's coordinates, or
    the journey's id on a service row."""
    if row is None:
        return journey_id
    if row.span is not None:
        return str(row.span.span_id)
    if row.kind in ("hop", "dead_letter"):
        return str(row.label).removeprefix("DLQ ")
    return journey_id


def dead_letter_of(row: Any, dead_letters: Any) -> str | None:
    """The coordinates of the dead letter a waterfall row shows, or the one its hop became."""
    if row is None:
        return None
    rec = getattr(row, "record", None)
    if row.kind == "dead_letter" and rec is not None:
        return str(rec.coordinates)
    if row.kind == "hop" and rec is not None:
        for d in dead_letters:
            if (d.original_topic, d.original_partition, d.original_offset) == (
                rec.topic,
                rec.partition,
                rec.offset,
            ) or (d.dlq_topic, d.partition, d.offset) == (rec.topic, rec.partition, rec.offset):
                return str(d.coordinates)
    return None


def recent_journeys(
    source: DataSource,
    *,
    status: str | None,
    service: str | None,
    topic: str | None,
    limit: int = 100,
) -> list[Any]:
    from console.journeys import journeys, journeys_on_topic

    now = source.clock()
    since = source.since_s()  # the window every screen shares (``w``)
    if topic is None:
        return source.call(
            lambda store: journeys(
                store, status=status, since_s=since, service=service, limit=limit, now_ns=now
            )
        )
    return source.call(
        lambda store: journeys_on_topic(store, topic, status=status, limit=limit, now_ns=now)
    )
