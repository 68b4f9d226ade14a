"""``DeadLetters`` (console/store/deadletters_api.py) served by the SQLite store: the dead
letters' reads, the replay ledger, the fixes, the audit log and the writes that land together,
each in one write transaction (``tx.transaction``). ``Store.dead_letters()`` hands one out;
nothing outside console/store/ names this module.

Past ~400 lines on purpose: it is every statement on the DLQ tables (dead_letters,
fixed_payloads, replay_ledger, audit_log), one per protocol method, sharing the filter's WHERE
clause and the transaction helper; split it with the protocol, not before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence

from console.base.model import AuditEntry, DeadLetter, FixedPayload, ReplayEntry, payload_sha256
from console.store.deadletters_api import (
    Ack,
    DeadLetterKey,
    DepthRow,
    DlqFilter,
    LatestFix,
    LedgerLine,
    ListItem,
    OpenLine,
    PendingLine,
)
from console.store.sqlite import rows
from console.store.sqlite.tx import transaction

__all__ = ["SqliteDeadLetters", "dead_letters_from_cursor"]


def dead_letters_from_cursor(cur: sqlite3.Cursor) -> list[DeadLetter]:
    """Dead letters from a ``SELECT {rows.DEAD_LETTER_COLUMNS}`` cursor (bulk paths): each
    column goes to the field of its name."""
    cur.row_factory = None  # plain tuples: 3x faster than Row
    names = [c[0] for c in cur.description]
    loads, fromhex = json.loads, bytes.fromhex
    out = []
    for r in cur:
        rec = dict(zip(names, r, strict=True))
        headers = loads(rec["headers"] or "[]")
        rec["headers"] = tuple([(n, None if v is None else fromhex(v)) for n, v in headers])
        rec["payload_truncated"] = bool(rec["payload_truncated"])
        out.append(DeadLetter(**rec))
    return out


def _where(flt: DlqFilter) -> tuple[str, list[object]]:
    clauses: list[str] = []
    args: list[object] = []
    if flt.topic:
        clauses.append("(dlq_topic = ? OR original_topic = ?)")
        args += [flt.topic, flt.topic]
    if flt.error:
        clauses.append(
            "(exception_message LIKE ? ESCAPE '\\' OR exception_class LIKE ? ESCAPE '\\' "
            "OR exception_cause_class LIKE ? ESCAPE '\\')"
        )
        like = "%" + re.sub(r"([%_\\])", r"\\\1", flt.error) + "%"
        args += [like, like, like]
    if flt.since_ms is not None:
        clauses.append("timestamp_ms >= ?")
        args.append(flt.since_ms)
    if flt.correlation_id:
        clauses.append("correlation_id = ?")
        args.append(flt.correlation_id)
    if flt.status:
        clauses.append("status = ?")
        args.append(flt.status)
    if flt.cluster_id:
        clauses.append("cluster_id = ?")
        args.append(flt.cluster_id)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


_LIST_COLUMNS = ", ".join(ListItem._fields)


class SqliteDeadLetters:
    """The dead letters' ledger, fixes and audit in one SQLite connection (autocommit mode)."""

    def __init__(
        self, conn: sqlite3.Connection, connect: Callable[[], sqlite3.Connection] | None = None
    ) -> None:
        self.conn = conn
        self._connect = connect  # how ``another`` opens its own (the store's ``connect``)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with transaction(self.conn):
            yield self.conn

    # reading -----------------------------------------------------------------------------
    def list_items(self, flt: DlqFilter) -> list[ListItem]:
        where, args = _where(flt)
        # dead_letters_list covers the query: no table read
        sql = f"SELECT {_LIST_COLUMNS} FROM dead_letters{where} ORDER BY timestamp_ms DESC"
        if flt.limit:
            sql += f" LIMIT {int(flt.limit)}"
        cur = self.conn.execute(sql, args)
        cur.row_factory = None  # plain tuples: 3x faster than Row
        return list(map(ListItem._make, cur))

    def extent(self, flt: DlqFilter) -> tuple[int, int | None]:
        where, args = _where(flt)
        n, last = self.conn.execute(
            f"SELECT count(*), max(timestamp_ms) FROM dead_letters{where}", args
        ).fetchone()
        return int(n or 0), last

    def depth(self, flt: DlqFilter) -> list[DepthRow]:
        where, args = _where(flt)
        cur = self.conn.execute(
            "SELECT dlq_topic, count(*), sum(status = 'pending'), sum(status = 'replayed'), "
            "sum(status = 'discarded'), min(CASE WHEN status = 'pending' THEN timestamp_ms END) "
            f"FROM dead_letters{where} GROUP BY dlq_topic ORDER BY dlq_topic",
            args,
        )
        cur.row_factory = None
        return [DepthRow(*r) for r in cur]

    def select(self, flt: DlqFilter) -> list[DeadLetter]:
        where, args = _where(flt)
        # first_seen_ns rides the (status, first_seen_ns) index: no sort of 10,000 payloads.
        sql = f"SELECT {rows.DEAD_LETTER_COLUMNS} FROM dead_letters{where} ORDER BY first_seen_ns"
        if flt.limit:
            sql += f" LIMIT {int(flt.limit)}"
        return dead_letters_from_cursor(self.conn.execute(sql, args))

    def at(
        self, topic: str, partition: int, offset: int, cluster_id: str | None
    ) -> list[DeadLetter]:
        sql = "SELECT * FROM dead_letters WHERE dlq_topic = ? AND partition = ? AND offset = ?"
        args: list[object] = [topic, partition, offset]
        if cluster_id is not None:
            sql += " AND cluster_id = ?"
            args.append(cluster_id)
        cur = self.conn.execute(sql + " LIMIT 2", args)
        cur.row_factory = sqlite3.Row
        return [rows.dead_letter_from_row(r) for r in cur.fetchall()]

    def fixes_for(self, d: DeadLetter) -> list[FixedPayload]:
        cur = self.conn.execute(
            "SELECT dlq_topic, partition, offset, version, payload, created_ns, author, sha256, "
            "schema_id, schema_guid, schema_header FROM fixed_payloads WHERE dlq_topic = ? "
            "AND partition = ? AND offset = ? AND coalesce(cluster_id, '') = ? ORDER BY version",
            (d.dlq_topic, d.partition, d.offset, d.cluster_id or ""),
        )
        cur.row_factory = None
        return [FixedPayload(*r) for r in cur]

    def replays_for(self, d: DeadLetter) -> list[ReplayEntry]:
        cur = self.conn.execute(
            "SELECT * FROM replay_ledger WHERE dlq_topic = ? AND partition = ? AND offset = ? "
            "AND coalesce(cluster_id, '') = ? ORDER BY replay_count, created_ns",
            (d.dlq_topic, d.partition, d.offset, d.cluster_id or ""),
        )
        cur.row_factory = sqlite3.Row
        return [rows.replay_from_row(r) for r in cur]

    def audit_log(self, *, limit: int | None = None, target: str | None = None) -> list[AuditEntry]:
        sql = (
            "SELECT time_ns, os_user, action, target, result, before_sha256, after_sha256, "
            "detail FROM audit_log"
        )
        args: list[object] = []
        if target:
            sql += " WHERE target = ?"
            args.append(target)
        sql += " ORDER BY time_ns DESC, id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        cur = self.conn.execute(sql, args)
        cur.row_factory = None
        return [
            AuditEntry(t, u, a, tg, r, b, af, json.loads(dt)) for t, u, a, tg, r, b, af, dt in cur
        ]

    def ledger_lines(self) -> dict[DeadLetterKey, list[LedgerLine]]:
        out: dict[DeadLetterKey, list[LedgerLine]] = {}
        cur = self.conn.execute(f"SELECT {', '.join(LedgerLine._fields)} FROM replay_ledger")
        cur.row_factory = None
        for line in map(LedgerLine._make, cur):
            key = (line.dlq_topic, line.partition, line.offset, line.cluster_id or "")
            out.setdefault(key, []).append(line)
        return out

    def open_lines(self) -> list[OpenLine]:
        cur = self.conn.execute(
            f"SELECT {', '.join(OpenLine._fields)} FROM replay_ledger "
            "WHERE state IN ('pending', 'failed')"
        )
        cur.row_factory = None
        return list(map(OpenLine._make, cur))

    def latest_fixes(self) -> dict[DeadLetterKey, LatestFix]:
        cur = self.conn.execute(
            "SELECT dlq_topic, partition, offset, coalesce(cluster_id, ''), version, payload, "
            "schema_header FROM fixed_payloads ORDER BY version"
        )
        cur.row_factory = None
        return {(t, p, o, c): (v, payload, sh) for t, p, o, c, v, payload, sh in cur}

    def with_open_lines(self) -> list[DeadLetter]:
        cur = self.conn.execute(
            f"SELECT {rows.DEAD_LETTER_COLUMNS} FROM dead_letters d WHERE EXISTS (SELECT 1 FROM "
            "replay_ledger l WHERE l.dlq_topic = d.dlq_topic AND l.partition = d.partition "
            "AND l.offset = d.offset AND coalesce(l.cluster_id, '') = coalesce(d.cluster_id, '') "
            "AND l.state IN ('pending', 'failed'))"
        )
        return dead_letters_from_cursor(cur)

    # changing ----------------------------------------------------------------------------
    def _insert_audit(self, entries: Iterable[AuditEntry]) -> None:
        self.conn.executemany(
            "INSERT INTO audit_log (time_ns, os_user, action, target, before_sha256, "
            "after_sha256, result, detail) VALUES (?,?,?,?,?,?,?,?)",
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

    def write_audit(self, entries: Iterable[AuditEntry]) -> None:
        with self._transaction():
            self._insert_audit(entries)

    def discard(
        self, letters: Sequence[DeadLetter], *, now_ns: int, user: str, reason: str
    ) -> dict[str, str]:
        results: dict[str, str] = {}
        audit = []
        with self._transaction() as conn:
            for d in letters:
                where = (d.dlq_topic, d.partition, d.offset, d.cluster_id or "")
                row = conn.execute(
                    "SELECT status FROM dead_letters WHERE dlq_topic = ? AND partition = ? "
                    "AND offset = ? AND coalesce(cluster_id, '') = ?",
                    where,
                ).fetchone()
                status = row[0] if row else None
                if status == "pending":
                    conn.execute(
                        "UPDATE dead_letters SET status = 'discarded', status_ns = ? "
                        "WHERE dlq_topic = ? AND partition = ? AND offset = ? "
                        "AND coalesce(cluster_id, '') = ?",
                        (now_ns, *where),
                    )
                    result = "discarded"
                else:
                    result = f"refused: already {status}" if status else "refused: not in the store"
                results[d.coordinates] = result
                sha = payload_sha256(d.payload)
                audit.append(
                    AuditEntry(
                        now_ns,
                        user,
                        "discard",
                        d.coordinates,
                        result,
                        sha,
                        None,
                        {"reason": reason},
                    )
                )
            self._insert_audit(audit)
        return results

    def store_fix(
        self, fixed: FixedPayload, cluster_id: str | None, audit: AuditEntry
    ) -> FixedPayload:
        f = fixed
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT coalesce(max(version), 0) FROM fixed_payloads WHERE dlq_topic = ? "
                "AND partition = ? AND offset = ? AND coalesce(cluster_id, '') = ?",
                (f.dlq_topic, f.partition, f.offset, cluster_id or ""),
            ).fetchone()
            f = dataclasses.replace(f, version=int(row[0]) + 1)
            conn.execute(
                "INSERT INTO fixed_payloads (dlq_topic, partition, offset, version, payload, "
                "sha256, created_ns, author, schema_id, schema_guid, schema_header, cluster_id) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    f.dlq_topic,
                    f.partition,
                    f.offset,
                    f.version,
                    f.payload,
                    f.sha256,
                    f.created_ns,
                    f.author,
                    f.schema_id,
                    f.schema_guid,
                    f.schema_header,
                    cluster_id,
                ),
            )
            detail = {**audit.detail, "version": f.version}
            result = f"stored v{f.version}"
            self._insert_audit([dataclasses.replace(audit, result=result, detail=detail)])
        return f

    def write_pending(self, lines: Sequence[PendingLine]) -> None:
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO replay_ledger (replay_id, dlq_topic, partition, offset, "
                "target_topic, payload_sha256, state, replay_count, created_ns, os_user, "
                "cluster_id) VALUES (?,?,?,?,?,?,'pending',?,?,?,?) "
                "ON CONFLICT(replay_id) DO UPDATE SET state = 'pending', error = NULL",
                lines,
            )
            # An older open line for the same dead letter (its payload was fixed since, or
            # another target was chosen) that reconcile did not find is superseded by this one.
            conn.executemany(
                "UPDATE replay_ledger SET state = 'superseded' WHERE dlq_topic = ? "
                "AND partition = ? AND offset = ? AND coalesce(cluster_id, '') = ? "
                "AND state IN ('pending', 'failed') AND replay_id != ?",
                [
                    (r.dlq_topic, r.partition, r.offset, r.cluster_id or "", r.replay_id)
                    for r in lines
                ],
            )

    def record_acks(
        self,
        acks: Sequence[Ack],
        *,
        now_ns: int,
        user: str,
        note: str = "",
        original_sha: dict[str, str | None] | None = None,
    ) -> None:
        if not acks:
            return
        before = original_sha or {}
        result = f"acked ({note})" if note else "acked"
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE replay_ledger SET state = 'acked', acked_ns = ?, target_partition = ?, "
                "target_offset = ?, error = NULL WHERE replay_id = ?",
                [(now_ns, a.partition, a.offset, a.replay_id) for a in acks],
            )
            conn.executemany(
                "UPDATE dead_letters SET status = 'replayed', status_ns = ? "
                "WHERE dlq_topic = ? AND partition = ? AND offset = ? "
                "AND coalesce(cluster_id, '') = ?",
                [(now_ns, *a.coords, a.cluster_id or "") for a in acks],
            )
            # Topic names are [A-Za-z0-9._-]: the detail JSON needs no escaping.
            conn.executemany(
                "INSERT INTO audit_log (time_ns, os_user, action, target, before_sha256, "
                "after_sha256, result, detail) VALUES (?,?,'replay',?,?,?,?,?)",
                [
                    (
                        now_ns,
                        user,
                        f"{a.coords[0]}:{a.coords[1]}:{a.coords[2]}",
                        before.get(a.replay_id),
                        a.payload_sha256,
                        result,
                        f'{{"replay_id":"{a.replay_id}","replay_count":{a.count},'
                        f'"to":"{a.topic}:{a.partition}:{a.offset}"}}',
                    )
                    for a in acks
                ],
            )

    def record_failure(self, replay_id: str, error: str, audit: AuditEntry) -> None:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE replay_ledger SET state = 'failed', error = ? WHERE replay_id = ?",
                (error, replay_id),
            )
            self._insert_audit([audit])

    def take_lock(self, name: str, holder: str, alive: Callable[[str], bool]) -> str | None:
        with self._transaction() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
            if row is not None and row[0] != holder and alive(str(row[0])):
                return str(row[0])
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (name, holder),
            )
        return None

    def release_lock(self, name: str, holder: str) -> None:
        self.conn.execute("DELETE FROM meta WHERE key = ? AND value = ?", (name, holder))

    def another(self) -> SqliteDeadLetters:
        if self._connect is not None:
            other = self._connect()
        else:
            path = self.conn.execute("PRAGMA database_list").fetchone()[2]
            other = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
            other.execute("PRAGMA busy_timeout = 30000")
            other.execute("PRAGMA synchronous = NORMAL")
        other.execute("PRAGMA cache_size = -65536")  # 64 MiB: bulk acks touch many pages
        return SqliteDeadLetters(other, self._connect)

    def close(self) -> None:
        self.conn.close()
