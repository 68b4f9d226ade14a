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
from collections.abc import Callable, Iterable

from console.store.api import AlertChanges, AlertRow, Cursor
from console.store.sqlite.tx import transaction

__all__ = [
    "AlertReadsSql",
    "alert_events",
    "alert_events_after",
    "alert_states",
    "append_alert_event",
    "change_alerts",
    "last_alert_event",
    "put_alert_states",
]


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
        AlertRow(
            rule, labels, state, t, None, None, value, summary, doc, time_ns=t, event_id=Cursor(i)
        )
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


def alert_events_after(conn: sqlite3.Connection, after_id: Cursor) -> list[AlertRow]:
    """Every firing and resolution written after event ``after_id`` (by any process), oldest
    first: what a follower (``watch``) has not reported yet."""
    return _events(
        conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM alert_events WHERE id > ? ORDER BY id", (after_id,)
        )
    )


def last_alert_event(conn: sqlite3.Connection) -> Cursor:
    """The id of the newest event (0: none yet): where a follower starts."""
    row = conn.execute("SELECT max(id) FROM alert_events").fetchone()
    return Cursor(int(row[0] or 0))


def change_alerts(
    conn: sqlite3.Connection, decide: Callable[[list[AlertRow]], AlertChanges]
) -> AlertChanges:
    """One write transaction: read every alert's state, let ``decide`` say what changes, write
    the new states, drop the gone ones and append the events, all or nothing."""
    with transaction(conn):
        changes = decide(alert_states(conn))
        put_alert_states(conn, changes.states, changes.gone)
        for row, time_ns in changes.events:
            append_alert_event(conn, row, time_ns)
    return changes


class AlertReadsSql:
    """``AlertReads`` (``console/store/api.py``) over ``self.conn``: the part of ``SqliteReader``
    the alert rules use."""

    conn: sqlite3.Connection

    def series_points(
        self, name: str, since_ns: int, until_ns: int
    ) -> dict[tuple[str, str], list[tuple[int, float]]]:
        out: dict[tuple[str, str], list[tuple[int, float]]] = {}
        for subject, detail, t, value in self.conn.execute(
            "SELECT subject, detail, time_ns, value FROM series"
            " WHERE name = ? AND time_ns >= ? AND time_ns <= ? ORDER BY time_ns",
            (name, since_ns, until_ns),
        ):
            out.setdefault((subject, detail), []).append((t, value))
        return out

    def services_last_span(self) -> dict[str, int]:
        return {name: t for name, t in self.conn.execute("SELECT name, last_seen_ns FROM services")}

    def alert_states(self) -> list[AlertRow]:
        return alert_states(self.conn)

    def alert_events(self, since_ns: int, limit: int = 200) -> list[AlertRow]:
        return alert_events(self.conn, since_ns, limit)

    def alert_events_after(self, after: Cursor) -> list[AlertRow]:
        return alert_events_after(self.conn, after)

    def last_alert_event(self) -> Cursor:
        return last_alert_event(self.conn)
