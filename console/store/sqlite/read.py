"""Reading spans, hops and log records back out of blocks, through the key index.

``Blocks(conn)`` is one reader's view for one question (a journey, a dead letter's context): it
remembers which segment tables exist and every block it has decompressed, so a journey that asks
for the same block in several rounds decodes it once. Every record returned is checked against
the value asked for (a hash collision costs a decode, never a wrong answer), and duplicates an
exporter's retry or a tap's re-read stored twice are dropped here.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from console.base.model import Hop, LogRecord, Span
from console.store.identity import hop_buckets, hop_identity, span_identity
from console.store.sqlite import keys
from console.store.sqlite.blocks import KIND_HOP, KIND_LOG, KIND_SPAN, BlockReader

__all__ = [
    "Blocks",
    "all_records",
    "consumer_groups",
    "last_block_id",
    "logs_between",
    "newest_records",
    "recent_hop_cids",
    "record_id",
    "records_after",
    "snapshot",
]


@contextlib.contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One read transaction around a reader's statements, so all of them see the store as of
    one commit (without it, a batch committed between two statements showed a journey a hop
    whose span was not there yet). Nested uses, or a connection already in a transaction,
    share the open one."""
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")


_SHIFT = 16  # a record's id: block id << 16 | index in the block (blocks hold at most 65,535)


def record_id(block_id: int, index: int) -> int:
    return (block_id << _SHIFT) | index


class Blocks:
    """Key lookups and block decodes for one reader, cached."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._tables: list[str] | None = None
        self._cache: dict[int, BlockReader | None] = {}

    @property
    def tables(self) -> list[str]:
        if self._tables is None:
            self._tables = keys.segment_tables(self.conn)
        return self._tables

    def block(self, bid: int) -> BlockReader | None:
        if bid in self._cache:
            return self._cache[bid]
        row = self.conn.execute("SELECT kind, data FROM blocks WHERE id = ?", (bid,)).fetchone()
        got = None if row is None else BlockReader(row[0], row[1])
        self._cache[bid] = got
        return got

    def _load(self, ids: Iterable[int]) -> None:
        wanted = sorted(i for i in set(ids) if i not in self._cache)
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            cur = self.conn.cursor()
            cur.row_factory = None
            for bid, kind, data in cur.execute(
                f"SELECT id, kind, data FROM blocks WHERE id IN ({marks})", chunk
            ):
                self._cache[bid] = BlockReader(kind, data)
            for bid in chunk:
                self._cache.setdefault(bid, None)

    def find(self, kind: int, trace_ids: Iterable[str] = (), cids: Iterable[str] = ()) -> list[Any]:
        """Records of ``kind`` whose trace id or correlation id is one of those given."""
        tids, cs = set(trace_ids), set(cids)
        ids = keys.blocks_for(self.conn, keys.K_TRACE, tids, self.tables, (keys.K_CID, cs))
        self._load(ids)
        out: list[Any] = []
        for bid in sorted(ids):
            b = self._cache.get(bid)
            if b is None or b.kind != kind:
                continue
            out.extend(b.record(i) for i in b.select(tids, cs))
        return _unique(kind, out)

    def spans(self, trace_ids: Iterable[str] = (), cids: Iterable[str] = ()) -> list[Span]:
        return self.find(KIND_SPAN, trace_ids, cids)

    def hops(self, trace_ids: Iterable[str] = (), cids: Iterable[str] = ()) -> list[Hop]:
        return self.find(KIND_HOP, trace_ids, cids)

    def logs(self, trace_ids: Iterable[str] = (), cids: Iterable[str] = ()) -> list[LogRecord]:
        return self.find(KIND_LOG, trace_ids, cids)

    def linking_traces(self, trace_ids: Iterable[str]) -> set[str]:
        """Traces holding a span that links to one of ``trace_ids``."""
        wanted = set(trace_ids)
        ids = keys.blocks_for(self.conn, keys.K_LINK, wanted, self.tables)
        self._load(ids)
        out: set[str] = set()
        for bid in ids:
            b = self._cache.get(bid)
            if b is None or b.kind != KIND_SPAN:
                continue
            for i in b.linking(wanted):
                t = b.trace_hex(i)
                if t is not None:
                    out.add(t)
        return out

    def hops_at(self, topic: str, partition: int, offset: int) -> list[Hop]:
        """The hop(s) at one Kafka coordinate (a re-read or two taps may have stored it twice;
        one comes back per cluster)."""
        ids = [
            bid
            for (bid,) in self.conn.execute(
                "SELECT block FROM hop_ranges WHERE topic = ? AND partition = ?"
                " AND bucket IN (?, ?) AND lo <= ? AND hi >= ?",
                (topic, partition, *hop_buckets(offset), offset, offset),
            )
        ]
        self._load(ids)
        out: list[Hop] = []
        for bid in sorted(set(ids)):
            b = self._cache.get(bid)
            if b is None:
                continue
            for i in range(len(b)):
                f = b.fields(i)
                if f[0] == topic and f[1] == partition and f[2] == offset:
                    hop = b.record(i)
                    assert isinstance(hop, Hop)
                    out.append(hop)
        return _unique(KIND_HOP, out)

    def hops_by_key(self, key: bytes) -> list[Hop]:
        """Hops whose Kafka message key is ``key``."""
        ids = keys.blocks_for(self.conn, keys.K_MSGKEY, [key], self.tables)
        self._load(ids)
        out: list[Hop] = []
        for bid in sorted(ids):
            b = self._cache.get(bid)
            if b is None or b.kind != KIND_HOP:
                continue
            for i in range(len(b)):
                if b.fields(i)[5] == key:
                    hop = b.record(i)
                    assert isinstance(hop, Hop)
                    out.append(hop)
        return _unique(KIND_HOP, out)

    def by_key(self, value: str | bytes) -> tuple[list[Span], list[Hop]]:
        """Spans and hops a business key names: a Kafka message key (``value`` as bytes, or as
        UTF-8 text), a span's ``messaging.kafka.message.key`` or ``--key-attribute`` value, or
        a hop's JSON payload field named by ``--key-attribute``."""
        raw = value.encode() if isinstance(value, str) else value
        try:
            text: str | None = raw.decode()
        except UnicodeDecodeError:
            text = None
        ids = keys.blocks_for(self.conn, keys.K_MSGKEY, [raw], self.tables)
        self._load(ids)
        spans: list[Span] = []
        hops: list[Hop] = []
        for bid in sorted(ids):
            b = self._cache.get(bid)
            if b is None:
                continue
            picked = set(b.keyed(text)) if text is not None else set()
            if b.kind == KIND_HOP:
                picked.update(i for i in range(len(b)) if b.fields(i)[5] == raw)
                hops.extend(b.record(i) for i in sorted(picked))  # type: ignore[misc]  # hop block
            elif b.kind == KIND_SPAN:
                spans.extend(b.record(i) for i in sorted(picked))  # type: ignore[misc]  # span block
        return _unique(KIND_SPAN, spans), _unique(KIND_HOP, hops)


