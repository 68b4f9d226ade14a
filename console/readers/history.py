"""What the alert rules need besides the panels: a series' samples over a window, and when each
service was last seen. Reads through the store's interface, like ``console/readers/panels.py``."""

from __future__ import annotations

from console.store.api import AlertReads

__all__ = ["series_history", "services_last_seen"]


def series_history(
    store: AlertReads, name: str, since_ns: int, now_ns: int
) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """The samples of series ``name`` in ``[since_ns, now_ns]`` per ``(subject, detail)``, oldest
    first (time in ns, the value in the series' own unit)."""
    return store.series_points(name, since_ns, now_ns)


def services_last_seen(store: AlertReads) -> dict[str, int]:
    """Every service that sent a span, and when its newest span ended (epoch ns)."""
    return store.services_last_span()
