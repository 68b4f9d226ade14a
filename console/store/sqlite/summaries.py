"""Summaries kept at ingest, in the writer's transaction: what the panels, the journey list and
the stalled search read instead of decoding blocks.

* ``service_rollup``: per service and ``ROLLUP_NS`` bucket, spans, entry spans (SERVER, CONSUMER
  or a root), their errors, log records, and a histogram of entry-span durations in the panels'
  bins (``duration_bin``); a late span updates its bucket.
* ``topic_rollup``: hops and bytes per topic and bucket; ``services``: first and last seen.
* ``journey_activity``: per correlation id and minute, the last activity and flags (an error
  span, a dead letter, a send).
* ``pending_sends``: a journey's message the tap saw that no consumer span has named yet; a
  consumer seen first leaves a ``consumed_marks`` row the send finds. ``topic_groups``: consumer
  groups per topic.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from console.base.jsontext import dumps
from console.base.model import (
    SPAN_KIND_CONSUMER,
    SPAN_KIND_SERVER,
    STATUS_ERROR,
    DeadLetter,
    Hop,
    LogRecord,
    SpanRow,
    is_dlq_topic,
)
from console.store.sqlite import rows
from console.store.sqlite.blocks import loads_json

__all__ = [
    "ACTIVITY_NS",
    "FLAG_DEAD",
    "FLAG_ERROR",
    "FLAG_SEND",
    "ROLLUP_NS",
    "activity_dead",
    "duration_bin",
    "summarise",
]

ROLLUP_NS = 10 * 1_000_000_000  # summaries per 10 s: panels merge them into their own buckets
ACTIVITY_NS = 60 * 1_000_000_000
_CONSUME_OPS = ("process", "receive", "deliver")

FLAG_ERROR = 1
FLAG_DEAD = 2
FLAG_SEND = 4


def duration_bin(start_ns: int, end_ns: int) -> int:
    """Two significant digits of the duration in microseconds (12345 us -> 512): the bins the
    panels' percentiles are computed from."""
    us = (end_ns - start_ns) // 1000
    if us < 100:
        return (200 + us) if us >= 10 else (100 + max(us, 0))
    digits = 3
    scale = 10
    while us >= scale * 100:
        digits += 1
        scale *= 10
    return digits * 100 + us // scale