def _unique(kind: int, records: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for r in records:
        if kind == KIND_SPAN:
            ident: Any = span_identity(r)
        elif kind == KIND_HOP:
            ident = hop_identity(r)
        else:
            ident = None
        if ident is not None:
            if ident in seen:
                continue
            seen.add(ident)
        out.append(r)
    return out


def consumer_groups(conn: sqlite3.Connection, topic: str) -> list[str]:
    """Groups known to consume ``topic``: consumer spans' groups (summarised at ingest) and the
    tap's ``consumer.lag`` series (``detail`` = ``group/partition``)."""
    groups = [
        g
        for (g,) in conn.execute(
            "SELECT grp FROM topic_groups WHERE topic = ? ORDER BY grp LIMIT 20", (topic,)
        )
    ]
    for (detail,) in conn.execute(
        "SELECT DISTINCT detail FROM series WHERE name = 'consumer.lag' AND subject = ?", (topic,)
    ):
        g = detail.split("/", 1)[0]
        if g and g not in groups:
            groups.append(g)
    return groups


def last_block_id(conn: sqlite3.Connection, kind: int) -> int:
    """The id of the newest record of ``kind`` (``record_id``), 0 when there is none."""
    row = conn.execute(
        "SELECT id, n FROM blocks WHERE kind = ? ORDER BY id DESC LIMIT 1", (kind,)
    ).fetchone()
    return 0 if row is None else record_id(row[0], row[1] - 1)


def newest_records(
    conn: sqlite3.Connection, kind: int, after_id: int, limit: int
) -> list[tuple[int, Any]]:
    """Up to ``limit`` newest records of ``kind`` with a record id above ``after_id``, oldest first,
    as ``(record id, record)``."""
    out: list[tuple[int, Any]] = []
    after_block = after_id >> _SHIFT
    for bid, data in conn.execute(
        "SELECT id, data FROM blocks WHERE kind = ? AND id >= ? ORDER BY id DESC",
        (kind, after_block),
    ):
        b = BlockReader(kind, data)
        for i in range(len(b) - 1, -1, -1):
            rid = record_id(bid, i)
            if rid <= after_id:
                break
            out.append((rid, b.record(i)))
            if len(out) >= limit:
                break
        if len(out) >= limit:
            break
    out.reverse()
    return out


def logs_between(
    conn: sqlite3.Connection,
    since_ns: int,
    until_ns: int | None = None,
    *,
    keep: Callable[[LogRecord], bool] | None = None,
    limit: int | None = None,
) -> list[tuple[int, LogRecord]]:
    """Log records stamped in ``[since_ns, until_ns]`` that ``keep`` accepts, oldest first, as
    ``(record id, record)``; with ``limit``, the newest ``limit`` of them.

    The window's blocks are found through the index on their newest record time (every block
    with a record in the window ends at or after ``since_ns``, however late it arrived: a
    catch-up of old records from Kafka is read too), and read newest first by that time, until
    ``limit`` records newer than every block left are kept."""
    out: list[tuple[int, LogRecord]] = []
    cur = conn.cursor()
    cur.row_factory = None
    sql = "SELECT id, max_ns FROM blocks WHERE kind = ? AND max_ns >= ?"
    params: tuple[int, ...] = (KIND_LOG, since_ns)
    if until_ns is not None:
        sql += " AND min_ns <= ?"
        params += (until_ns,)
    for bid, hi in cur.execute(sql + " ORDER BY max_ns DESC", params).fetchall():
        if limit is not None and len(out) >= limit and hi < _nth_newest(out, limit):
            break  # this block and the ones after it hold nothing newer than what is kept
        row = conn.execute("SELECT data FROM blocks WHERE id = ?", (bid,)).fetchone()
        if row is None:
            continue
        b = BlockReader(KIND_LOG, row[0])
        for i in range(len(b) - 1, -1, -1):
            r = b.record(i)
            assert isinstance(r, LogRecord)
            if r.time_ns < since_ns or (until_ns is not None and r.time_ns > until_ns):
                continue
            if keep is None or keep(r):
                out.append((record_id(bid, i), r))
    out.sort(key=lambda x: (x[1].time_ns, x[0]))
    return out[-limit:] if limit is not None else out


def _nth_newest(found: list[tuple[int, LogRecord]], n: int) -> int:
    return sorted((r.time_ns for _, r in found), reverse=True)[n - 1]


def records_after(
    conn: sqlite3.Connection, kind: int, after_id: int, limit: int
) -> list[tuple[int, Any]]:
    """The oldest ``limit`` records of ``kind`` with a record id above ``after_id``, oldest first,
    as ``(record id, record)``: paging forward, so a follower misses nothing in a burst."""
    out: list[tuple[int, Any]] = []
    for bid, data in conn.execute(
        "SELECT id, data FROM blocks WHERE kind = ? AND id >= ? ORDER BY id",
        (kind, after_id >> _SHIFT),
    ):
        b = BlockReader(kind, data)
        for i in range(len(b)):
            rid = record_id(bid, i)
            if rid > after_id:
                out.append((rid, b.record(i)))
                if len(out) >= limit:
                    return out
    return out


def recent_hop_cids(conn: sqlite3.Connection, topic: str, limit: int) -> dict[str, int]:
    """Correlation ids of the newest hops on ``topic`` (at least ``limit`` when there are), with
    when each was last seen there."""
    out: dict[str, int] = {}
    for (bid,) in conn.execute(
        "SELECT DISTINCT block FROM hop_ranges WHERE topic = ? ORDER BY block DESC", (topic,)
    ).fetchall():
        row = conn.execute("SELECT data FROM blocks WHERE id = ?", (bid,)).fetchone()
        if row is None:
            continue
        b = BlockReader(KIND_HOP, row[0])
        for i, cid in enumerate(b.cids):
            if cid is None:
                continue
            f = b.fields(i)
            if f[0] == topic:
                out[cid] = max(out.get(cid, 0), f[11])
        if len(out) >= limit:
            break
    return out


def all_records(conn: sqlite3.Connection, kind: int) -> list[Any]:
    """Every record of ``kind`` in block order, duplicates dropped (tools, tests, small stores)."""
    out: list[Any] = []
    for (data,) in conn.execute("SELECT data FROM blocks WHERE kind = ? ORDER BY id", (kind,)):
        out.extend(BlockReader(kind, data).records())
    return _unique(kind, out)
