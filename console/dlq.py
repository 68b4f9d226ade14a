"""Dead letters for people: list, show, discard, audit. The CLI and the TUI both call this.

Everything reads and writes through one ``sqlite3.Connection`` from ``Store.connect()``; nothing
here talks to Kafka (replay lives in ``console/dlq_replay.py``, fixes in ``console/dlq_fix.py``).
Dead letters are addressed by their DLQ coordinates ``TOPIC:PARTITION:OFFSET``.

Every fix, replay and discard writes an ``AuditEntry`` (OS user, time, action, target, payload
hashes before and after, result) to ``audit_log``.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from console import rows
from console.contracts import ContractSource, Verdict, check, pretty_json
from console.errors import InputError
from console.model import (
    AuditEntry,
    DeadLetter,
    FixedPayload,
    ReplayEntry,
    header_text,
    payload_sha256,
)

__all__ = [
    "STATUSES",
    "DeadLetterDetail",
    "DeadLetterNotFound",
    "DepthRow",
    "DlqFilter",
    "HeaderLine",
    "ListItem",
    "audit_log",
    "contract_topic",
    "current_payload",
    "depth_summary",
    "discard",
    "fixes_for",
    "format_coordinates",
    "get_dead_letter",
    "journey_line",
    "list_dead_letters",
    "os_user",
    "parse_coordinates",
    "parse_since",
    "payload_view",
    "replays_for",
    "select_dead_letters",
    "show",
    "write_audit",
]

STATUSES = ("pending", "replayed", "discarded")
Coordinates = tuple[str, int, int]


class DeadLetterNotFound(InputError):
    """No dead letter at those coordinates (exit 2)."""


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


def parse_coordinates(text: str) -> Coordinates:
    """``orders-dlt:0:42`` -> ``("orders-dlt", 0, 42)`` (topic names may hold colons? no: dots)."""
    topic, sep1, rest = text.rpartition(":")
    head, sep2, part = topic.rpartition(":")
    if not (sep1 and sep2 and head):
        raise InputError(f"expected TOPIC:PARTITION:OFFSET, got {text!r}")
    try:
        return head, int(part), int(rest)
    except ValueError:
        raise InputError(f"expected TOPIC:PARTITION:OFFSET with numbers, got {text!r}") from None


def format_coordinates(c: Coordinates) -> str:
    return f"{c[0]}:{c[1]}:{c[2]}"


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now_ms: int | None = None) -> int:
    """``--since``: a duration back from now (``90s``, ``15m``, ``2h``, ``1d``) or an ISO time.

    Returns epoch milliseconds.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    m = _DURATION.match(text.strip())
    if m:
        return now_ms - int(float(m.group(1)) * _UNIT_S[m.group(2)] * 1000)
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"--since expects a duration like 15m, 2h, 1d or an ISO time, got {text!r}"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class DlqFilter:
    """What ``dlq list`` and bulk replay/discard select. ``since_ms``: DLQ timestamp lower bound."""

    topic: str | None = None
    error: str | None = None
    since_ms: int | None = None
    correlation_id: str | None = None
    status: str | None = None
    limit: int | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if self.topic:
            clauses.append("(dlq_topic = ? OR original_topic = ?)")
            args += [self.topic, self.topic]
        if self.error:
            clauses.append(
                "(exception_message LIKE ? ESCAPE '\\' OR exception_class LIKE ? ESCAPE '\\' "
                "OR exception_cause_class LIKE ? ESCAPE '\\')"
            )
            like = "%" + re.sub(r"([%_\\])", r"\\\1", self.error) + "%"
            args += [like, like, like]
        if self.since_ms is not None:
            clauses.append("timestamp_ms >= ?")
            args.append(self.since_ms)
        if self.correlation_id:
            clauses.append("correlation_id = ?")
            args.append(self.correlation_id)
        if self.status:
            if self.status not in STATUSES:
                raise InputError(f"--status must be one of {', '.join(STATUSES)}")
            clauses.append("status = ?")
            args.append(self.status)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


