"""Retention: whole blocks and key segments go, with the summaries of the time they covered.

Retention goes by **arrival**, this machine's clock when a block was stored, never by the
senders' clocks (a host an hour fast, or a catch-up of old records from Kafka, moves nothing).

By age, every block that arrived before the cutoff is deleted (its keys in a live segment then
point at nothing, which readers skip), a segment with no block left is dropped whole, and
summaries and rows older than the cutoff go. By size, the oldest segment (segments are started
in arrival order) goes with its blocks, one at a time, until the live pages fit; when only the
segment being written is left, its oldest tenth of blocks goes. Dead letters still pending, the
replay ledger and the audit log are never dropped.

``limit`` is the one rule for what a limit of 0 (or none) means: no limit. The writer and
``apply_retention`` both go through it.
"""

from __future__ import annotations

import sqlite3
import time
from typing import TypeVar

from console.store.sqlite import schema
from console.store.sqlite.summaries import ACTIVITY_NS, ROLLUP_NS
from console.store.sqlite.tx import transaction

__all__ = ["RETENTION_PASSES", "apply_retention", "limit", "retention_passes", "truncate_wal"]

RETENTION_PASSES = "retention_passes"  # meta: retention passes that deleted records, ever

_KIND_NAMES = {1: "spans", 2: "hops", 3: "log_records"}
_WAL_BUSY_MS = 200  # how long a truncating checkpoint waits for readers before trying later
_N = TypeVar("_N", int, float)


def limit(value: _N | None) -> _N | None:
    """A retention limit as given (``--retention-age`` seconds, ``--retention-bytes``), or None
    for no limit: None and 0 both mean "keep everything" (the CLI's documented meaning)."""
    return value if value is not None and value > 0 else None


def retention_passes(conn: sqlite3.Connection) -> int:
    """How many retention passes have deleted records from this file (by any process)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (RETENTION_PASSES,)).fetchone()
    return 0 if row is None else int(row[0])


def apply_retention(
    conn: sqlite3.Connection,
    *,
    max_age_s: float | None = None,
    max_bytes: int | None = None,
    now_ns: int | None = None,
) -> dict[str, int]:
    """Delete what arrived more than ``max_age_s`` ago, then the oldest segments (by arrival)
    until the live pages fit ``max_bytes``. A limit of None or 0 is no limit (``limit``).
    Returns how many blocks, segments and rows went, by table."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    deleted: dict[str, int] = {}
    age_s, size_b = limit(max_age_s), limit(max_bytes)
    if age_s is not None:
        cutoff = now_ns - int(age_s * 1e9)
        _drop(
            conn,
            "arrived_ns < ? OR (arrived_ns IS NULL AND max_ns < ?)",
            (cutoff, cutoff),
            cutoff,
            deleted,
        )
    if size_b is not None:
        while schema.live_bytes(conn) > size_b:
            if not _drop_oldest(conn, deleted):
                break
        _vacuum(conn)
    if deleted.get("blocks") or deleted.get("metric_points"):
        # Every writer of the file (taps write one file together: ``guard.py``) starts its
        # duplicates window again when it sees this move: the window may name what just went.
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, 1) ON CONFLICT(key) DO UPDATE SET"
            " value = CAST(value AS INTEGER) + 1",
            (RETENTION_PASSES,),
        )
    return deleted


def _vacuum(conn: sqlite3.Connection) -> None:
    """Give the free pages back to the file system. ``PRAGMA incremental_vacuum`` frees one page
    a step, and ``execute`` steps a statement that returns no rows once: one page a pass, so a
    trim of hundreds of pages took minutes to show on disk. ``executescript`` runs it whole (it
    commits an open transaction first: inside one, the next pass does it)."""
    if not conn.in_transaction:
        conn.executescript("PRAGMA incremental_vacuum;")


def truncate_wal(conn: sqlite3.Connection, over_bytes: int, busy_ms: int) -> str | None:
    """Truncate the WAL once it is past ``over_bytes`` (a passive checkpoint copies pages back
    but never shrinks the file: in a 10-minute soak it grew to 84 MB under a 40 MB bound). A
    reader still using the WAL holds the truncation back: wait for it only ``_WAL_BUSY_MS``,
    and say so (the caller tries again on its next check and meanwhile counts the WAL in the
    bound). Returns what went wrong, or None."""
    if schema.wal_bytes(conn) <= over_bytes:
        return None
    try:
        conn.execute(f"PRAGMA busy_timeout = {_WAL_BUSY_MS}")
        try:
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
    except sqlite3.Error as exc:
        return f"checkpoint: {exc}"
    return "checkpoint: a reader holds the WAL; truncating it later" if busy else None


def _add(deleted: dict[str, int], table: str, n: int) -> None:
    if n > 0:
        deleted[table] = deleted.get(table, 0) + n


