"""Alerts (key 6): what fires now and what fired or resolved lately; Enter opens what an alert is
about (the DLQ topic's dead letters, the stalled journeys, the group's lag, the service's panel).

The app evaluates the rules in a worker (``HandoffApp.evaluate_alerts``) and keeps the latest
``AlertsView``; this screen renders it whenever it changes and never reads the store itself.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from console.alerts import Alert
from tui_app.linetable import LineTable
from tui_app.render import fit_widths, middle
from tui_app.widgets import AlertsBadge

if TYPE_CHECKING:
    from tui_app.app import HandoffApp
    from tui_app.source import AlertsView

__all__ = ["AlertsScreen", "alert_cells", "alert_key"]

_STATE_STYLE = {"firing": "bold red", "pending": "yellow", "resolved": "green"}

EMPTY = """\
[b]No alert fires, and none fired in the last 24 hours.[/b]

The rules (handoff-console's defaults, or the file given with --rules) are evaluated every few
seconds over this store: dead letters waiting, journeys stalled, consumer lag, error rates,
quiet services, the console's own ingest. `handoff-console watch` runs the same rules headless
and can post them to Alertmanager."""


def alert_key(a: Alert) -> str:
    """The row key: the alert's identity and, for a change, when it happened."""
    return f"{a.name}|{a.key[1]}|{a.time_ns or ''}"


def _clock(ns: int | None) -> str:
    return "-" if ns is None else time.strftime("%H:%M:%S", time.gmtime(ns / 1e9))


def _about(a: Alert) -> str:
    return ", ".join(f"{k} {v}" for k, v in a.about.items()) or "-"


def alert_cells(a: Alert, when_ns: int | None, about_w: int) -> tuple[object, ...]:
    return (
        Text(a.state, style=_STATE_STYLE.get(a.state, "")),
        _clock(when_ns),
        a.name,
        a.labels.get("severity", "-"),
        middle(_about(a), about_w),
        a.summary,
    )


class AlertsScreen(Screen[None]):
    AUTO_FOCUS = "#alerts-firing"
    BINDINGS = [
        Binding("enter", "open", "Open", show=True),
        Binding("r", "refresh", "Evaluate now"),
    ]

    app: HandoffApp

    def __init__(self) -> None:
        super().__init__()
        self._alerts: dict[str, Alert] = {}

    def compose(self) -> ComposeResult:
        yield AlertsBadge()
        yield Static("Alerts · evaluating…", id="alerts-status")
        yield Static(EMPTY, id="alerts-empty")
        yield Static("Firing and pending", classes="section", id="alerts-firing-title")
        yield LineTable(id="alerts-firing")
        yield Static("Fired and resolved (last 24 h)", classes="section", id="alerts-recent-title")
        yield LineTable(id="alerts-recent")
        yield Footer()

    def on_mount(self) -> None:
        for table_id in ("#alerts-firing", "#alerts-recent"):
            table = self.query_one(table_id, LineTable)
            for key, title, width in (
                ("state", "state", 8),
                ("time", "since UTC" if table_id == "#alerts-firing" else "at UTC", 9),
                ("alert", "alert", 20),
                ("severity", "severity", 8),
                ("about", "about", 24),
                ("summary", "summary", 40),
            ):
                table.add_column(title, width=width, key=key)
        self.watch(self.app, "alerts_view", self._show, init=True)

    def action_refresh(self) -> None:
        self.app.evaluate_alerts()

    def _show(self, view: AlertsView | None) -> None:
        if view is None:
            return
        now_firing = [*view.firing, *view.pending]
        shown = [*now_firing, *view.recent]
        self._alerts = {alert_key(a): a for a in shown}
        # Names and what they are about as wide as they are; the summary takes what is left and
        # the "about" column gives way first (shortened in the middle).
        name_w = max([5, *(len(a.name) for a in shown)])
        about_w, summary_w = fit_widths(
            [
                max([5, *(len(_about(a)) for a in shown)]),
                max([7, *(len(a.summary) for a in shown)]),
            ],
            [16, 30],
            self.app.size.width - name_w - 8 - 9 - 8 - 12,
            order=[1, 0],
        )
        firing = self.query_one("#alerts-firing", LineTable)
        recent = self.query_one("#alerts-recent", LineTable)
        for table in (firing, recent):
            table.set_column_width("alert", name_w)
            table.set_column_width("about", about_w)
            table.set_column_width("summary", summary_w)
        firing.replace_rows(
            [
                (alert_key(a), alert_cells(a, a.fired_ns or a.active_since_ns, about_w))
                for a in now_firing
            ]
        )
        recent.replace_rows(
            [(alert_key(a), alert_cells(a, a.time_ns, about_w)) for a in view.recent]
        )
        empty = not now_firing and not view.recent
        self.query_one("#alerts-empty").display = empty
        for wid in ("#alerts-firing", "#alerts-recent", "#alerts-firing-title"):
            self.query_one(wid).display = not empty
        self.query_one("#alerts-recent-title").display = not empty
        self.query_one("#alerts-status", Static).update(
            f"Alerts · {len(view.firing)} firing · {len(view.pending)} pending · "
            f"{len(view.recent)} changes in 24 h · {len(self.app.source.evaluator.rules)} rules"
        )

    @on(LineTable.RowSelected)
    def _selected(self, event: LineTable.RowSelected) -> None:
        alert = self._alerts.get(event.key)
        if alert is not None:
            self.app.open_alert(alert)

    def action_open(self) -> None:
        table = self.focused if isinstance(self.focused, LineTable) else None
        key = table.selected_key() if table else None
        alert = self._alerts.get(key) if key is not None else None
        if alert is not None:
            self.app.open_alert(alert)