@dataclass(frozen=True, slots=True)
class ListItem:
    """One row of ``dlq list``: no payload, no headers."""

    dlq_topic: str
    partition: int
    offset: int
    timestamp_ms: int
    original_topic: str | None
    original_partition: int | None
    original_offset: int | None
    exception_class: str | None
    exception_message: str | None
    correlation_id: str | None
    status: str
    payload_size: int
    convention: str

    @property
    def coordinates(self) -> str:
        return f"{self.dlq_topic}:{self.partition}:{self.offset}"

    def age_s(self, now_ms: int | None = None) -> float:
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        return max(0.0, (now_ms - self.timestamp_ms) / 1000)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dlq_topic": self.dlq_topic,
            "partition": self.partition,
            "offset": self.offset,
            "coordinates": self.coordinates,
            "timestamp_ms": self.timestamp_ms,
            "original_topic": self.original_topic,
            "original_partition": self.original_partition,
            "original_offset": self.original_offset,
            "exception_class": self.exception_class,
            "exception_message": self.exception_message,
            "correlation_id": self.correlation_id,
            "status": self.status,
            "payload_size": self.payload_size,
            "convention": self.convention,
        }


_LIST_COLUMNS = (
    "dlq_topic, partition, offset, timestamp_ms, original_topic, original_partition, "
    "original_offset, exception_class, exception_message, correlation_id, status, payload_size, "
    "convention"
)


def list_dead_letters(conn: sqlite3.Connection, flt: DlqFilter | None = None) -> list[ListItem]:
    """Dead letters matching ``flt``, newest first."""
    flt = flt or DlqFilter()
    where, args = flt.where()
    sql = (
        f"SELECT {_LIST_COLUMNS} FROM dead_letters{where} "
        "ORDER BY timestamp_ms DESC, dlq_topic, partition, offset DESC"
    )
    if flt.limit:
        sql += f" LIMIT {int(flt.limit)}"
    cur = conn.execute(sql, args)
    cur.row_factory = None  # type: ignore[assignment]  # plain tuples: 3x faster than Row
    return [ListItem(*r) for r in cur]


@dataclass(frozen=True, slots=True)
class DepthRow:
    """Per DLQ topic: how many dead letters, by status, and the oldest pending one."""

    dlq_topic: str
    total: int
    pending: int
    replayed: int
    discarded: int
    oldest_pending_ms: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "dlq_topic": self.dlq_topic,
            "total": self.total,
            "pending": self.pending,
            "replayed": self.replayed,
            "discarded": self.discarded,
            "oldest_pending_ms": self.oldest_pending_ms,
        }


def depth_summary(conn: sqlite3.Connection, flt: DlqFilter | None = None) -> list[DepthRow]:
    """The depth of each DLQ topic among the dead letters ``flt`` selects (limit ignored)."""
    where, args = (flt or DlqFilter()).where()
    sql = (
        "SELECT dlq_topic, count(*), sum(status = 'pending'), sum(status = 'replayed'), "
        "sum(status = 'discarded'), min(CASE WHEN status = 'pending' THEN timestamp_ms END) "
        f"FROM dead_letters{where} GROUP BY dlq_topic ORDER BY dlq_topic"
    )
    cur = conn.execute(sql, args)
    cur.row_factory = None  # type: ignore[assignment]
    return [DepthRow(*r) for r in cur]


def get_dead_letter(conn: sqlite3.Connection, coords: Coordinates | str) -> DeadLetter:
    """The dead letter at ``coords``; ``DeadLetterNotFound`` if the store has none there."""
    c = parse_coordinates(coords) if isinstance(coords, str) else coords
    cur = conn.execute(
        "SELECT * FROM dead_letters WHERE dlq_topic = ? AND partition = ? AND offset = ?", c
    )
    cur.row_factory = sqlite3.Row
    row = cur.fetchone()
    if row is None:
        raise DeadLetterNotFound(f"no dead letter at {format_coordinates(c)} in the store")
    return rows.dead_letter_from_row(row)


def select_dead_letters(conn: sqlite3.Connection, flt: DlqFilter) -> list[DeadLetter]:
    """Full dead letters (payloads and headers) for bulk work, oldest first."""
    where, args = flt.where()
    sql = f"SELECT * FROM dead_letters{where} ORDER BY timestamp_ms, dlq_topic, partition, offset"
    if flt.limit:
        sql += f" LIMIT {int(flt.limit)}"
    cur = conn.execute(sql, args)
    cur.row_factory = sqlite3.Row
    return [rows.dead_letter_from_row(r) for r in cur]