def _drop_oldest(conn: sqlite3.Connection, deleted: dict[str, int]) -> bool:
    """Drop the oldest segment by arrival with its blocks (or, when only the segment being
    written is left, its oldest tenth of blocks), and rows dated before it ended. False when
    nothing is left to drop."""
    rows = conn.execute(
        "SELECT id, created_ns, coalesce(first_block, 0), coalesce(last_block, 1 << 62)"
        " FROM segments ORDER BY id LIMIT 2"
    ).fetchall()
    if len(rows) == 2:
        oldest, first, last = int(rows[0][0]), int(rows[0][2]), int(rows[0][3])
        ended = int(rows[1][1])  # the segment ended when the next began: older rows go with it
        _drop(
            conn,
            "id BETWEEN ? AND ? AND segment = ?",  # a range of ids: no scan of the blocks
            (first, last, oldest),
            ended,
            deleted,
            drop_segment=oldest,
        )
        return True
    n = conn.execute("SELECT count(*) FROM blocks").fetchone()[0]
    if n == 0:
        row = conn.execute(
            "SELECT min(t) FROM (SELECT min(coalesce(arrived_ns, time_ns)) AS t FROM metric_points"
            " UNION ALL SELECT min(time_ns) FROM series)"
        ).fetchone()
        if row[0] is None:
            return False
        _drop(conn, "0", (), int(row[0]) + 1, deleted)
        return True
    k = max(1, n // 10)
    last, arrived = conn.execute(
        "SELECT id, coalesce(arrived_ns, max_ns) FROM blocks ORDER BY id LIMIT 1 OFFSET ?",
        (k - 1,),
    ).fetchone()
    _drop(conn, "id <= ?", (last,), int(arrived) + 1, deleted, prune_keys=True)
    return True


def _drop(
    conn: sqlite3.Connection,
    which: str,
    params: tuple[int, ...],
    rows_before: int,
    deleted: dict[str, int],
    *,
    prune_keys: bool = False,
    drop_segment: int | None = None,
) -> None:
    """In one transaction: the blocks ``which`` selects (an SQL condition on ``blocks``), the
    segments left empty (and ``drop_segment``), and summaries and rows dated before
    ``rows_before`` (ns). ``prune_keys`` also deletes the keys of deleted blocks from segments
    still in use (a scan of the segment: only when the store must shrink; otherwise such keys
    point at nothing until their segment goes)."""
    with transaction(conn):
        touched = [
            sid
            for (sid,) in conn.execute(
                f"SELECT DISTINCT segment FROM blocks WHERE {which}", params
            ).fetchall()
        ]
        for kind, n in conn.execute(
            f"SELECT kind, sum(n) FROM blocks WHERE {which} GROUP BY kind", params
        ).fetchall():
            _add(deleted, _KIND_NAMES.get(kind, str(kind)), int(n))
        _add(deleted, "blocks", conn.execute(f"DELETE FROM blocks WHERE {which}", params).rowcount)
        if drop_segment is not None:
            _drop_segment(conn, drop_segment, deleted)
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
        _drop_rows(conn, rows_before, deleted)


def _drop_rows(conn: sqlite3.Connection, cutoff: int, deleted: dict[str, int]) -> None:
    n = conn.execute(
        "DELETE FROM journey_activity WHERE bucket <= ? AND last_ns < ?",
        (cutoff // ACTIVITY_NS, cutoff),
    ).rowcount
    _add(deleted, "journey_activity", n)
    for table, bucket_ns in (("service_rollup", ROLLUP_NS), ("topic_rollup", ROLLUP_NS)):
        n = conn.execute(f"DELETE FROM {table} WHERE bucket < ?", (cutoff // bucket_ns,)).rowcount
        _add(deleted, table, n)
    for table, before in schema.TIMED_TABLES.items():
        extra = " AND status != 'pending'" if table == "dead_letters" else ""
        n = conn.execute(
            f"DELETE FROM {table} WHERE {before}{extra}", (cutoff,) * before.count("?")
        ).rowcount
        _add(deleted, table, n)


def _drop_segment(conn: sqlite3.Connection, sid: int, deleted: dict[str, int]) -> None:
    conn.execute(f"DROP TABLE IF EXISTS keys_{sid}")
    if conn.execute("DELETE FROM segments WHERE id = ?", (sid,)).rowcount:
        _add(deleted, "segments", 1)


def _drop_empty_segments(conn: sqlite3.Connection, deleted: dict[str, int]) -> None:
    latest = conn.execute("SELECT max(id) FROM segments").fetchone()[0]
    for (sid,) in conn.execute(
        "SELECT id FROM segments s WHERE id < ? AND NOT EXISTS"
        " (SELECT 1 FROM blocks b WHERE b.segment = s.id)",
        (latest if latest is not None else 0,),
    ).fetchall():
        _drop_segment(conn, sid, deleted)
