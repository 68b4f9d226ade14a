"""What the alert rules need besides the panels: a series' samples over a window, and when each
service was last seen. Pure queries over the store, like ``console/readers/panels.py``."""

from __future__ import annotations

import sqlite3

__all__ = ["series_history", "services_last_seen"]


def series_history(
    conn: sqlite3.Connection, name: str, since_ns: int, now_ns: int
) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """The samples of series ``name`` in ``[since_ns, now_ns]`` per ``(subject, detail)``, oldest
    first (time in ns, the value in the series' own unit)."""
    out: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for subject, detail, t, value in conn.execute(
        "SELECT subject, detail, time_ns, value FROM series"
        " WHERE name = ? AND time_ns >= ? AND time_ns <= ? ORDER BY time_ns",
        (name, since_ns, now_ns),
    ):
        out.setdefault((subject, detail), []).append((t, value))
    return out


def services_last_seen(conn: sqlite3.Connection) -> dict[str, int]:
    """Every service that sent a span, and when its newest span ended (epoch ns)."""
    return {name: t for name, t in conn.execute("SELECT name, last_seen_ns FROM services")}
