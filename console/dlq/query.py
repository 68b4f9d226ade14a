"""Dead letters for people: address, select, list, count. The CLI and the TUI both call this.

Everything reads through one ``sqlite3.Connection`` from ``Store.connect()``; nothing here talks
to Kafka (replay lives in ``console/dlq/replay.py``, fixes in ``console/dlq/fix.py``, discarding
and the audit log in ``console/dlq/audit.py``). Dead letters are addressed by their DLQ
coordinates ``TOPIC:PARTITION:OFFSET``.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from console.base.config import parse_duration
from console.base.coordinates import Coordinates, parse_address
from console.base.errors import InputError
from console.base.model import (
    DeadLetter,
    FixedPayload,
    ReplayEntry,
)
from console.store import rows
from console.store.deadletters_sqlite import dead_letters_from_cursor

__all__ = [
    "STATUSES",
    "DeadLetterNotFound",
    "DepthRow",
    "DlqFilter",
    "ListItem",
    "address",
    "contract_topic",
    "coordinates_of",
    "current_payload",
    "current_version",
    "dead_letter_extent",
    "dead_letters_from_cursor",
    "depth_summary",
    "fixes_for",
    "format_coordinates",
    "get_dead_letter",
    "headers_with_schema",
    "list_dead_letters",
    "parse_since",
    "replays_for",
    "select_dead_letters",
]

STATUSES = ("pending", "replayed", "discarded")


class DeadLetterNotFound(InputError):
    """No dead letter at those coordinates (exit 2)."""


def address(d: DeadLetter | ListItem) -> str:
    """``CLUSTER/TOPIC:P:O`` for a dead letter whose cluster is known, else ``TOPIC:P:O``: what
    names it even where two clusters share coordinates."""
    return f"{d.cluster_id}/{d.coordinates}" if d.cluster_id else d.coordinates


def coordinates_of(text: str) -> str:
    """``TOPIC:P:O`` of an address, with or without its ``CLUSTER/``: what a person reads."""
    return text.rpartition("/")[2]


def format_coordinates(c: tuple[str, int, int]) -> str:
    return f"{c[0]}:{c[1]}:{c[2]}"


def parse_since(text: str, now_ms: int | None = None) -> int:
    """``--since``: a duration back from now (``90s``, ``15m``, ``2h``, ``1d``) or an ISO time.

    Returns epoch milliseconds.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    try:
        return now_ms - int(parse_duration(text) * 1000)
    except ValueError:
        pass
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
    cluster_id: str | None = None  # the Kafka cluster the tap read them from

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
        if self.cluster_id:
            clauses.append("cluster_id = ?")
            args.append(self.cluster_id)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


class ListItem(NamedTuple):
    """One row of ``dlq list``: no payload, no headers (a named tuple: 100,000 build fast)."""

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
    cluster_id: str | None = None

    @property
    def coordinates(self) -> str:
        return f"{self.dlq_topic}:{self.partition}:{self.offset}"

    def age_s(self, now_ms: int | None = None) -> float:
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        return max(0.0, (now_ms - self.timestamp_ms) / 1000)

    def as_dict(self) -> dict[str, Any]:
        """The ``dlq list --json`` object: every field, plus ``coordinates``."""
        d = dict(zip(self._fields, self, strict=True))
        d["coordinates"] = self.coordinates
        return d


_LIST_COLUMNS = (
    "dlq_topic, partition, offset, timestamp_ms, original_topic, original_partition, "
    "original_offset, exception_class, exception_message, correlation_id, status, payload_size, "
    "convention, cluster_id"
)


def list_dead_letters(conn: sqlite3.Connection, flt: DlqFilter | None = None) -> list[ListItem]:
    """Dead letters matching ``flt``, newest first."""
    flt = flt or DlqFilter()
    where, args = flt.where()
    sql = (
        f"SELECT {_LIST_COLUMNS} FROM dead_letters{where} "
        "ORDER BY timestamp_ms DESC"  # dead_letters_list covers the query: no table read
    )
    if flt.limit:
        sql += f" LIMIT {int(flt.limit)}"
    cur = conn.execute(sql, args)
    cur.row_factory = None  # plain tuples: 3x faster than Row
    return list(map(ListItem._make, cur))


def dead_letter_extent(
    conn: sqlite3.Connection, flt: DlqFilter | None = None
) -> tuple[int, int | None]:
    """How many dead letters match ``flt`` and the DLQ timestamp (ms) of the newest of them."""
    where, args = (flt or DlqFilter()).where()
    n, last = conn.execute(
        f"SELECT count(*), max(timestamp_ms) FROM dead_letters{where}", args
    ).fetchone()
    return int(n or 0), last


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
    cur.row_factory = None
    return [DepthRow(*r) for r in cur]


