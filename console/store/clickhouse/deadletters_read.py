"""The dead letters' reads on a ClickHouse store (``DeadLetterReads``), the base of
``ClickHouseDeadLetters`` (``deadletters.py``, the writes and why they are safe without a
transaction).

Every read takes the newest row of each dead letter, ledger line and fix (``FINAL``: the
tables are ``ReplacingMergeTree``s by version) before it filters, so a status, a line's state
or a fix changed since is read as it is now. A store without the console's tables yet (a
Collector's alone) has no dead letters: every read finds nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from console.base.model import AuditEntry, DeadLetter, FixedPayload, ReplayEntry
from console.store.clickhouse import handoff_schema as hs
from console.store.clickhouse import read_records as rr
from console.store.clickhouse.connect import engine_error
from console.store.clickhouse.session import Session
from console.store.deadletters_api import (
    DeadLetterKey,
    DepthRow,
    DlqFilter,
    LatestFix,
    LedgerLine,
    ListItem,
    OpenLine,
)

__all__ = ["FIX", "KEY", "KEYS_TYPE", "LINE", "DeadLetterReads", "batches", "key", "tuples"]

T = TypeVar("T")

_FORMATS: dict[str, str | dict[str, str]] = {**rr.BYTES, "SchemaHeader": "bytes"}
KEY = "(Cluster, DlqTopic, Partition, Offset)"
KEYS_TYPE = "Array(Tuple(String, String, Int32, Int64))"
_LIST = (
    "DlqTopic, Partition, Offset, toUnixTimestamp64Milli(Timestamp), OriginalTopic,"
    " OriginalPartition, OriginalOffset, ExceptionClass, ExceptionMessage, CorrelationId,"
    " Status, PayloadSize, Convention, Cluster"
)
# A ledger line (below: a fix) as it is written and read back (times in ns), to write again.
LINE = (
    "ReplayId",
    "Cluster",
    "DlqTopic",
    "Partition",
    "Offset",
    "TargetTopic",
    "PayloadSha256",
    "State",
    "Created",
    "ReplayCount",
    "Acked",
    "TargetPartition",
    "TargetOffset",
    "Error",
    "OsUser",
    "Version",
)
_LINE_SELECT = ", ".join(
    f"toUnixTimestamp64Nano({c})" if c in ("Created", "Acked") else c for c in LINE
)
FIX = (
    "DlqTopic",
    "Partition",
    "Offset",
    "FixVersion",
    "Payload",
    "Created",
    "Author",
    "Sha256",
    "SchemaId",
    "SchemaGuid",
    "SchemaHeader",
    "Cluster",
)
_FIX_SELECT = ", ".join("toUnixTimestamp64Nano(Created)" if c == "Created" else c for c in FIX)


def _where(flt: DlqFilter) -> tuple[str, dict[str, Any]]:
    """The filter as a WHERE clause over the newest row of each dead letter (read ``FINAL``)."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if flt.topic:
        clauses.append("(DlqTopic = {topic:String} OR OriginalTopic = {topic:String})")
        params["topic"] = flt.topic
    if flt.error:
        # ILIKE: SQLite's LIKE ignores case too. % _ \ in the text are matched as themselves.
        clauses.append(
            "(ExceptionMessage ILIKE {like:String} OR ExceptionClass ILIKE {like:String}"
            " OR ExceptionCauseClass ILIKE {like:String})"
        )
        params["like"] = "%" + re.sub(r"([%_\\])", r"\\\1", flt.error) + "%"
    if flt.since_ms is not None:
        clauses.append("Timestamp >= fromUnixTimestamp64Milli(toInt64({since:Int64}))")
        params["since"] = flt.since_ms
    if flt.correlation_id:
        clauses.append("CorrelationId = {cid:String}")
        params["cid"] = flt.correlation_id
    if flt.status:
        clauses.append("Status = {status:String}")
        params["status"] = flt.status
    if flt.cluster_id:
        clauses.append("Cluster = {cluster:String}")
        params["cluster"] = flt.cluster_id
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _limit(flt: DlqFilter) -> str:
    return f" LIMIT {int(flt.limit)}" if flt.limit else ""