def fixes_for(conn: sqlite3.Connection, d: DeadLetter) -> list[FixedPayload]:
    """Every fixed version of ``d``, oldest first (the last one is what a replay sends)."""
    cur = conn.execute(
        "SELECT dlq_topic, partition, offset, version, payload, created_ns, author, sha256 "
        "FROM fixed_payloads WHERE dlq_topic = ? AND partition = ? AND offset = ? "
        "ORDER BY version",
        (d.dlq_topic, d.partition, d.offset),
    )
    cur.row_factory = None  # type: ignore[assignment]
    return [FixedPayload(*r) for r in cur]


def current_payload(conn: sqlite3.Connection, d: DeadLetter) -> tuple[bytes | None, int]:
    """What a replay of ``d`` sends: the latest fixed payload, else the original (version 0)."""
    fixes = fixes_for(conn, d)
    if fixes:
        return fixes[-1].payload, fixes[-1].version
    return d.payload, 0


_LEDGER_COLUMNS = (
    "replay_id, dlq_topic, partition, offset, target_topic, payload_sha256, state, created_ns, "
    "replay_count, acked_ns, target_partition, target_offset, error, os_user"
)


def replays_for(conn: sqlite3.Connection, d: DeadLetter) -> list[ReplayEntry]:
    """The replay ledger's lines for ``d``, oldest first."""
    cur = conn.execute(
        f"SELECT {_LEDGER_COLUMNS} FROM replay_ledger "
        "WHERE dlq_topic = ? AND partition = ? AND offset = ? ORDER BY replay_count, created_ns",
        (d.dlq_topic, d.partition, d.offset),
    )
    cur.row_factory = None  # type: ignore[assignment]
    return [ReplayEntry(*r) for r in cur]


def contract_topic(d: DeadLetter) -> str:
    """The topic whose contract the payload must meet: where it came from."""
    return d.original_topic or d.dlq_topic


def payload_view(payload: bytes | None) -> tuple[str, str]:
    """``(kind, text)``: kind is json (pretty-printed), text, hex (a hex dump) or empty."""
    if payload is None:
        return "empty", "(no payload: a tombstone)"
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return "hex", _hexdump(payload)
    try:
        return "json", pretty_json(json.loads(text))
    except json.JSONDecodeError:
        pass
    if text.isprintable() or all(ch.isprintable() or ch in "\n\t\r" for ch in text):
        return "text", text
    return "hex", _hexdump(payload)


def _hexdump(data: bytes, width: int = 16) -> str:
    lines = []
    for i in range(0, len(data), width):
        chunk = data[i : i + width]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        printable = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{i:08x}  {hexes:<{width * 3 - 1}}  {printable}")
    return "\n".join(lines) or "(0 bytes)"


@dataclass(frozen=True, slots=True)
class HeaderLine:
    name: str
    value: str  # header_text(): UTF-8 text or 0x-hex
    meaning: str = ""  # a decoded reading where one is known (ints of Spring headers, ...)


def _header_lines(d: DeadLetter) -> tuple[HeaderLine, ...]:
    return tuple(HeaderLine(n, header_text(v)) for n, v in d.headers)


@dataclass(frozen=True, slots=True)
class DeadLetterDetail:
    """Everything ``dlq show`` presents about one dead letter."""

    dead_letter: DeadLetter
    headers: tuple[HeaderLine, ...]
    payload_kind: str
    payload_text: str
    verdict: Verdict  # of the original payload
    fixes: tuple[FixedPayload, ...]
    fixed_kind: str | None
    fixed_text: str | None
    fixed_verdict: Verdict | None  # of the latest fix
    journey: str
    replays: tuple[ReplayEntry, ...]

    def as_dict(self) -> dict[str, Any]:
        d = self.dead_letter
        return {
            "dlq_topic": d.dlq_topic,
            "partition": d.partition,
            "offset": d.offset,
            "coordinates": d.coordinates,
            "timestamp_ms": d.timestamp_ms,
            "status": d.status,
            "convention": d.convention,
            "original_topic": d.original_topic,
            "original_partition": d.original_partition,
            "original_offset": d.original_offset,
            "original_timestamp_ms": d.original_timestamp_ms,
            "consumer_group": d.consumer_group,
            "exception_class": d.exception_class,
            "exception_cause_class": d.exception_cause_class,
            "exception_message": d.exception_message,
            "stacktrace": d.stacktrace,
            "correlation_id": d.correlation_id,
            "trace_id": d.trace_id,
            "key": header_text(d.key) if d.key is not None else None,
            "headers": [
                {"name": h.name, "value": h.value, "meaning": h.meaning} for h in self.headers
            ],
            "payload_kind": self.payload_kind,
            "payload": self.payload_text,
            "payload_sha256": payload_sha256(d.payload),
            "payload_truncated": d.payload_truncated,
            "payload_size": d.payload_size,
            "contract": self.verdict.as_dict(),
            "fixes": [
                {
                    "version": f.version,
                    "sha256": f.sha256,
                    "author": f.author,
                    "created_ns": f.created_ns,
                }
                for f in self.fixes
            ],
            "fixed_payload": self.fixed_text,
            "fixed_contract": self.fixed_verdict.as_dict() if self.fixed_verdict else None,
            "journey": self.journey,
            "replays": [_ledger_dict(r) for r in self.replays],
        }


