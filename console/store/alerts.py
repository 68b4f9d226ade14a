"""Alert state in the store: what ``console/alerts/`` evaluates is kept here, so every process
(``watch``, the TUI) and a restarted one agree on what already fired.

``alert_state`` holds one row per alert (rule and labels): its current episode, ``pending``
(the condition holds, its ``for:`` has not passed), ``firing`` or ``resolved``. ``alert_events``
keeps each firing and resolution with its time. ``labels`` is the alert's labels as sorted JSON
(its identity); ``doc`` is a JSON object of what the evaluator wants kept (annotations, the
command that shows the thing, severity).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "AlertRow",
    "alert_events",
    "alert_events_after",
    "alert_states",
    "append_alert_event",
    "last_alert_event",
    "put_alert_states",
]


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One alert's episode (``alert_state``) or one change (``alert_events``: ``time_ns``)."""

    rule: str
    labels: str  # sorted JSON: the alert's identity
    state: str  # pending, firing, resolved
    active_since_ns: int
    fired_ns: int | None
    resolved_ns: int | None
    value: float | None
    summary: str
    doc: str  # JSON object
    time_ns: int | None = None
    event_id: int | None = None  # an ``alert_events`` row's id (its order of writing)


_COLUMNS = "rule, labels, state, active_since_ns, fired_ns, resolved_ns, value, summary, doc"


def alert_states(conn: sqlite3.Connection) -> list[AlertRow]:
    """Every alert the store knows, pending, firing or resolved."""
    cur = conn.execute(f"SELECT {_COLUMNS} FROM alert_state ORDER BY rule, labels")
    return [AlertRow(*tuple(r)) for r in cur.fetchall()]


def put_alert_states(
    conn: sqlite3.Connection, rows: Iterable[AlertRow], gone: Iterable[tuple[str, str]] = ()
) -> None:
    """Write ``rows`` (replacing each alert's row) and delete the ``(rule, labels)`` in ``gone``;
    the caller holds the transaction."""
    conn.executemany(
        f"INSERT OR REPLACE INTO alert_state ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                r.rule,
                r.labels,
                r.state,
                r.active_since_ns,
                r.fired_ns,
                r.resolved_ns,
                r.value,
                r.summary,
                r.doc,
            )
            for r in rows
        ],
    )
    conn.executemany("DELETE FROM alert_state WHERE rule = ? AND labels = ?", list(gone))


def append_alert_event(conn: sqlite3.Connection, row: AlertRow, time_ns: int) -> None:
    """Record that ``row`` changed to its state at ``time_ns`` (firing or resolved)."""
    conn.execute(
        "INSERT INTO alert_events (time_ns, rule, labels, state, value, summary, doc)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (time_ns, row.rule, row.labels, row.state, row.value, row.summary, row.doc),
    )


_EVENT_COLUMNS = "id, time_ns, rule, labels, state, value, summary, doc"


def _events(cur: sqlite3.Cursor) -> list[AlertRow]:
    return [
        AlertRow(rule, labels, state, t, None, None, value, summary, doc, time_ns=t, event_id=i)
        for i, t, rule, labels, state, value, summary, doc in cur.fetchall()
    ]


def alert_events(conn: sqlite3.Connection, since_ns: int, limit: int = 200) -> list[AlertRow]:
    """Firings and resolutions since ``since_ns``, newest first."""
    return _events(
        conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM alert_events"
            " WHERE time_ns >= ? ORDER BY time_ns DESC, id DESC LIMIT ?",
            (since_ns, limit),
        )
    )


def alert_events_after(conn: sqlite3.Connection, after_id: int) -> list[AlertRow]:
    """Every firing and resolution written after event ``after_id`` (by any process), oldest
    first: what a follower (``watch``) has not reported yet."""
    return _events(
        conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM alert_events WHERE id > ? ORDER BY id", (after_id,)
        )
    )


def last_alert_event(conn: sqlite3.Connection) -> int:
    """The id of the newest event (0: none yet): where a follower starts."""
    row = conn.execute("SELECT max(id) FROM alert_events").fetchone()
    return int(row[0] or 0)