def key(cluster: str | None, topic: str, partition: int, offset: int) -> DeadLetterKey:
    return (topic, partition, offset, cluster or "")


class DeadLetterReads:
    """The dead letters' reads on one client of their own (``client``; ``close`` it)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.client = session.new_client()
        try:
            self._ready = hs.applied_version(self.client, session.database) > 0
        except Exception as exc:
            self.client.close()
            raise engine_error(session.target, exc) from exc
        self._t = {
            name: session.table(name) for name in (hs.DEAD_LETTERS, hs.FIXES, hs.REPLAYS, hs.AUDIT)
        }

    # statements ------------------------------------------------------------------------------
    def _query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        try:
            result = self.client.query(sql, parameters=params or None, column_formats=_FORMATS)
        except Exception as exc:
            raise engine_error(self.session.target, exc) from exc
        return [tuple(r) for r in result.result_rows]

    # reading ---------------------------------------------------------------------------------
    def list_items(self, flt: DlqFilter) -> list[ListItem]:
        if not self._ready:
            return []
        where, params = _where(flt)
        rows = self._query(
            f"SELECT {_LIST} FROM {self._t[hs.DEAD_LETTERS]} FINAL{where}"
            f" ORDER BY Timestamp DESC, DlqTopic DESC, Partition DESC, Offset DESC{_limit(flt)}",
            **params,
        )
        return [ListItem._make((*r[:9], r[9] or None, *r[10:13], r[13] or None)) for r in rows]

    def extent(self, flt: DlqFilter) -> tuple[int, int | None]:
        if not self._ready:
            return 0, None
        where, params = _where(flt)
        [(n, last)] = self._query(
            f"SELECT count(), if(count() = 0, NULL, max(toUnixTimestamp64Milli(Timestamp)))"
            f" FROM {self._t[hs.DEAD_LETTERS]} FINAL{where}",
            **params,
        )
        return int(n), None if last is None else int(last)

    def depth(self, flt: DlqFilter) -> list[DepthRow]:
        if not self._ready:
            return []
        where, params = _where(flt)
        rows = self._query(
            "SELECT DlqTopic, count(), countIf(Status = 'pending'), countIf(Status = 'replayed'),"
            " countIf(Status = 'discarded'), if(countIf(Status = 'pending') = 0, NULL,"
            " minIf(toUnixTimestamp64Milli(Timestamp), Status = 'pending'))"
            f" FROM {self._t[hs.DEAD_LETTERS]} FINAL{where} GROUP BY DlqTopic ORDER BY DlqTopic",
            **params,
        )
        return [DepthRow(str(t), int(n), int(p), int(r), int(d), o) for t, n, p, r, d, o in rows]

    def _letters(self, where: str, order: str = "", **params: Any) -> list[DeadLetter]:
        if not self._ready:
            return []
        rows = self._query(
            f"SELECT {rr.DEAD_LETTER_COLUMNS} FROM {self._t[hs.DEAD_LETTERS]} FINAL{where}{order}",
            **params,
        )
        return [rr.dead_letter(r) for r in rows]

    def select(self, flt: DlqFilter) -> list[DeadLetter]:
        where, params = _where(flt)
        order = f" ORDER BY FirstSeen, DlqTopic, Partition, Offset{_limit(flt)}"
        return self._letters(where, order, **params)

    def at(
        self, topic: str, partition: int, offset: int, cluster_id: str | None
    ) -> list[DeadLetter]:
        where = " WHERE DlqTopic = {t:String} AND Partition = {p:Int32} AND Offset = {o:Int64}"
        params: dict[str, Any] = {"t": topic, "p": partition, "o": offset}
        if cluster_id is not None:
            where += " AND Cluster = {c:String}"
            params["c"] = cluster_id
        return self._letters(where, " ORDER BY Cluster LIMIT 2", **params)

    def _of(self, d: DeadLetter) -> dict[str, Any]:
        return {"t": d.dlq_topic, "p": d.partition, "o": d.offset, "c": d.cluster_id or ""}

    _OF = (
        " WHERE DlqTopic = {t:String} AND Partition = {p:Int32} AND Offset = {o:Int64}"
        " AND Cluster = {c:String}"
    )

    def fixes_for(self, d: DeadLetter) -> list[FixedPayload]:
        if not self._ready:
            return []
        rows = self._query(
            f"SELECT {_FIX_SELECT} FROM {self._t[hs.FIXES]} FINAL{self._OF} ORDER BY FixVersion",
            **self._of(d),
        )
        return [FixedPayload(*r[:11]) for r in rows]

    def replays_for(self, d: DeadLetter) -> list[ReplayEntry]:
        if not self._ready:
            return []
        rows = self._query(
            f"SELECT {rr.REPLAY_COLUMNS} FROM {self._t[hs.REPLAYS]} FINAL{self._OF}"
            " ORDER BY ReplayCount, Created",
            **self._of(d),
        )
        return [rr.replay(r) for r in rows]

    def audit_log(self, *, limit: int | None = None, target: str | None = None) -> list[AuditEntry]:
        if not self._ready:
            return []
        where = " WHERE Target = {target:String}" if target else ""
        rows = self._query(
            "SELECT toUnixTimestamp64Nano(Time), OsUser, Action, Target, Result, BeforeSha256,"
            f" AfterSha256, Detail FROM {self._t[hs.AUDIT]}{where} ORDER BY Time DESC, Seq DESC"
            + (f" LIMIT {int(limit)}" if limit else ""),
            **({"target": target} if target else {}),
        )
        return [
            AuditEntry(int(t), u, a, tg, r, b, af, json.loads(dt))
            for t, u, a, tg, r, b, af, dt in rows
        ]

    def _lines(self, where: str = "", **params: Any) -> list[list[Any]]:
        """Ledger lines (``LINE`` order), the newest version of each, oldest line first."""
        if not self._ready:
            return []
        rows = self._query(
            f"SELECT {_LINE_SELECT} FROM {self._t[hs.REPLAYS]} FINAL{where}"
            " ORDER BY Created, ReplayCount, ReplayId",
            **params,
        )
        return [list(r) for r in rows]

    def ledger_lines(self) -> dict[DeadLetterKey, list[LedgerLine]]:
        out: dict[DeadLetterKey, list[LedgerLine]] = {}
        for ln in self._lines():
            c, t, p, o = ln[1:5]
            line = LedgerLine(t, p, o, c or None, ln[0], ln[7], ln[9], ln[5], ln[6], ln[11], ln[12])
            out.setdefault(key(c, t, p, o), []).append(line)
        return out

    def open_lines(self) -> list[OpenLine]:
        return [
            OpenLine(ln[0], ln[5], ln[8], ln[2], ln[3], ln[4], ln[6], ln[9], ln[1] or None)
            for ln in self._lines(" WHERE State IN ('pending', 'failed')")
        ]

    def latest_fixes(self) -> dict[DeadLetterKey, LatestFix]:
        if not self._ready:
            return {}
        rows = self._query(
            "SELECT DlqTopic, Partition, Offset, Cluster, FixVersion, Payload, SchemaHeader"
            f" FROM {self._t[hs.FIXES]} FINAL ORDER BY FixVersion, Created"
        )
        return {(t, p, o, c): (int(v), payload, sh) for t, p, o, c, v, payload, sh in rows}

    def with_open_lines(self) -> list[DeadLetter]:
        return self._letters(
            f" WHERE {KEY} IN (SELECT {KEY} FROM {self._t[hs.REPLAYS]} FINAL"
            " WHERE State IN ('pending', 'failed'))",
            " ORDER BY FirstSeen, DlqTopic, Partition, Offset",
        )

    def close(self) -> None:
        self.client.close()


def tuples(keys: Iterable[DeadLetterKey]) -> list[list[tuple[str, str, int, int]]]:
    """Dead letters' keys as ``(Cluster, DlqTopic, Partition, Offset)``, the tables' order, in
    batches of ``BATCH`` (a parameter travels in the URL over HTTP: bounded)."""
    return batches(sorted({(c, t, p, o) for t, p, o, c in keys}))


BATCH = 1000


def batches(items: Sequence[T]) -> list[list[T]]:
    """``items`` in lists of at most ``BATCH``."""
    return [list(items[i : i + BATCH]) for i in range(0, len(items), BATCH)]
