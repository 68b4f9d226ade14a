"""Retention: whole blocks and key segments go, with the summaries of the time they covered.

By age, every block whose newest record is older than the cutoff is deleted (its keys in a live
segment then point at nothing, which readers skip), a segment with no block left is dropped whole,
and summaries and rows older than the cutoff go. By size, the oldest segment goes with its blocks,
until the live pages fit; when only the segment being written is left, its oldest tenth of blocks
goes. Dead letters still pending, the replay ledger and the audit log are never dropped.
"""

from __future__ import annotations

import sqlite3
import time

from console.store import schema
from console.store.summaries import ACTIVITY_NS, ROLLUP_NS

__all__ = ["apply_retention"]

_KIND_NAMES = {1: "spans", 2: "hops", 3: "log_records"}


def apply_retention(
    conn: sqlite3.Connection,
    *,
    max_age_s: float | None = None,
    max_bytes: int | None = None,
    now_ns: int | None = None,
) -> dict[str, int]:
    """Delete what is older than ``max_age_s``, then the oldest blocks until the live pages fit
    ``max_bytes``. Returns how many blocks, segments and rows went, by table."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    deleted: dict[str, int] = {}
    if max_age_s is not None:
        _before(conn, now_ns - int(max_age_s * 1e9), deleted)
    if max_bytes is not None:
        for _ in range(100):
            if schema.used_bytes(conn) <= max_bytes:
                break
            cutoff = _oldest_cutoff(conn)
            if cutoff is None:
                break
            _before(conn, cutoff, deleted, prune_keys=True)
        conn.execute("PRAGMA incremental_vacuum")
    return deleted


def _add(deleted: dict[str, int], table: str, n: int) -> None:
    if n > 0:
        deleted[table] = deleted.get(table, 0) + n


def _before(
    conn: sqlite3.Connection, cutoff: int, deleted: dict[str, int], prune_keys: bool = False
) -> None:
    """Everything older than ``cutoff`` (ns), in one transaction. ``prune_keys`` also deletes the
    keys of deleted blocks from segments still in use (a scan of the segment: only when the
    store must shrink; otherwise such keys point at nothing until their segment goes)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        touched = [
            sid
            for (sid,) in conn.execute(
                "SELECT DISTINCT segment FROM blocks WHERE max_ns < ?", (cutoff,)
            ).fetchall()
        ]
        for kind, n in conn.execute(
            "SELECT kind, sum(n) FROM blocks WHERE max_ns < ? GROUP BY kind", (cutoff,)
        ).fetchall():
            _add(deleted, _KIND_NAMES.get(kind, str(kind)), int(n))
        n = conn.execute("DELETE FROM blocks WHERE max_ns < ?", (cutoff,)).rowcount
        _add(deleted, "blocks", n)
        _drop_empty_segments(conn, deleted)
        if prune_keys:
            for sid in touched:
                if conn.execute("SELECT 1 FROM segments WHERE id = ?", (sid,)).fetchone():
                    n = conn.execute(
                        f"DELETE FROM keys_{sid} WHERE block < coalesce("
                        "(SELECT min(id) FROM blocks WHERE segment = ?), 1 << 62)",
                        (sid,),
                    ).rowcount
                    _add(deleted, "keys", n)
        _add(
            deleted,
            "hop_ranges",
            conn.execute(
                "DELETE FROM hop_ranges WHERE block NOT IN (SELECT id FROM blocks)"
            ).rowcount,
        )
        n = conn.execute(
            "DELETE FROM journey_activity WHERE bucket <= ? AND last_ns < ?",
            (cutoff // ACTIVITY_NS, cutoff),
        ).rowcount
        _add(deleted, "journey_activity", n)
        for table, bucket_ns in (("service_rollup", ROLLUP_NS), ("topic_rollup", ROLLUP_NS)):
            n = conn.execute(
                f"DELETE FROM {table} WHERE bucket < ?", (cutoff // bucket_ns,)
            ).rowcount
            _add(deleted, table, n)
        for table, column in schema.TIMED_TABLES.items():
            extra = " AND status != 'pending'" if table == "dead_letters" else ""
            n = conn.execute(f"DELETE FROM {table} WHERE {column} < ?{extra}", (cutoff,)).rowcount
            _add(deleted, table, n)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # a failed COMMIT has rolled back already: keep its error
            conn.execute("ROLLBACK")
        raise


def _drop_empty_segments(conn: sqlite3.Connection, deleted: dict[str, int]) -> None:
    latest = conn.execute("SELECT max(id) FROM segments").fetchone()[0]
    for (sid,) in conn.execute(
        "SELECT id FROM segments s WHERE id < ? AND NOT EXISTS"
        " (SELECT 1 FROM blocks b WHERE b.segment = s.id)",
        (latest if latest is not None else 0,),
    ).fetchall():
        conn.execute(f"DROP TABLE IF EXISTS keys_{sid}")
        conn.execute("DELETE FROM segments WHERE id = ?", (sid,))
        _add(deleted, "segments", 1)


def _oldest_cutoff(conn: sqlite3.Connection) -> int | None:
    """A time before which the oldest segment lies (or the oldest tenth of the blocks, when the
    segment being written is the only one)."""
    rows = conn.execute("SELECT id, max_ns FROM segments ORDER BY id LIMIT 2").fetchall()
    if len(rows) == 2 and rows[0][1] is not None:
        return int(rows[0][1]) + 1
    n = conn.execute("SELECT count(*) FROM blocks").fetchone()[0]
    if n == 0:
        row = conn.execute(
            "SELECT min(t) FROM (SELECT min(time_ns) AS t FROM metric_points"
            " UNION ALL SELECT min(time_ns) FROM series)"
        ).fetchone()
        return None if row[0] is None else int(row[0]) + 1
    k = max(1, n // 10)
    row = conn.execute(
        "SELECT max_ns FROM blocks ORDER BY max_ns LIMIT 1 OFFSET ?", (k - 1,)
    ).fetchone()
    return int(row[0]) + 1
