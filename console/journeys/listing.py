"""``journeys()``: the recent journeys with their status, fast on a big store.

Two passes. A light pass reads only summaries kept at ingest: ``journey_activity`` (per
correlation id and minute: the last activity, an error span, a dead letter) and
``pending_sends`` (messages the tap saw that no consumer has named yet). It gives every
correlation id a tentative status: a dead letter -> dead_lettered/replayed; a pending send ->
stalled/in_flight; an error span -> failed; else completed. The stalled search reads only the
pending sends. Then, most recent first, ``journey()`` confirms each candidate whose tentative status
matches the filter until ``limit`` are found, so the summaries agree exactly with ``trace``:
``journey()`` stays the judge. Journeys without a correlation id are not listed.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from console.base.errors import InputError
from console.journeys.assemble import journey
from console.journeys.types import STATUSES, JourneySummary
from console.store import Store
from console.store.sqlite import read
from console.store.sqlite.summaries import ACTIVITY_NS, FLAG_DEAD, FLAG_ERROR

__all__ = ["DEFAULT_SINCE_S", "journeys", "journeys_on_topic", "recent_cids_on_topic"]

DEFAULT_SINCE_S = 3600.0


@dataclass(slots=True)
class _Light:
    last_ns: int = 0
    error: bool = False
    dead: bool = False
    pending_ns: int | None = None  # the oldest send in the window nobody has consumed

    def tentative(self, now_ns: int, stall_ns: int) -> str:
        if self.dead:
            return "dead_lettered"
        if self.pending_ns is not None:
            return "stalled" if now_ns - self.pending_ns > stall_ns else "in_flight"
        return "failed" if self.error else "completed"


def _light_pass(
    conn: sqlite3.Connection, since_ns: int, pending_only: bool = False
) -> dict[str, _Light]:
    """Per correlation id with activity since ``since_ns``: last activity, error, dead letter and
    the oldest pending send. ``pending_only`` reads only the pending sends (enough to find the
    stalled and in-flight ones)."""
    found: dict[str, _Light] = {}
    cur = conn.cursor()
    cur.row_factory = None
    for cid, first, last in cur.execute(
        "SELECT correlation_id, min(sent_ns), max(sent_ns) FROM pending_sends"
        " WHERE sent_ns >= ? AND correlation_id IS NOT NULL GROUP BY correlation_id",
        (since_ns,),
    ):
        found[cid] = _Light(last_ns=last, pending_ns=first)
    if pending_only:
        return found
    for cid, last, err, dead in cur.execute(
        "SELECT correlation_id, max(last_ns), max(flags & ?), max(flags & ?)"
        " FROM journey_activity WHERE bucket >= ? GROUP BY correlation_id",
        (FLAG_ERROR, FLAG_DEAD, since_ns // ACTIVITY_NS),
    ):
        if last < since_ns and cid not in found:
            continue
        light = found.get(cid)
        if light is None:
            light = found[cid] = _Light()
        light.last_ns = max(light.last_ns, last)
        light.error = bool(err)
        light.dead = bool(dead)
    return found


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
        pending_only = status in ("stalled", "in_flight")
        lights = _light_pass(conn, since_ns, pending_only)
        stall_ns = int(stall_after_s * 1e9)
        order = sorted(lights.items(), key=lambda kv: kv[1].last_ns, reverse=True)
        out: list[JourneySummary] = []
        for cid, light in order:
            if status is not None:
                guess = light.tentative(now, stall_ns)
                # A pending send is only a candidate: a consumer span that names no offset
                # never clears it, so such a journey may still turn out completed or failed.
                # An error span is only a candidate too: a retry that worked recovers it.
                maybe = (
                    (status == "replayed" and guess == "dead_lettered")
                    or (status in ("completed", "failed") and guess in ("stalled", "in_flight"))
                    or (status == "completed" and guess == "failed")
                )
                if guess != status and not maybe:
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


def journeys_on_topic(
    conn: sqlite3.Connection,
    topic: str,
    status: str | None = None,
    limit: int = 100,
    stall_after_s: float = 30,
    now_ns: int | None = None,
) -> list[JourneySummary]:
    """The newest journeys that crossed ``topic`` (or were dead-lettered to it), optionally only
    those with ``status``, newest first."""
    conn.row_factory = sqlite3.Row
    out = []
    for cid in recent_cids_on_topic(conn, topic, limit):
        j = journey(conn, correlation_id=cid, stall_after_s=stall_after_s, now_ns=now_ns)
        if j is not None and (status is None or j.status == status):
            out.append(j.summary())
    return out


def recent_cids_on_topic(conn: sqlite3.Connection, topic: str, limit: int) -> list[str]:
    """The correlation ids of the newest journeys that crossed ``topic`` or were dead-lettered to
    it, newest first."""
    found = read.recent_hop_cids(conn, topic, limit)
    for cid, t in conn.execute(
        "SELECT correlation_id, max(first_seen_ns) FROM dead_letters"
        " WHERE (dlq_topic = ? OR original_topic = ?) AND correlation_id IS NOT NULL"
        " GROUP BY correlation_id",
        (topic, topic),
    ):
        found[cid] = max(found.get(cid, 0), t)
    return [cid for cid, _ in sorted(found.items(), key=lambda kv: -kv[1])[:limit]]