def summarise(
    conn: sqlite3.Connection, spans: list[SpanRow], hops: list[Hop], logs: list[LogRecord]
) -> None:
    # service -> bucket -> [spans, entries, errors, logs, bins]
    roll: dict[tuple[str, int], list[Any]] = {}
    seen_services: dict[str, list[int]] = {}
    activity: dict[tuple[int, str], list[int]] = {}
    consumed: list[tuple[str, int, int, int]] = []
    groups: dict[tuple[str, str], int] = {}

    def saw(service: str, t: int) -> None:
        lo_hi = seen_services.get(service)
        if lo_hi is None:
            seen_services[service] = [t, t]
        elif t < lo_hi[0]:
            lo_hi[0] = t
        elif t > lo_hi[1]:
            lo_hi[1] = t

    def act(cid: str, t: int, flag: int) -> None:
        k = (t // ACTIVITY_NS, cid)
        a = activity.get(k)
        if a is None:
            activity[k] = [t, flag]
        else:
            if t > a[0]:
                a[0] = t
            a[1] |= flag

    entry_kinds = (SPAN_KIND_SERVER, SPAN_KIND_CONSUMER)
    for r in spans:
        service, start, kind, cid, dest = r[9], r[5], r[4], r[11], r[13]
        k = (service, start // ROLLUP_NS)
        ro = roll.get(k)
        if ro is None:
            ro = roll[k] = [0, 0, 0, 0, {}]
        ro[0] += 1
        err = r[7] == STATUS_ERROR
        if kind in entry_kinds or r[2] is None:  # entry spans: SERVER, CONSUMER or a root
            ro[1] += 1
            if err:
                ro[2] += 1
            code = duration_bin(start, r[6])
            bins = ro[4]
            bins[code] = bins.get(code, 0) + 1
        lo_hi = seen_services.get(service)
        if lo_hi is None:
            seen_services[service] = [start, start]
        elif start < lo_hi[0]:
            lo_hi[0] = start
        elif start > lo_hi[1]:
            lo_hi[1] = start
        if cid is not None:
            ak = (start // ACTIVITY_NS, cid)
            a = activity.get(ak)
            if a is None:
                activity[ak] = [start, FLAG_ERROR if err else 0]
            else:
                if start > a[0]:
                    a[0] = start
                if err:
                    a[1] |= FLAG_ERROR
        if dest is not None and (kind == SPAN_KIND_CONSUMER or r[16] in _CONSUME_OPS):
            if r[15] is not None:
                consumed.append((dest, r[14] or 0, r[15], start))
            if r[17]:
                g = (dest, r[17])
                groups[g] = max(groups.get(g, 0), start)
    for lr in logs:
        k = (lr.service, lr.time_ns // ROLLUP_NS)
        ro = roll.get(k)
        if ro is None:
            ro = roll[k] = [0, 0, 0, 0, {}]
        ro[3] += 1
        saw(lr.service, lr.time_ns)
    if roll:
        _merge_rollups(conn, roll)
    if seen_services:
        conn.executemany(
            rows.SERVICE_SQL, [(name, lo, hi) for name, (lo, hi) in seen_services.items()]
        )
    if hops:
        topics: dict[tuple[str, int], list[int]] = {}
        sends: list[tuple[Any, ...]] = []
        dlq_topics: dict[str, bool] = {}
        for h in hops:
            k2 = (h.topic, h.seen_ns // ROLLUP_NS)
            t = topics.get(k2)
            if t is None:
                t = topics[k2] = [0, 0, 0]
            t[0] += 1
            t[1] += h.size
            if h.seen_ns > t[2]:
                t[2] = h.seen_ns
            dlq = dlq_topics.get(h.topic)
            if dlq is None:
                dlq = dlq_topics[h.topic] = is_dlq_topic(h.topic)
            if h.correlation_id is None or dlq:
                continue  # only a journey's sends can stall it (untraced traffic is no journey)
            when = h.timestamp_ms * 1_000_000 if h.timestamp_ms > 0 else h.seen_ns
            sends.append((h.topic, h.partition, h.offset, h.correlation_id, when))
            act(h.correlation_id, when, FLAG_SEND)
        conn.executemany(
            "INSERT INTO topic_rollup (topic, bucket, hops, bytes, last_ns) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(topic, bucket) DO UPDATE SET hops = hops + excluded.hops,"
            " bytes = bytes + excluded.bytes, last_ns = max(last_ns, excluded.last_ns)",
            [(tp, b, n, size, last) for (tp, b), (n, size, last) in topics.items()],
        )
        if sends:
            conn.executemany(
                "INSERT OR IGNORE INTO pending_sends (topic, partition, offset, correlation_id,"
                " sent_ns) VALUES (?, ?, ?, ?, ?)",
                sends,
            )
            # A consumer seen before its send (another process, or spans ahead of the tap):
            # its mark clears the send, and goes. Marks are rare: skip when there is none.
            if conn.execute("SELECT 1 FROM consumed_marks LIMIT 1").fetchone():
                coords = [s[:3] for s in sends]
                conn.executemany(
                    "DELETE FROM pending_sends WHERE topic = ? AND partition = ? AND offset = ?"
                    " AND EXISTS (SELECT 1 FROM consumed_marks m WHERE m.topic = ?1"
                    " AND m.partition = ?2 AND m.offset = ?3)",
                    coords,
                )
                conn.executemany(
                    "DELETE FROM consumed_marks WHERE topic = ? AND partition = ? AND offset = ?",
                    coords,
                )
    if consumed:
        _consume(conn, consumed)
    if groups:
        conn.executemany(
            "INSERT INTO topic_groups (topic, grp, last_ns) VALUES (?, ?, ?)"
            " ON CONFLICT(topic, grp) DO UPDATE SET last_ns = max(last_ns, excluded.last_ns)",
            [(t, g, n) for (t, g), n in groups.items()],
        )
    if activity:
        _upsert_activity(conn, activity)


def _consume(conn: sqlite3.Connection, consumed: list[tuple[str, int, int, int]]) -> None:
    """Clear the pending sends that consumer spans name; a consumer seen before its send (the
    spans arrived ahead of the tap, or another process taps) leaves a mark the send will find."""
    by_tp: dict[tuple[str, int], list[int]] = {}
    for topic, partition, offset, _t in consumed:
        by_tp.setdefault((topic, partition), []).append(offset)
    found: set[tuple[str, int, int]] = set()
    for (topic, partition), offsets in by_tp.items():
        for i in range(0, len(offsets), 500):
            chunk = offsets[i : i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                (topic, partition, o)
                for (o,) in conn.execute(
                    "SELECT offset FROM pending_sends WHERE topic = ? AND partition = ?"
                    f" AND offset IN ({marks})",
                    (topic, partition, *chunk),
                )
            )
    if found:
        conn.executemany(
            "DELETE FROM pending_sends WHERE topic = ? AND partition = ? AND offset = ?",
            sorted(found),
        )
    early = [c for c in consumed if c[:3] not in found]
    if early:
        conn.executemany(
            "INSERT OR IGNORE INTO consumed_marks (topic, partition, offset, seen_ns)"
            " VALUES (?, ?, ?, ?)",
            early,
        )


def _upsert_activity(conn: sqlite3.Connection, activity: dict[tuple[int, str], list[int]]) -> None:
    conn.executemany(
        "INSERT INTO journey_activity (bucket, correlation_id, last_ns, flags) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(bucket, correlation_id) DO UPDATE SET"
        " last_ns = max(last_ns, excluded.last_ns), flags = flags | excluded.flags",
        [(b, cid, t, f) for (b, cid), (t, f) in activity.items()],
    )


def activity_dead(conn: sqlite3.Connection, dls: list[DeadLetter]) -> None:
    activity: dict[tuple[int, str], list[int]] = {}
    for d in dls:
        if d.correlation_id is None:
            continue
        t = d.first_seen_ns or d.timestamp_ms * 1_000_000
        k = (t // ACTIVITY_NS, d.correlation_id)
        a = activity.setdefault(k, [t, FLAG_DEAD])
        a[0] = max(a[0], t)
    if activity:
        _upsert_activity(conn, activity)


def _merge_rollups(conn: sqlite3.Connection, roll: dict[tuple[str, int], list[Any]]) -> None:
    existing: dict[tuple[str, int], dict[str, int]] = {}
    by_service: dict[str, list[int]] = {}
    for service, b in roll:
        by_service.setdefault(service, []).append(b)
    for service, bs in by_service.items():
        marks = ",".join("?" * len(bs))
        for b, bins in conn.execute(
            f"SELECT bucket, bins FROM service_rollup WHERE service = ? AND bucket IN ({marks})",
            (service, *bs),
        ):
            existing[(service, b)] = loads_json(bins)
    out = []
    for (service, b), (n, entries, errors, nlogs, bins) in roll.items():
        merged = existing.get((service, b), {})
        for code, c in bins.items():
            merged[str(code)] = merged.get(str(code), 0) + c
        out.append((service, b, n, entries, errors, nlogs, dumps(merged)))
    conn.executemany(
        "INSERT INTO service_rollup (service, bucket, spans, entries, errors, logs, bins)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(service, bucket) DO UPDATE SET"
        " spans = spans + excluded.spans, entries = entries + excluded.entries,"
        " errors = errors + excluded.errors, logs = logs + excluded.logs, bins = excluded.bins",
        out,
    )
