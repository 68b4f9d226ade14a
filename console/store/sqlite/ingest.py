"""Writing a batch into blocks, keys and summaries: the store's one write path.

``write_batch(conn, records, state)`` writes a mixed list of records in one transaction:

* spans, hops and log records into blocks (``blocks.py``) of at most ``MAX_RECORDS`` records or
  ``MAX_RAW_BYTES`` bytes; small requests are coalesced by the writer's batch, large ones split;
* their keys into the current key segment (``keys.py``), at most one key per value per block;
* the summaries readers list from (``summaries.py``): rollups per service and topic, journey
  activity, pending sends and consumer groups;
* metric points, dead letters and series as rows (``console/store/sqlite/rows.py``).

Duplicates (identities in ``identity.py``): a span or a hop already stored is not stored again,
whether it is in ``state``'s recent window or only in the blocks (probed once per batch: the
trace key index for spans, the hop buckets for hops), so a resend after a restart, a second tap
or ``--from-beginning`` stores nothing twice. A log record or metric point equal in every field
to one in the recent window is not stored again; one resent after the window moved on (or after
a restart, beyond the newest blocks and metric points the window starts from) is. The window is
updated only after the commit, so a batch that failed is not mistaken for stored when it is
retried.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

from console.base.model import (
    DeadLetter,
    Hop,
    LogRecord,
    MetricPoint,
    Record,
    Span,
    SpanRow,
)
from console.store.identity import (
    block_buckets,
    hop_identity,
    log_identity,
    metric_identity,
    span_row_identity,
)
from console.store.sqlite import blocks, keys, rows, summaries
from console.store.sqlite.blocks import KIND_HOP, KIND_LOG, KIND_SPAN, MAX_RAW_BYTES, MAX_RECORDS
from console.store.sqlite.dedupe import Window, drop_stored_hops, drop_stored_spans, seed
from console.store.sqlite.retention import retention_passes
from console.store.sqlite.tx import transaction

__all__ = ["IngestState", "write_batch"]

WINDOW_BYTES = 4 * 1024 * 1024  # the recent-duplicates window per record kind, in bytes


class IngestState:
    """What one writer keeps between batches: its key segment and the recent-duplicates window
    (``window_bytes`` for spans, as much for hops, a quarter of it for log records and metric
    points)."""

    def __init__(self, window_bytes: int = WINDOW_BYTES) -> None:
        self.segment: int | None = None
        self.segment_keys = 0
        self.segment_created_ns = 0
        self.spans = Window(window_bytes)
        self.hops = Window(window_bytes)
        self.others = Window(window_bytes // 4)  # log records and metric points (they carry no id)
        self.window_bytes = window_bytes
        self.retention_seen = 0  # retention passes of the file when the window was last valid
        self.loaded = False

    def check_retention(self, conn: sqlite3.Connection) -> None:
        """Start the window again if a retention pass deleted records since it was filled (this
        writer's own, or another tap's on the same file): it may name records that are gone,
        and a resend of one would be taken for a duplicate and not stored."""
        passes = retention_passes(conn)
        if passes != self.retention_seen:
            self.retention_seen = passes
            self.spans = Window(self.window_bytes)
            self.hops = Window(self.window_bytes)
            self.others = Window(self.window_bytes // 4)
            self.loaded = False  # seeded again from the newest blocks (those retention left)

    def load(self, conn: sqlite3.Connection) -> None:
        row = conn.execute(
            "SELECT id, keys, created_ns FROM segments ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is not None:
            self.segment, self.segment_keys, self.segment_created_ns = row[0], row[1], row[2]
        else:
            self.segment = None
        if not self.loaded:
            self.retention_seen = retention_passes(conn)
            seed(conn, self.spans, self.hops, self.others)
        self.loaded = True


def _chunks(records: Sequence[Any], size_of: Any = None) -> list[Sequence[Any]]:
    if size_of is None:
        return [records[i : i + MAX_RECORDS] for i in range(0, len(records), MAX_RECORDS)]
    out: list[Sequence[Any]] = []
    start = 0
    total = 0
    for i, r in enumerate(records):
        n = size_of(r)
        if i > start and (i - start >= MAX_RECORDS or total + n > MAX_RAW_BYTES):
            out.append(records[start:i])
            start, total = i, 0
        total += n
    if start < len(records):
        out.append(records[start:])
    return out


def _hop_size(h: Hop) -> int:
    return (
        120
        + len(h.payload or b"")
        + len(h.key or b"")
        + sum(len(n) + len(v or b"") for n, v in h.headers)
    )


def _log_size(r: LogRecord) -> int:
    return 120 + len(r.body)


class _Batch:
    def __init__(self, conn: sqlite3.Connection, state: IngestState, now_ns: int) -> None:
        self.conn = conn
        self.state = state
        self.now_ns = now_ns
        self.key_rows: set[tuple[int, int]] = set()
        self.first_block: int | None = None
        self.last_block: int | None = None
        self.min_ns: int | None = None
        self.max_ns: int | None = None
        self.next_id = _next_block_id(conn)

    def block(self, kind: int, blob: bytes, n: int, lo: int, hi: int, raw: int) -> int:
        bid = self.next_id
        self.next_id += 1
        self.conn.execute(
            "INSERT INTO blocks (id, kind, segment, n, min_ns, max_ns, raw_bytes, data, arrived_ns)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (bid, kind, self.state.segment, n, lo, hi, raw, blob, self.now_ns),
        )
        if self.first_block is None:
            self.first_block = bid
        self.last_block = bid
        self.min_ns = lo if self.min_ns is None else min(self.min_ns, lo)
        self.max_ns = hi if self.max_ns is None else max(self.max_ns, hi)
        return bid

    def add_keys(self, kind: int, values: set[Any], bid: int) -> None:
        key = keys.key
        rows_ = self.key_rows
        for v in values:
            if v is not None:
                rows_.add((key(kind, v), bid))


def _next_block_id(conn: sqlite3.Connection) -> int:
    """The id the next block gets: above every id ever given, so ids are never reused when
    retention has removed the highest blocks (a follower pages by them: a reused id would sit
    below its cursor and be skipped)."""
    row = conn.execute(
        "SELECT max(coalesce((SELECT CAST(value AS INTEGER) FROM meta"
        " WHERE key = 'last_block_id'), 0), coalesce((SELECT max(id) FROM blocks), 0))"
    ).fetchone()
    return int(row[0]) + 1


def _ensure_segment(conn: sqlite3.Connection, state: IngestState, now_ns: int) -> None:
    if not state.loaded or state.segment is None:
        state.load(conn)
    else:  # another writer (a second tap) may have started a segment, or added keys, since
        row = conn.execute("SELECT id, keys FROM segments ORDER BY id DESC LIMIT 1").fetchone()
        if row is None or row[0] != state.segment:
            state.load(conn)
        else:
            state.segment_keys = row[1]
    age_s = (now_ns - state.segment_created_ns) / 1e9
    if (
        state.segment is None
        or state.segment_keys >= keys.SEGMENT_KEYS
        or age_s >= keys.SEGMENT_AGE_S
    ):
        cur = conn.execute("INSERT INTO segments (created_ns) VALUES (?)", (now_ns,))
        sid = int(cur.lastrowid or 0)
        conn.execute(
            f"CREATE TABLE keys_{sid} (key INTEGER NOT NULL, block INTEGER NOT NULL,"
            " PRIMARY KEY (key, block)) WITHOUT ROWID"
        )
        state.segment, state.segment_keys, state.segment_created_ns = sid, 0, now_ns


def write_batch(
    conn: sqlite3.Connection,
    records: Sequence[Record],
    state: IngestState | None = None,
    *,
    now_ns: int | None = None,
    also: Callable[[sqlite3.Connection], object] | None = None,
    dedupe: bool = True,
    dry_run: bool = False,
) -> int:
    """Write ``records`` in one transaction; returns how many were stored (duplicates are not).

    ``also`` runs inside the same transaction (the upgrade deletes the rows it moved there); a
    transaction the caller has begun is the one used, and committed (or rolled back);
    ``dedupe=False`` stores every record given (the upgrade moves rows already unique);
    ``dry_run=True`` does everything but commit (it rolls back: the writer uses it to find the
    records a failed batch cannot store) and leaves ``state`` as it was."""
    state = state if state is not None else IngestState()
    if state.loaded:
        state.check_retention(conn)
    if not state.loaded:
        state.load(conn)  # the window starts from the newest blocks: a retry after a restart
    now = time.time_ns() if now_ns is None else now_ns
    spans: list[SpanRow] = []
    hops: list[Hop] = []
    logs: list[LogRecord] = []
    others: list[Record] = []
    span_ids: list[Any] = []
    hop_ids: list[Any] = []
    seen_s: set[Any] = set()
    seen_h: set[Any] = set()
    seen_o: set[Any] = set()
    other_ids: list[Any] = []
    recent = state.spans
    # Per record type: its identity, the recent window, this batch's identities, what is new.
    rules: dict[type, tuple[Any, Window, set[Any], list[Any], list[Any]]] = {
        Hop: (hop_identity, state.hops, seen_h, hop_ids, hops),
        LogRecord: (log_identity, state.others, seen_o, other_ids, logs),
        MetricPoint: (metric_identity, state.others, seen_o, other_ids, others),
    }
    for r in records:
        kind = type(r)
        if kind is SpanRow or kind is Span:
            # `kind is` narrows nothing for mypy; cast() would cost a call per span on the hot path
            row: SpanRow = r if kind is SpanRow else blocks.span_row(r)  # type: ignore[assignment, arg-type]  # above
            ident = span_row_identity(row)
            if dedupe and (ident in seen_s or ident in recent):
                continue
            seen_s.add(ident)
            span_ids.append(ident)
            spans.append(row)
        else:
            rule = rules.get(kind)
            if rule is None:  # dead letters (unique in their table), series points
                others.append(r)
                continue
            identity, window, seen, ids, into = rule
            ident = identity(r)
            if dedupe and (ident in seen or ident in window):
                continue
            seen.add(ident)
            ids.append(ident)
            into.append(r)
    span_blocks: list[int] = []
    # A transaction the caller opened is taken over (the upgrade reads and writes in one).
    try:
        with transaction(conn, adopt=True) as tx:
            # Not in the recent window is not "new": a re-read after a restart, a second tap or a
            # resend after the window moved on is found in the blocks.
            if hops and dedupe:
                hops = drop_stored_hops(conn, hops)
            if spans and dedupe:
                spans = drop_stored_spans(conn, spans, state.spans)
            stored = len(spans) + len(hops) + len(logs)
            if spans or hops or logs:
                _ensure_segment(conn, state, now)
                batch = _Batch(conn, state, now)
                span_blocks = _write_spans(batch, spans)
                _write_hops(batch, hops)
                _write_logs(batch, logs)
                _finish_segment(batch)
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('last_block_id', ?)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (batch.next_id - 1,),
                )
                summaries.summarise(conn, spans, hops, logs)
                # Records ever written into blocks: retention never lowers it (soak, stats).
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('block_records_written', ?)"
                    " ON CONFLICT(key) DO UPDATE SET"
                    " value = CAST(value AS INTEGER) + excluded.value",
                    (stored,),
                )
            stored += rows.write_rows(conn, others, now)
            summaries.activity_dead(conn, [r for r in others if isinstance(r, DeadLetter)])
            if also is not None:
                also(conn)
            if dry_run:
                tx.rollback()
                state.segment = None  # a segment it started is gone: look again next time
                return stored
    except BaseException:
        state.segment = None  # its counts (or a segment it started) were rolled back too
        raise
    state.spans.add_all(span_ids, span_blocks)
    state.hops.add_all([hop_identity(h) for h in hops])
    state.others.add_all(other_ids)
    return stored


def _write_spans(batch: _Batch, spans: list[SpanRow]) -> list[int]:
    written: list[int] = []
    for chunk in _chunks(spans):
        blob = blocks.encode_spans(chunk)
        starts = [r[5] for r in chunk]
        bid = batch.block(KIND_SPAN, blob, len(chunk), min(starts), max(starts), len(blob))
        written.append(bid)
        batch.add_keys(keys.K_TRACE, {r[0] for r in chunk}, bid)
        batch.add_keys(keys.K_CID, {r[11] for r in chunk}, bid)
        links = {lk[0] for r in chunk if r[21] for lk in r[21]}
        if links:
            batch.add_keys(keys.K_LINK, links, bid)
        business = {v for r in chunk if len(r) > 22 and r[22] for v in r[22]}
        if business:  # the same namespace as message keys: ``trace --key`` probes one
            batch.add_keys(keys.K_MSGKEY, {v.encode() for v in business}, bid)
    return written


def _write_hops(batch: _Batch, hops: list[Hop]) -> None:
    ranges: list[tuple[Any, ...]] = []
    for chunk in _chunks(hops, _hop_size):
        blob = blocks.encode_hops(chunk)
        seen = [h.seen_ns for h in chunk]
        bid = batch.block(KIND_HOP, blob, len(chunk), min(seen), max(seen), len(blob))
        batch.add_keys(keys.K_TRACE, {h.trace_id for h in chunk}, bid)
        batch.add_keys(keys.K_CID, {h.correlation_id for h in chunk}, bid)
        msgkeys = {h.key for h in chunk if h.key}
        msgkeys |= {v.encode() for h in chunk for v in getattr(h, "business_keys", ())}
        batch.add_keys(keys.K_MSGKEY, msgkeys, bid)
        span: dict[tuple[str, int], list[int]] = {}
        for h in chunk:
            lo_hi = span.get((h.topic, h.partition))
            if lo_hi is None:
                span[(h.topic, h.partition)] = [h.offset, h.offset]
            elif h.offset < lo_hi[0]:
                lo_hi[0] = h.offset
            elif h.offset > lo_hi[1]:
                lo_hi[1] = h.offset
        for (topic, partition), (lo, hi) in span.items():
            ranges.extend((topic, partition, b, bid, lo, hi) for b in block_buckets(lo, hi))
    if ranges:
        batch.conn.executemany(
            "INSERT OR IGNORE INTO hop_ranges (topic, partition, bucket, block, lo, hi)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            ranges,
        )


def _write_logs(batch: _Batch, logs: list[LogRecord]) -> None:
    for chunk in _chunks(logs, _log_size):
        blob = blocks.encode_logs(chunk)
        times = [r.time_ns for r in chunk]
        bid = batch.block(KIND_LOG, blob, len(chunk), min(times), max(times), len(blob))
        batch.add_keys(keys.K_TRACE, {r.trace_id for r in chunk}, bid)
        batch.add_keys(keys.K_CID, {r.correlation_id for r in chunk}, bid)


def _finish_segment(batch: _Batch) -> None:
    conn, state = batch.conn, batch.state
    if batch.key_rows:
        conn.executemany(
            f"INSERT OR IGNORE INTO keys_{state.segment} (key, block) VALUES (?, ?)",
            list(batch.key_rows),
        )
    n = len(batch.key_rows)
    conn.execute(
        "UPDATE segments SET keys = keys + ?, first_block = coalesce(first_block, ?),"
        " last_block = ?, min_ns = min(coalesce(min_ns, ?), ?),"
        " max_ns = max(coalesce(max_ns, ?), ?)"
        " WHERE id = ?",
        (
            n,
            batch.first_block,
            batch.last_block,
            batch.min_ns,
            batch.min_ns,
            batch.max_ns,
            batch.max_ns,
            state.segment,
        ),
    )
    state.segment_keys += n