def _ledger_dict(r: ReplayEntry) -> dict[str, Any]:
    return {
        "replay_id": r.replay_id,
        "replay_count": r.replay_count,
        "state": r.state,
        "target_topic": r.target_topic,
        "target_partition": r.target_partition,
        "target_offset": r.target_offset,
        "payload_sha256": r.payload_sha256,
        "created_ns": r.created_ns,
        "acked_ns": r.acked_ns,
        "error": r.error,
        "os_user": r.os_user,
    }


def show(
    conn: sqlite3.Connection, coords: Coordinates | str, contracts: ContractSource
) -> DeadLetterDetail:
    """Gather ``dlq show``'s data: headers, payload, contract verdicts, journey, replays."""
    d = get_dead_letter(conn, coords)
    kind, text = payload_view(d.payload)
    topic = contract_topic(d)
    fixes = tuple(fixes_for(conn, d))
    fixed_kind = fixed_text = None
    fixed_verdict = None
    if fixes:
        fixed_kind, fixed_text = payload_view(fixes[-1].payload)
        fixed_verdict = check(contracts, topic, fixes[-1].payload)
    return DeadLetterDetail(
        dead_letter=d,
        headers=_header_lines(d),
        payload_kind=kind,
        payload_text=text,
        verdict=check(contracts, topic, d.payload),
        fixes=fixes,
        fixed_kind=fixed_kind,
        fixed_text=fixed_text,
        fixed_verdict=fixed_verdict,
        journey=journey_line(conn, d),
        replays=tuple(replays_for(conn, d)),
    )


def journey_line(conn: sqlite3.Connection, d: DeadLetter) -> str:
    """A one-line summary of the correlation id's spans and hops in the store."""
    key, value = ("correlation_id", d.correlation_id)
    if not value and d.trace_id:
        key, value = "trace_id", d.trace_id
    if not value:
        return "no correlation id or trace id on this dead letter"
    spans = conn.execute(
        f"SELECT service, name, status_code, status_message FROM spans WHERE {key} = ? "
        "ORDER BY start_ns LIMIT 500",
        (value,),
    ).fetchall()
    hops = conn.execute(
        f"SELECT topic, partition, offset FROM hops WHERE {key} = ? ORDER BY timestamp_ms, seen_ns "
        "LIMIT 500",
        (value,),
    ).fetchall()
    if not spans and not hops:
        return f"no spans or hops for {key.replace('_', ' ')} {value} in the store"
    parts = []
    if spans:
        services: list[str] = []
        for s in spans:
            if not services or services[-1] != s[0]:
                services.append(s[0])
        errors = [s for s in spans if s[2] == 2]
        line = f"{' → '.join(services)} ({len(spans)} span{'s' if len(spans) != 1 else ''}"
        if errors:
            e = errors[0]
            line += f", {len(errors)} error{'s' if len(errors) != 1 else ''}: first at {e[0]}"
            if e[3]:
                line += f" ({e[3][:60]})"
        parts.append(line + ")")
    if hops:
        shown = [f"{h[0]}:{h[1]}:{h[2]}" for h in hops[:4]]
        more = f" … +{len(hops) - 4}" if len(hops) > 4 else ""
        parts.append("hops " + " → ".join(shown) + more)
    return "; ".join(parts)


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
    cur.row_factory = None  # type: ignore[assignment]
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
                "AND offset = ?",
                (d.dlq_topic, d.partition, d.offset),
            ).fetchone()
            status = row[0] if row else None
            if status == "pending":
                conn.execute(
                    "UPDATE dead_letters SET status = 'discarded', status_ns = ? "
                    "WHERE dlq_topic = ? AND partition = ? AND offset = ?",
                    (now, d.dlq_topic, d.partition, d.offset),
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
