"""Journeys: recent ones with a status filter (stalled and dead-lettered first), a search box for
a correlation id, trace id or ``topic:partition:offset``; Enter opens the waterfall."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from console.base.errors import HandoffError
from tui_app import ops, render
from tui_app.messages import DrillDown, JourneyLoaded, JourneysLoaded, LoadFailed
from tui_app.widgets import AlertsBadge, VimTable

if TYPE_CHECKING:
    from tui_app.app import HandoffApp

__all__ = ["STATUS_ORDER", "JourneysScreen"]

STATUS_ORDER = ("stalled", "dead_lettered", "failed", "in_flight", "replayed", "completed")
FILTERS = (None, *STATUS_ORDER)
STATUS_STYLE = {
    "stalled": "bold yellow",
    "dead_lettered": "bold red",
    "failed": "red",
    "in_flight": "cyan",
    "replayed": "magenta",
    "completed": "green",
}


def _get(obj: Any, name: str, default: Any = None) -> Any:
    return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)


#: The list's columns (key, title, narrowest width); widths follow the content and the screen.
COLUMNS = (
    ("status", "status", 13),
    ("corr", "correlation", 16),
    ("where", "where", 20),
    ("took", "took", 8),
)


def summary_cells(s: Any) -> tuple[str, tuple[object, ...]]:
    status = str(_get(s, "status", ""))
    corr = str(_get(s, "correlation_id", "") or _get(s, "trace_id", "") or "?")
    where = str(_get(s, "where", "") or _get(s, "detail", "") or "")
    services = _get(s, "services", ()) or ()
    if not isinstance(services, str):
        services = ",".join(services)
    dur = _get(s, "duration_ms", None)
    return corr, (
        Text(status, style=STATUS_STYLE.get(status, "")),
        corr,
        where or services,
        "" if dur is None else f"{dur:.0f} ms",
    )


class JourneysScreen(Screen[None]):
    AUTO_FOCUS = "#journeys"
    BINDINGS = [
        Binding("s", "cycle_status", "Status filter"),
        Binding("slash", "search", "Search"),
        Binding("y", "copy", "Copy id"),
        Binding("r", "refresh", "Refresh"),
    ]

    app: HandoffApp

    def __init__(self) -> None:
        super().__init__()
        self.status: str | None = None
        self.service: str | None = None
        self.topic: str | None = None
        self._drill: DrillDown | None = None
        self._window = ""  # the window the list was last loaded for

    def compose(self) -> ComposeResult:
        yield AlertsBadge()
        yield Static("Journeys", id="journeys-status")
        yield Input(
            placeholder="/ correlation id, trace id, topic:partition:offset or business key",
            id="journey-search",
        )
        yield Static("", id="journeys-empty")
        yield VimTable(id="journeys")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#journeys", VimTable).fit(COLUMNS, [], self.app.size.width)
        self.query_one("#journeys-empty").display = False
        if self.app.drill is None:
            self.action_refresh()

    def on_screen_resume(self) -> None:
        if self.app.drill is not None and self.app.drill is not self._drill:
            self.apply_drill(self.app.drill)
        elif self._window != self.app.window_label:  # w pressed on another screen
            self.action_refresh()

    def apply_drill(self, msg: DrillDown) -> None:
        self._drill = msg
        self.service = msg.value if msg.kind == "service" else None
        self.topic = msg.value if msg.kind == "topic" else None
        if msg.status is not None:  # from an alert: its stalled journeys
            self.status = msg.status
        self.action_refresh()

    def _status_line(self, count: int | None = None, note: str = "") -> None:
        parts = ["Journeys"]
        parts.append(f"status: {self.status or 'all'}")
        parts.append(f"window {self.app.window_label}")
        if self.service:
            parts.append(f"service: {self.service}")
        if self.topic:
            parts.append(f"topic: {self.topic}")
        if count is not None:
            parts.append(f"{count} shown")
        if note:
            parts.append(note)
        self.query_one("#journeys-status", Static).update(" · ".join(parts))

    def action_refresh(self) -> None:
        self._window = self.app.window_label
        self._status_line(note="loading…")
        self.load(self.status, self.service, self.topic)

    def action_cycle_status(self) -> None:
        self.status = FILTERS[(FILTERS.index(self.status) + 1) % len(FILTERS)]
        self.action_refresh()

    def action_search(self) -> None:
        self.query_one("#journey-search", Input).focus()

    def action_copy(self) -> None:
        key = self.query_one("#journeys", VimTable).selected_key()
        if key:
            self.app.copy_to_clipboard(key)
            self.notify(f"copied {key}")

    @work(thread=True, exclusive=True, group="journeys")
    def load(self, status: str | None, service: str | None, topic: str | None) -> None:
        source = self.app.source
        held = ""
        try:
            rows = ops.recent_journeys(source, status=status, service=service, topic=topic)
            if not rows and topic is None and source.window_s is not None:
                extent = source.extent()  # the window is empty: say what the store holds
                if extent.spans or extent.hops:
                    holds = f"{extent.spans:,} spans and {extent.hops:,} hops"
                    held = render.held(self.app.window_label, holds, extent.last_ns, "No journeys")
        except HandoffError as exc:  # a one-line error meant for the user
            self.post_message(LoadFailed("journeys", str(exc)))
            return
        except Exception as exc:
            self.post_message(LoadFailed("journeys", f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(JourneysLoaded(list(rows), "", held))

    def on_journeys_loaded(self, msg: JourneysLoaded) -> None:
        rank = {s: i for i, s in enumerate(STATUS_ORDER)}
        rows = sorted(msg.rows, key=lambda s: rank.get(str(_get(s, "status", "")), 99))
        self.query_one("#journeys", VimTable).fit(
            COLUMNS, [summary_cells(s) for s in rows], self.app.size.width
        )
        empty = self.query_one("#journeys-empty", Static)
        empty.update(msg.held)
        empty.display = bool(msg.held)
        if rows or msg.held:
            self._status_line(len(rows))
        else:
            self._status_line(0, "none yet: journeys appear as correlated spans and hops arrive")

    @on(Input.Submitted, "#journey-search")
    def _search(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.open(event.value.strip())

    @on(DataTable.RowSelected, "#journeys")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.open(str(event.row_key.value))

    def open(self, text: str) -> None:
        self._status_line(note=f"looking up {text}…")
        self.lookup(text)

    @work(thread=True, exclusive=True, group="journey")
    def lookup(self, text: str) -> None:
        try:
            journey = ops.find_journey(self.app.source, text)
        except Exception as exc:
            self.post_message(JourneyLoaded(None, text, f"{type(exc).__name__}: {exc}"))
            return
        if isinstance(journey, list):  # a business key naming several journeys: list them
            self.post_message(JourneysLoaded(journey, text))
            return
        self.post_message(JourneyLoaded(journey, text))

    def on_journey_loaded(self, msg: JourneyLoaded) -> None:
        if msg.journey is None:
            note = msg.error or f"no journey for {msg.query}"
            self._status_line(note=note)
            self.notify(note, severity="warning")
            return
        self._status_line()
        from tui_app.screens.waterfall import WaterfallScreen

        kind, value = ops.query_kind(msg.query)
        focus = value if kind == "trace_id" else None
        self.app.push_screen(WaterfallScreen(msg.journey, focus_trace=focus))

    def on_load_failed(self, msg: LoadFailed) -> None:
        self._status_line(note=msg.error)
        msg.stop()
        self.notify(msg.error, severity="error")

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        return [
            (
                "Journeys: cycle status filter",
                "all → stalled → dead-lettered → …",
                self.action_cycle_status,
            ),
            (
                "Journeys: search",
                "correlation id, trace id or topic:partition:offset",
                self.action_search,
            ),
            ("Journeys: refresh", "Reload the recent journeys", self.action_refresh),
        ]
