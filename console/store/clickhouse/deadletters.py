"""``DeadLetters`` (console/store/deadletters_api.py) on a ClickHouse store's ``handoff_*`` tables.

One row per dead letter, picked by version: the tap writes ``handoff_dead_letters`` at
``Version`` 0; a status change writes the row again (``INSERT … SELECT`` of the newest one,
``Status`` changed, ``Version`` the change's time and above the row's own), so ``FINAL`` (or
``ORDER BY Version DESC LIMIT 1 BY`` the key) reads the newest status, and a tap writing the
message again never brings "pending" back. Ledger lines (``handoff_replays``) are versioned the
same way per ``ReplayId``; fixes (``handoff_fixes``) are one row per version; the audit
(``handoff_audit``) is append-only, ordered by ``Time`` then ``Seq``.

ClickHouse has no transaction. What SQLite does in one, this does as follows:

* **One INSERT, seen whole or not at all**: ``write_pending`` (the lines opened, the older open
  lines of the same dead letters superseded: rows of one table, ``handoff_replays``, one block
  of one part: it has no partition key), ``write_audit``.
* **Idempotent steps in a crash-safe order** where a change spans tables. The rule: the audit
  line first (nothing changes without its line written; a crash after it leaves a line whose
  change is not there, visible as such and done again by running the command again, which
  writes a second line), then the change, and the replay ledger last, because the ledger is
  what the next replay reads:

  - ``record_acks``: audit lines, dead letters ``replayed``, ledger lines ``acked``. Cut off
    before the last step, the lines stay open: the next replay's reconcile finds their replay
    ids in the target topic (the scan is the judge) and records the acks again; nothing is sent
    twice.
  - ``record_failure``: audit line, ledger line ``failed`` (cut off: still ``pending``, and
    reconcile treats both alike).
  - ``discard``: audit lines, then the status of those still pending.
  - ``store_fix``: audit line ``stored vN``, then fix vN (cut off: the next fix is vN again).

* **The replay lock** (``take_lock``): claims in ``handoff_locks`` (``locks.py``).

What this does not give: isolation between two writers changing one dead letter at the same
moment (two fixes both numbered vN: the later insert is vN; a discard racing a replay's ack:
the newer status shows). Replays are serialised by the lock, and the ledger decides what is
sent, so two replays never both send a dead letter.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from console.base.errors import StoreError
from console.base.model import AuditEntry, DeadLetter, FixedPayload, payload_sha256
from console.store.clickhouse import handoff_schema as hs
from console.store.clickhouse import rows as wr
from console.store.clickhouse.connect import engine_error
from console.store.clickhouse.deadletters_read import (
    FIX,
    KEY,
    KEYS_TYPE,
    LINE,
    DeadLetterReads,
    batches,
    key,
    tuples,
)
from console.store.clickhouse.locks import Claims
from console.store.clickhouse.session import Session
from console.store.deadletters_api import Ack, DeadLetterKey, PendingLine

__all__ = ["ClickHouseDeadLetters"]

_AUDIT = (
    "Time",
    "OsUser",
    "Action",
    "Target",
    "Result",
    "BeforeSha256",
    "AfterSha256",
    "Detail",
    "Seq",
)
_I = {c: i for i, c in enumerate(LINE)}


class ClickHouseDeadLetters(DeadLetterReads):
    """``DeadLetters`` on a ClickHouse store: the reads, and the writes (see the module doc)."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self._claims = Claims(session, self._query)

    def _command(self, sql: str, **params: Any) -> None:
        try:
            self.client.command(sql, parameters=params or None, settings={"async_insert": 0})
        except Exception as exc:
            raise engine_error(self.session.target, exc) from exc

    def _insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if not self._ready:
            raise StoreError(
                f"{self.session.target.display()}: no handoff_* tables yet "
                "(a tap or serve with --store makes them)"
            )
        try:
            self.client.insert(
                self._t[table],
                [list(r) for r in rows],
                column_names=list(columns),
                settings={"async_insert": 0},
            )
        except Exception as exc:
            raise engine_error(self.session.target, exc) from exc

    # changing --------------------------------------------------------------------------------
    def write_audit(self, entries: Iterable[AuditEntry]) -> None:
        seq = time.time_ns()
        rows = [
            [
                e.time_ns,
                e.os_user,
                e.action,
                e.target,
                e.result,
                e.before_sha256,
                e.after_sha256,
                json.dumps(e.detail, separators=(",", ":"), default=str),
                seq + i,
            ]
            for i, e in enumerate(entries)
        ]
        self._insert(hs.AUDIT, _AUDIT, rows)

    def _set_status(
        self, keys: Sequence[DeadLetterKey], status: str, now_ns: int, *, only: str | None = None
    ) -> None:
        """The newest row of each dead letter in ``keys`` written again with ``status`` (those
        whose status is ``only``, when named): one ``INSERT … SELECT`` a batch of keys."""
        if not keys:
            return
        columns = ", ".join(wr.DEAD_LETTER_COLUMNS)
        picked = ", ".join(
            "{status:String}"
            if c == "Status"
            else "greatest(toUInt64({now:UInt64}), Version + 1)"
            if c == "Version"
            else c
            for c in wr.DEAD_LETTER_COLUMNS
        )
        where = f" WHERE {KEY} IN {{keys:{KEYS_TYPE}}}"
        params: dict[str, Any] = {"status": status, "now": now_ns}
        if only is not None:
            where += " AND Status = {only:String}"
            params["only"] = only
        for batch in tuples(keys):
            self._command(
                f"INSERT INTO {self._t[hs.DEAD_LETTERS]} ({columns}) SELECT {picked}"
                f" FROM {self._t[hs.DEAD_LETTERS]} FINAL{where}",
                keys=batch,
                **params,
            )

    def discard(
        self, letters: Sequence[DeadLetter], *, now_ns: int, user: str, reason: str
    ) -> dict[str, str]:
        keys = [key(d.cluster_id, d.dlq_topic, d.partition, d.offset) for d in letters]
        status: dict[DeadLetterKey, str] = {}
        for batch in tuples(keys) if self._ready else []:
            rows = self._query(
                f"SELECT Cluster, DlqTopic, Partition, Offset, Status FROM"
                f" {self._t[hs.DEAD_LETTERS]} FINAL WHERE {KEY} IN {{keys:{KEYS_TYPE}}}",
                keys=batch,
            )
            status.update({key(c, t, p, o): str(s) for c, t, p, o, s in rows})
        results: dict[str, str] = {}
        audit: list[AuditEntry] = []
        for d, k in zip(letters, keys, strict=True):
            was = status.get(k)
            if was == "pending":
                result = "discarded"
            else:
                result = f"refused: already {was}" if was else "refused: not in the store"
            results[d.coordinates] = result
            sha = payload_sha256(d.payload)
            audit.append(
                AuditEntry(
                    now_ns, user, "discard", d.coordinates, result, sha, None, {"reason": reason}
                )
            )
        self.write_audit(audit)
        pending = [k for k in dict.fromkeys(keys) if status.get(k) == "pending"]
        self._set_status(pending, "discarded", now_ns, only="pending")
        return results

    def store_fix(
        self, fixed: FixedPayload, cluster_id: str | None, audit: AuditEntry
    ) -> FixedPayload:
        f = fixed
        newest = 0
        if self._ready:
            [(newest,)] = self._query(
                f"SELECT max(FixVersion) FROM {self._t[hs.FIXES]}{self._OF}",
                t=f.dlq_topic,
                p=f.partition,
                o=f.offset,
                c=cluster_id or "",
            )
        f = dataclasses.replace(f, version=int(newest or 0) + 1)
        detail = {**audit.detail, "version": f.version}
        self.write_audit([dataclasses.replace(audit, result=f"stored v{f.version}", detail=detail)])
        row = [
            f.dlq_topic,
            f.partition,
            f.offset,
            f.version,
            f.payload,
            f.created_ns,
            f.author,
            f.sha256,
            f.schema_id,
            f.schema_guid,
            f.schema_header,
            cluster_id or "",
        ]
        self._insert(hs.FIXES, FIX, [row])
        return f

    def _current(self, replay_ids: Iterable[str]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for ids in batches(sorted(set(replay_ids))):
            for ln in self._lines(" WHERE ReplayId IN {ids:Array(String)}", ids=ids):
                out[ln[0]] = ln
        return out

    def write_pending(self, lines: Sequence[PendingLine]) -> None:
        if not lines:
            return
        now = time.time_ns()
        current = self._current(ln.replay_id for ln in lines)
        ids = {ln.replay_id for ln in lines}
        keys = [key(ln.cluster_id, ln.dlq_topic, ln.partition, ln.offset) for ln in lines]
        others = [
            line
            for batch in tuples(keys)
            for line in self._lines(
                f" WHERE {KEY} IN {{keys:{KEYS_TYPE}}} AND State IN ('pending', 'failed')",
                keys=batch,
            )
        ]
        rows: list[list[Any]] = []
        for ln in lines:
            row = current.get(ln.replay_id)
            if row is None:
                row = [
                    ln.replay_id,
                    ln.cluster_id or "",
                    ln.dlq_topic,
                    ln.partition,
                    ln.offset,
                    ln.target_topic,
                    ln.payload_sha256,
                    "pending",
                    ln.created_ns,
                    ln.replay_count,
                    None,
                    None,
                    None,
                    None,
                    ln.os_user,
                    0,
                ]
            rows.append(_changed(row, now, State="pending", Error=None))
        # An older open line of the same dead letter (its payload was fixed since, or another
        # target was chosen) that reconcile did not find is superseded by this one.
        rows += [_changed(o, now, State="superseded") for o in others if o[0] not in ids]
        self._insert(hs.REPLAYS, LINE, rows)

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

        def detail(a: Ack) -> dict[str, Any]:
            return {
                "replay_id": a.replay_id,
                "replay_count": a.count,
                "to": f"{a.topic}:{a.partition}:{a.offset}",
            }

        self.write_audit(
            AuditEntry(
                now_ns,
                user,
                "replay",
                f"{a.coords[0]}:{a.coords[1]}:{a.coords[2]}",
                result,
                before.get(a.replay_id),
                a.payload_sha256,
                detail(a),
            )
            for a in acks
        )
        keys = list(dict.fromkeys(key(a.cluster_id, *a.coords) for a in acks))
        self._set_status(keys, "replayed", now_ns)
        current = self._current(a.replay_id for a in acks)
        rows = [
            _changed(
                current[a.replay_id],
                now_ns,
                State="acked",
                Acked=now_ns,
                TargetPartition=a.partition,
                TargetOffset=a.offset,
                Error=None,
            )
            for a in acks
            if a.replay_id in current
        ]
        self._insert(hs.REPLAYS, LINE, rows)

    def record_failure(self, replay_id: str, error: str, audit: AuditEntry) -> None:
        self.write_audit([audit])
        current = self._current([replay_id])
        if replay_id in current:
            row = _changed(current[replay_id], time.time_ns(), State="failed", Error=error)
            self._insert(hs.REPLAYS, LINE, [row])

    def take_lock(self, name: str, holder: str, alive: Callable[[str], bool]) -> str | None:
        return self._claims.take(name, holder, alive)

    def release_lock(self, name: str, holder: str) -> None:
        self._claims.release(name, holder)

    def another(self) -> ClickHouseDeadLetters:
        return ClickHouseDeadLetters(self.session)

    def close(self) -> None:
        self._claims.close()
        super().close()


def _changed(line: list[Any], now_ns: int, **changes: Any) -> list[Any]:
    """A ledger line written again: ``changes`` applied, a version above its own."""
    out = list(line)
    for column, value in changes.items():
        out[_I[column]] = value
    out[_I["Version"]] = max(now_ns, int(line[_I["Version"]]) + 1)
    return out
