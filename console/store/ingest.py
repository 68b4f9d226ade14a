"""Writing a batch into blocks, keys and summaries: the store's one write path.

``write_batch(conn, records, state)`` writes a mixed list of records in one transaction:

* spans, hops and log records into blocks (``blocks.py``) of at most ``MAX_RECORDS`` records or
  ``MAX_RAW_BYTES`` bytes; small requests are coalesced by the writer's batch, large ones split;
* their keys into the current key segment (``keys.py``), at most one key per value per block;
* the summaries readers list from (``summaries.py``): rollups per service and topic, journey
  activity, pending sends and consumer groups;
* metric points, dead letters and series as rows (``console/store/rows.py``).

Duplicates: a span (trace id, span id), a hop (cluster, topic, partition, offset), or a log
record or metric point equal in every identifying field, already in ``state``'s recent window is
not stored again. The window is updated only after the commit, so a
batch that failed is not mistaken for stored when it is retried.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from console.base.jsontext import dumps
from console.base.model import (
    DeadLetter,
    Hop,
    LogRecord,
    MetricPoint,
    Record,
    Span,
    SpanRow,
)
from console.store import blocks, keys, rows, summaries
from console.store.blocks import KIND_HOP, KIND_LOG, KIND_SPAN, MAX_RAW_BYTES, MAX_RECORDS

__all__ = ["IngestState", "write_batch"]

HOP_BUCKET = 4096  # hop_ranges: offsets per bucket
WINDOW_BYTES = 4 * 1024 * 1024  # the recent-duplicates window per record kind, in bytes
_WIDE_BUCKET = 1 << 24


class _Window:
    """A set of recently stored identities, bounded in bytes, in two generations: when the new
    one reaches half the budget it becomes the old one and the old one is dropped. (Bounded in
    entries, 400,000 of them, the window took ~80 MB and kept ``serve`` growing for ten minutes.)
    An identity's size is measured once per window (identities of one kind have one shape)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.half = 1  # entries per generation, set from the first identity's size
        self._unit = 0
        self.new: set[Any] = set()
        self.old: set[Any] = set()

    def __contains__(self, item: Any) -> bool:
        return item in self.new or item in self.old

    def add_all(self, items: Sequence[Any]) -> None:
        if not items:
            return
        if not self._unit:
            self._unit = _identity_bytes(items[0])
            self.half = max(1, self.max_bytes // 2 // self._unit)
        self.new.update(items)
        if len(self.new) >= self.half:
            self.old, self.new = self.new, set()

    def bytes(self) -> int:
        """About what the window's two generations take, in bytes."""
        return (len(self.new) + len(self.old)) * self._unit


def _identity_bytes(item: Any) -> int:
    """What one identity costs in a set, in bytes: the object, what a tuple holds (small ints
    and shared strings are counted too, so this errs high) and a set slot at 2/3 load."""
    size = sys.getsizeof(item) + _SET_SLOT_BYTES
    if isinstance(item, tuple):
        size += sum(sys.getsizeof(x) for x in item)
    return size


_SET_SLOT_BYTES = 24  # a set entry (hash and pointer, 16 bytes) at a load factor of 2/3


class IngestState:
    """What one writer keeps between batches: its key segment and the recent-duplicates window
    (``window_bytes`` for spans, as much for hops, a quarter of it for log records and metric
    points)."""

    def __init__(self, window_bytes: int = WINDOW_BYTES) -> None:
        self.segment: int | None = None
        self.segment_keys = 0
        self.segment_created_ns = 0
        self.spans = _Window(window_bytes)
        self.hops = _Window(window_bytes)
        self.others = _Window(window_bytes // 4)  # log records and metric points (no id)
        self.loaded = False

    def load(self, conn: sqlite3.Connection) -> None:
        row = conn.execute(
            "SELECT id, keys, created_ns FROM segments ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is not None:
            self.segment, self.segment_keys, self.segment_created_ns = row[0], row[1], row[2]
        else:
            self.segment = None
        if not self.loaded:
            self._seed(conn)
        self.loaded = True

    def _seed(self, conn: sqlite3.Connection, last_blocks: int = 100) -> None:
        """Fill the window from the newest blocks, so a restart does not store a retry twice."""
        for kind, blob in conn.execute(
            "SELECT kind, data FROM blocks ORDER BY id DESC LIMIT ?", (last_blocks,)
        ):
            try:
                block = blocks.BlockReader(kind, blob)
            except Exception:  # a block this code cannot read is no reason not to write
                continue
            if kind == KIND_SPAN:
                self.spans.add_all([(t, block.fields(i)[0]) for i, t in enumerate(block.tids)])
            elif kind == KIND_LOG:
                self.others.add_all([_log_identity(r) for r in block.records()])
            else:
                ids = []
                for i in range(len(block)):
                    f = block.fields(i)
                    ids.append((f[12], f[0], f[1], f[2]))
                self.hops.add_all(ids)
        for row in conn.execute(
            "SELECT name, service, time_ns, start_time_ns, kind, attributes FROM metric_points"
            " ORDER BY id DESC LIMIT 20000"
        ):
            self.others.add_all([_metric_hash(*row)])


def _log_identity(r: LogRecord) -> int:
    """Log records have no id: two with the same time, service, severity, body and span are the
    same record delivered twice (an OTLP retry, or a Kafka re-read after a crash). Kept as the
    tuple's hash, so the window does not hold every recent body."""
    return hash(("l", r.time_ns, r.service, r.severity_number, r.body, r.trace_id, r.span_id))


def _metric_identity(m: MetricPoint) -> int:
    return _metric_hash(m.name, m.service, m.time_ns, m.start_time_ns, m.kind, dumps(m.attributes))


def _metric_hash(*fields: Any) -> int:
    return hash(("m", *fields))


def _span_identity(r: SpanRow) -> tuple[Any, Any]:
    return (r[0], r[1])


def _hop_identity(h: Hop) -> tuple[Any, ...]:
    return (getattr(h, "cluster_id", None), h.topic, h.partition, h.offset)


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
    else:  # another writer may have started a segment since
        row = conn.execute("SELECT max(id) FROM segments").fetchone()
        if row[0] != state.segment:
            state.load(conn)
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
) -> int:
    """Write ``records`` in one transaction; returns how many were stored (duplicates are not).

    ``also`` runs inside the same transaction (the upgrade deletes the rows it moved there);
    ``dedupe=False`` stores every record given (the upgrade moves rows already unique)."""
    state = state if state is not None else IngestState()
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
    rules: dict[type, tuple[Any, _Window, set[Any], list[Any], list[Any]]] = {
        Hop: (_hop_identity, state.hops, seen_h, hop_ids, hops),
        LogRecord: (_log_identity, state.others, seen_o, other_ids, logs),
        MetricPoint: (_metric_identity, state.others, seen_o, other_ids, others),
    }
    for r in records:
        kind = type(r)
        if kind is SpanRow or kind is Span:
            # `kind is` narrows nothing for mypy; cast() would cost a call per span on the hot path
            row: SpanRow = r if kind is SpanRow else blocks.span_row(r)  # type: ignore[assignment, arg-type]  # above
            ident = (row[0], row[1])
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
    conn.execute("BEGIN IMMEDIATE")
    try:
        if hops and dedupe:  # a re-read after a restart or a second tap: drop hops in blocks
            hops = _drop_stored_hops(conn, hops, hop_ids)
        stored = len(spans) + len(hops) + len(logs)
        if spans or hops or logs:
            _ensure_segment(conn, state, now)
            batch = _Batch(conn, state, now)
            _write_spans(batch, spans)
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
                " ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + excluded.value",
                (stored,),
            )
        stored += rows.write_rows(conn, others)
        summaries.activity_dead(conn, [r for r in others if isinstance(r, DeadLetter)])
        if also is not None:
            also(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # a failed COMMIT has rolled back already: keep its error
            conn.execute("ROLLBACK")
        raise
    state.spans.add_all(span_ids)
    state.hops.add_all([_hop_identity(h) for h in hops])
    state.others.add_all(other_ids)
    return stored


def _drop_stored_hops(conn: sqlite3.Connection, hops: list[Hop], ids: list[Any]) -> list[Hop]:
    by_tp: dict[tuple[str, int], list[int]] = {}
    for h in hops:
        by_tp.setdefault((h.topic, h.partition), []).append(h.offset)
    stored: set[Any] = set()
    for (topic, partition), offsets in by_tp.items():
        lo, hi = min(offsets), max(offsets)
        for (bid,) in conn.execute(
            "SELECT DISTINCT block FROM hop_ranges WHERE topic = ? AND partition = ?"
            " AND bucket IN (?, ?, ?, ?) AND lo <= ? AND hi >= ?",
            (
                topic,
                partition,
                lo // HOP_BUCKET,
                hi // HOP_BUCKET,
                -1 - lo // _WIDE_BUCKET,
                -1 - hi // _WIDE_BUCKET,
                hi,
                lo,
            ),
        ):
            row = conn.execute("SELECT data FROM blocks WHERE id = ?", (bid,)).fetchone()
            if row is None:
                continue
            block = blocks.BlockReader(KIND_HOP, row[0])
            for i in range(len(block)):
                f = block.fields(i)
                stored.add((f[12], f[0], f[1], f[2]))
    if not stored:
        return hops
    return [h for h in hops if _hop_identity(h) not in stored]


def _write_spans(batch: _Batch, spans: list[SpanRow]) -> None:
    for chunk in _chunks(spans):
        blob = blocks.encode_spans(chunk)
        starts = [r[5] for r in chunk]
        bid = batch.block(KIND_SPAN, blob, len(chunk), min(starts), max(starts), len(blob))
        batch.add_keys(keys.K_TRACE, {r[0] for r in chunk}, bid)
        batch.add_keys(keys.K_CID, {r[11] for r in chunk}, bid)
        links = {lk[0] for r in chunk if r[21] for lk in r[21]}
        if links:
            batch.add_keys(keys.K_LINK, links, bid)
        business = {v for r in chunk if len(r) > 22 and r[22] for v in r[22]}
        if business:  # the same namespace as message keys: ``trace --key`` probes one
            batch.add_keys(keys.K_MSGKEY, {v.encode() for v in business}, bid)


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
            first, last = lo // HOP_BUCKET, hi // HOP_BUCKET
            if last - first <= 16:
                buckets = range(first, last + 1)
            else:  # sparse offsets (a compacted topic): coarse buckets, negative so they differ
                buckets = range(-1 - lo // _WIDE_BUCKET, -2 - hi // _WIDE_BUCKET, -1)
            ranges.extend((topic, partition, b, bid, lo, hi) for b in buckets)
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