def get_dead_letter(
    conn: sqlite3.Connection, coords: tuple[str, int, int] | str, cluster: str | None = None
) -> DeadLetter:
    """The dead letter at ``coords`` (``TOPIC:P:O`` or ``CLUSTER/TOPIC:P:O``), from ``cluster``
    when one is named; ``DeadLetterNotFound`` if the store has none there.

    Two clusters tapped into one store may both have a dead letter at the same coordinates (the
    store keeps both); naming such coordinates without a cluster is refused rather than picking
    one.
    """
    named = None
    if isinstance(coords, str):
        named, c = parse_address(coords)
    else:
        c = Coordinates(*coords)
    if named is not None and cluster is not None and named != cluster:
        raise InputError(f"{coords} names cluster {named}, --cluster names {cluster}")
    cluster = cluster if cluster is not None else named
    sql = "SELECT * FROM dead_letters WHERE dlq_topic = ? AND partition = ? AND offset = ?"
    args: list[Any] = list(c)
    if cluster is not None:
        sql += " AND cluster_id = ?"
        args.append(cluster)
    cur = conn.execute(sql + " LIMIT 2", args)
    cur.row_factory = sqlite3.Row
    found = cur.fetchall()
    where = format_coordinates(c) + (f" from cluster {cluster}" if cluster is not None else "")
    if not found:
        raise DeadLetterNotFound(f"no dead letter at {where} in the store")
    if len(found) > 1:
        clusters = ", ".join(str(r["cluster_id"]) for r in found)
        raise InputError(
            f"{format_coordinates(c)} names dead letters from more than one cluster ({clusters}) "
            f"in this store; name one: CLUSTER/{format_coordinates(c)} or --cluster CLUSTER"
        )
    return rows.dead_letter_from_row(found[0])


def select_dead_letters(conn: sqlite3.Connection, flt: DlqFilter) -> list[DeadLetter]:
    """Full dead letters (payloads and headers) for bulk work, in the order the tap saw them."""
    where, args = flt.where()
    # first_seen_ns rides the (status, first_seen_ns) index: no sort of 10,000 payloads.
    sql = f"SELECT {rows.DEAD_LETTER_COLUMNS} FROM dead_letters{where} ORDER BY first_seen_ns"
    if flt.limit:
        sql += f" LIMIT {int(flt.limit)}"
    return dead_letters_from_cursor(conn.execute(sql, args))


def fixes_for(conn: sqlite3.Connection, d: DeadLetter) -> list[FixedPayload]:
    """Every fixed version of ``d``, oldest first (the last one is what a replay sends)."""
    cur = conn.execute(
        "SELECT dlq_topic, partition, offset, version, payload, created_ns, author, sha256, "
        "schema_id, schema_guid, schema_header FROM fixed_payloads "
        "WHERE dlq_topic = ? AND partition = ? AND offset = ? AND coalesce(cluster_id, '') = ? "
        "ORDER BY version",
        (d.dlq_topic, d.partition, d.offset, d.cluster_id or ""),
    )
    cur.row_factory = None
    return [FixedPayload(*r) for r in cur]


def current_payload(conn: sqlite3.Connection, d: DeadLetter) -> tuple[bytes | None, int]:
    """What a replay of ``d`` sends: the latest fixed payload, else the original (version 0)."""
    fixes = fixes_for(conn, d)
    if fixes:
        return fixes[-1].payload, fixes[-1].version
    return d.payload, 0


def headers_with_schema(
    headers: Sequence[tuple[str, bytes | None]], schema_header: bytes | None
) -> tuple[tuple[str, bytes | None], ...]:
    """``headers`` with ``__value_schema_id`` set to ``schema_header`` (when a fix has one)."""
    if schema_header is None:
        return tuple(headers)
    kept = [(n, v) for n, v in headers if n != "__value_schema_id"]
    return (*kept, ("__value_schema_id", schema_header))


def current_version(
    conn: sqlite3.Connection, d: DeadLetter
) -> tuple[bytes | None, int, tuple[tuple[str, bytes | None], ...]]:
    """``current_payload`` plus the headers that go with it (a fix's schema header in place)."""
    fixes = fixes_for(conn, d)
    if fixes:
        f = fixes[-1]
        return f.payload, f.version, headers_with_schema(d.headers, f.schema_header)
    return d.payload, 0, tuple(d.headers)


def replays_for(conn: sqlite3.Connection, d: DeadLetter) -> list[ReplayEntry]:
    """The replay ledger's lines for ``d``, oldest first."""
    cur = conn.execute(
        "SELECT * FROM replay_ledger "
        "WHERE dlq_topic = ? AND partition = ? AND offset = ? AND coalesce(cluster_id, '') = ? "
        "ORDER BY replay_count, created_ns",
        (d.dlq_topic, d.partition, d.offset, d.cluster_id or ""),
    )
    cur.row_factory = sqlite3.Row
    return [rows.replay_from_row(r) for r in cur]


def contract_topic(d: DeadLetter) -> str:
    """The topic whose contract the payload must meet: where it came from."""
    return d.original_topic or d.dlq_topic
