"""Alert state on a ClickHouse store: ``Storage.change_alerts`` and the reads of it.

ClickHouse has no transaction, so one evaluation is made all-or-nothing the way the engine
allows: every row it writes (each alert's new state, a tombstone for each alert gone, each
firing or resolution) goes into one table, ``handoff_alerts``, in **one INSERT** of one block.
That table has no partition key, so the block becomes one part, and a part appears to readers
whole or not at all. States are versioned by ``Evaluation`` (``ReplacingMergeTree(Evaluation,
Deleted)``): a reader reading with ``FINAL`` sees, per alert, the row of the newest evaluation
that reached the table, and no row for an alert whose newest row is a tombstone. Events
(``Kind = 'event'``) each have their own ``EventId`` (the sort key keeps them apart, never
replaced); the id grows across processes (the newest id in the table, or the clock, plus one),
and is the followers' cursor.

What this does not give: isolation between two evaluators running at once (each reads the
states, both write; the newer evaluation's states win, and both may append an event). The
runtime runs one evaluator per store (``serve``); a second one is the operator's choice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from console.store.api import AlertChanges, AlertRow, Cursor
from console.store.clickhouse.connect import engine_error
from console.store.clickhouse.handoff_schema import ALERTS
from console.store.clickhouse.session import Session

__all__ = [
    "alert_events",
    "alert_events_after",
    "alert_states",
    "change_alerts",
    "last_alert_event",
]

_COLUMNS = (
    "Kind",
    "Rule",
    "Labels",
    "EventId",
    "State",
    "ActiveSince",
    "Fired",
    "Resolved",
    "Value",
    "Summary",
    "Doc",
    "Time",
    "Evaluation",
    "Deleted",
)

_STATE_SELECT = (
    "SELECT Rule, Labels, State, toUnixTimestamp64Nano(ActiveSince),"
    " toUnixTimestamp64Nano(Fired), toUnixTimestamp64Nano(Resolved), Value, Summary, Doc"
)
_EVENT_SELECT = (
    "SELECT EventId, toUnixTimestamp64Nano(Time), Rule, Labels, State, Value, Summary, Doc"
)


def _query(storage: Session, sql: str, params: dict[str, Any] | None = None) -> Any:
    return storage.rows(sql, params)


def alert_states(storage: Session) -> list[AlertRow]:
    """Every alert the store knows (the newest evaluation's row of each), by rule and labels."""
    rows = _query(
        storage,
        f"{_STATE_SELECT} FROM {storage.table(ALERTS)} FINAL"
        " WHERE Kind = 'state' ORDER BY Rule, Labels",
    )
    return [
        AlertRow(str(r), str(lb), str(s), int(a), _ns(f), _ns(rs), v, str(sm), str(d))
        for r, lb, s, a, f, rs, v, sm, d in rows
    ]


def _ns(value: Any) -> int | None:
    return None if value is None else int(value)


def _events(rows: Sequence[Sequence[Any]]) -> list[AlertRow]:
    return [
        AlertRow(
            str(rule),
            str(labels),
            str(state),
            int(t),
            None,
            None,
            value,
            str(summary),
            str(doc),
            time_ns=int(t),
            event_id=Cursor(int(i)),
        )
        for i, t, rule, labels, state, value, summary, doc in rows
    ]


def alert_events(storage: Session, since_ns: int, limit: int = 200) -> list[AlertRow]:
    """Firings and resolutions since ``since_ns``, newest first."""
    return _events(
        _query(
            storage,
            f"{_EVENT_SELECT} FROM {storage.table(ALERTS)}"
            " WHERE Kind = 'event' AND Time >= fromUnixTimestamp64Nano({since:Int64})"
            " ORDER BY Time DESC, EventId DESC LIMIT {limit:UInt32}",
            {"since": since_ns, "limit": limit},
        )
    )


def alert_events_after(storage: Session, after: Cursor) -> list[AlertRow]:
    """Every firing and resolution written after event ``after``, oldest first."""
    return _events(
        _query(
            storage,
            f"{_EVENT_SELECT} FROM {storage.table(ALERTS)}"
            " WHERE Kind = 'event' AND EventId > {after:UInt64} ORDER BY EventId",
            {"after": int(after)},
        )
    )


def last_alert_event(storage: Session) -> Cursor:
    """The newest event's id (0: none yet): where a follower starts."""
    rows = _query(storage, f"SELECT max(EventId) FROM {storage.table(ALERTS)} WHERE Kind = 'event'")
    return Cursor(int(rows[0][0] or 0))


def change_alerts(
    storage: Session, decide: Callable[[list[AlertRow]], AlertChanges]
) -> AlertChanges:
    """Read every alert's state, let ``decide`` say what changes, and write the new states,
    the tombstones of the gone ones and the events in one INSERT (see the module docstring)."""
    changes = decide(alert_states(storage))
    now = time.time_ns()
    # One number orders both: the evaluation's version, and the base of its events' ids.
    evaluation = max(now, int(last_alert_event(storage)) + 1)
    rows: list[list[Any]] = []
    for s in changes.states:
        rows.append(_row("state", s, 0, now, evaluation, deleted=0))
    for rule, labels in changes.gone:
        gone = AlertRow(rule, labels, "", 0, None, None, None, "", "{}")
        rows.append(_row("state", gone, 0, now, evaluation, deleted=1))
    for i, (event, time_ns) in enumerate(changes.events):
        rows.append(_row("event", event, evaluation + i, time_ns, evaluation, deleted=0))
    if rows:
        client = storage.new_client()
        try:
            client.insert(
                storage.table(ALERTS),
                rows,
                column_names=list(_COLUMNS),
                settings={"async_insert": 0},
            )
        except Exception as exc:
            raise engine_error(storage.target, exc) from exc
        finally:
            client.close()
    return changes


def _row(
    kind: str, r: AlertRow, event_id: int, time_ns: int, evaluation: int, *, deleted: int
) -> list[Any]:
    return [
        kind,
        r.rule,
        r.labels,
        event_id,
        r.state,
        r.active_since_ns,
        r.fired_ns,
        r.resolved_ns,
        r.value,
        r.summary,
        r.doc,
        time_ns,
        evaluation,
        deleted,
    ]
