"""``journeys()``: the recent journeys with their status, fast on a big store.

Two passes. A light pass reads only the window's rows through the time indices (``hops_seen``,
``spans_start``, ``dead_letters_seen``), a few narrow columns each, and gives every correlation id
a tentative status: a dead letter -> dead_lettered/replayed; a hop on a non-DLQ topic with no
consumer span of the same correlation id on that topic after it -> stalled/in_flight; an error span
-> failed; else completed. Then, most recent first, ``journey()`` confirms each candidate whose
tentative status matches the filter until ``limit`` are found, so the summaries agree exactly with
``trace``. Journeys without a correlation id are not listed.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field

from console.errors import InputError
from console.journeys.assemble import journey
from console.journeys.derive import SKEW_NS, is_dlq_topic
from console.journeys.types import STATUSES, JourneySummary
from console.model import SPAN_KIND_CONSUMER, STATUS_ERROR
from console.store import Store

__all__ = ["DEFAULT_SINCE_S", "journeys"]

DEFAULT_SINCE_S = 3600.0


@dataclass(slots=True)
class _Light:
    last_ns: int = 0
    services: set[str] = field(default_factory=set)
    hops: list[tuple[str, int]] = field(default_factory=list)
    consumed: dict[str, int] = field(default_factory=dict)
    error: bool = False
    dead: bool = False

    def saw(self, t: int) -> None:
        if t > self.last_ns:
            self.last_ns = t

    def tentative(self, now_ns: int, stall_ns: int) -> str:
        if self.dead:
            return "dead_lettered"
        for topic, t in self.hops:
            if is_dlq_topic(topic):
                continue
            if self.consumed.get(topic, -1) < t - SKEW_NS:
                return "stalled" if now_ns - t > stall_ns else "in_flight"
        return "failed" if self.error else "completed"


def _light_pass(
    conn: sqlite3.Connection, since_ns: int, consumers_only: bool = False
) -> dict[str, _Light]:
    """Per correlation id: services, sends, consumptions, errors, dead letters in the window.

    Spans without a correlation id join through their trace (a span of the same trace has one,
    or a hop was sent from it) or through the message they consumed (topic, partition, offset).
    ``consumers_only`` reads only consumer spans (enough to tell stalled and in_flight apart).
    """
    found: dict[str, _Light] = {}

    def light(cid: str) -> _Light:
        got = found.get(cid)
        if got is None:
            got = found[cid] = _Light()
        return got

    cur = conn.cursor()
    cur.row_factory = None  # plain tuples: several times cheaper than sqlite3.Row here
    trace_cid: dict[str, str] = {}
    coord_cid: dict[tuple[str, int, int], str] = {}
    for cid, topic, partition, offset, trace_id, ts_ms, seen in cur.execute(
        "SELECT correlation_id, topic, partition, offset, trace_id, timestamp_ms, seen_ns "
        "FROM hops WHERE seen_ns >= ? AND correlation_id IS NOT NULL",
        (since_ns,),
    ):
        t = ts_ms * 1_000_000 if ts_ms > 0 else seen
        lt = light(cid)
        lt.hops.append((topic, t))
        lt.saw(t)
        coord_cid[(topic, partition, offset)] = cid
        if trace_id is not None:
            trace_cid.setdefault(trace_id, cid)
    later: list[tuple[str, str, int, int, str | None, int | None, str | None]] = []
    only = (
        " AND msg_destination IS NOT NULL AND (kind = 5 OR msg_operation IN "
        "('process', 'receive', 'deliver'))"
        if consumers_only
        else ""
    )
    for trace_id, cid, service, kind, start, status, dest, part, off, op in cur.execute(
        "SELECT trace_id, correlation_id, service, kind, start_ns, status_code, msg_destination, "
        "msg_partition, msg_offset, msg_operation FROM spans WHERE start_ns >= ?" + only,
        (since_ns,),
    ):
        if cid is None and dest is not None and off is not None:
            cid = coord_cid.get((dest, part or 0, off))
        if cid is None:
            later.append((trace_id, service, start, status, dest, kind, op))
            continue
        trace_cid.setdefault(trace_id, cid)
        _span_into(light(cid), service, start, status, dest, kind, op)
    for trace_id, service, start, status, dest, kind, op in later:
        cid = trace_cid.get(trace_id)
        if cid is not None:
            _span_into(light(cid), service, start, status, dest, kind, op)
    for cid, seen in cur.execute(
        "SELECT correlation_id, first_seen_ns FROM dead_letters "
        "WHERE first_seen_ns >= ? AND correlation_id IS NOT NULL",
        (since_ns,),
    ):
        lt = light(cid)
        lt.dead = True
        lt.saw(seen)
    return found


def _span_into(
    light: _Light,
    service: str,
    start: int,
    status: int,
    dest: str | None,
    kind: int | None,
    op: str | None,
) -> None:
    light.services.add(service)
    light.saw(start)
    if status == STATUS_ERROR:
        light.error = True
    consumer = kind == SPAN_KIND_CONSUMER or op in ("process", "receive", "deliver")
    if dest is not None and consumer and start > light.consumed.get(dest, -1):
        light.consumed[dest] = start


def journeys(
    store: Store | sqlite3.Connection,
    status: str | None = None,
    since_s: float | None = None,
    service: str | None = None,
    limit: int = 50,
    stall_after_s: float = 30,
    now_ns: int | None = None,
) -> list[JourneySummary]:
    """Journeys with activity in the last ``since_s`` seconds (default an hour), most recent
    first, optionally only those with ``status`` or touching ``service``."""
    if status is not None and status not in STATUSES:
        raise InputError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
    now = time.time_ns() if now_ns is None else now_ns
    since_ns = now - int((DEFAULT_SINCE_S if since_s is None else since_s) * 1e9)
    conn = store.connect(readonly=True) if isinstance(store, Store) else store
    conn.row_factory = sqlite3.Row
    try:
        consumers_only = status in ("stalled", "in_flight") and service is None
        lights = _light_pass(conn, since_ns, consumers_only)
        stall_ns = int(stall_after_s * 1e9)
        order = sorted(lights.items(), key=lambda kv: kv[1].last_ns, reverse=True)
        out: list[JourneySummary] = []
        for cid, light in order:
            if service is not None and service not in light.services:
                continue
            if status is not None:
                guess = light.tentative(now, stall_ns)
                if guess != status and not (status == "replayed" and guess == "dead_lettered"):
                    continue
            j = journey(conn, correlation_id=cid, stall_after_s=stall_after_s, now_ns=now)
            if j is None or (status is not None and j.status != status):
                continue
            if service is not None and service not in j.services:
                continue
            out.append(j.summary())
            if len(out) >= limit:
                break
        return out
    finally:
        if isinstance(store, Store):
            conn.close()
