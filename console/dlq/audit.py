"""Who did what to a dead letter, and when: the audit log, and discarding (resolving without a
replay), which writes to it.

Every fix, replay and discard writes an ``AuditEntry`` (OS user, time, action, target, payload
hashes before and after, result) to ``audit_log``, inside the transaction that made the change.
"""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

from console.base.model import AuditEntry, DeadLetter, payload_sha256

__all__ = ["audit_log", "discard", "os_user", "write_audit"]


def os_user() -> str:
    """Who is at the keyboard, for the audit log: the account of the process's user id.

    Not ``$USER``/``$LOGNAME`` (what ``getpass.getuser`` reads first): anyone can set those.
    """
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return f"uid:{os.getuid()}"


def write_audit(conn: sqlite3.Connection, entries: Iterable[AuditEntry]) -> None:
    """Append audit entries (inside the caller's transaction if one is open)."""
    conn.executemany(
        "INSERT INTO audit_log (time_ns, os_user, action, target, before_sha256, after_sha256, "
        "result, detail) VALUES (?,?,?,?,?,?,?,?)",
        [
            (
                e.time_ns,
                e.os_user,
                e.action,
                e.target,
                e.before_sha256,
                e.after_sha256,
                e.result,
                json.dumps(e.detail, separators=(",", ":"), default=str),
            )
            for e in entries
        ],
    )


def audit_log(
    conn: sqlite3.Connection, *, limit: int | None = None, target: str | None = None
) -> list[AuditEntry]:
    """The audit log, newest first."""
    sql = (
        "SELECT time_ns, os_user, action, target, result, before_sha256, after_sha256, detail "
        "FROM audit_log"
    )
    args: list[Any] = []
    if target:
        sql += " WHERE target = ?"
        args.append(target)
    sql += " ORDER BY time_ns DESC, id DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    cur = conn.execute(sql, args)
    cur.row_factory = None
    return [AuditEntry(t, u, a, tg, r, b, af, json.loads(dt)) for t, u, a, tg, r, b, af, dt in cur]


def discard(
    conn: sqlite3.Connection,
    targets: Sequence[DeadLetter],
    *,
    reason: str = "",
    user: str | None = None,
) -> dict[str, str]:
    """Mark pending dead letters discarded (resolved without replay). Returns coords -> result."""
    user = user or os_user()
    now = time.time_ns()
    results: dict[str, str] = {}
    audit = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for d in targets:
            row = conn.execute(
                "SELECT status FROM dead_letters WHERE dlq_topic = ? AND partition = ? "
                "AND offset = ? AND coalesce(cluster_id, '') = ?",
                (d.dlq_topic, d.partition, d.offset, d.cluster_id or ""),
            ).fetchone()
            status = row[0] if row else None
            if status == "pending":
                conn.execute(
                    "UPDATE dead_letters SET status = 'discarded', status_ns = ? "
                    "WHERE dlq_topic = ? AND partition = ? AND offset = ? "
                    "AND coalesce(cluster_id, '') = ?",
                    (now, d.dlq_topic, d.partition, d.offset, d.cluster_id or ""),
                )
                result = "discarded"
            else:
                result = f"refused: already {status}" if status else "refused: not in the store"
            results[d.coordinates] = result
            sha = payload_sha256(d.payload)
            audit.append(
                AuditEntry(
                    now, user, "discard", d.coordinates, result, sha, None, {"reason": reason}
                )
            )
        write_audit(conn, audit)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return results
