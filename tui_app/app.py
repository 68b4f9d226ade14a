"""The Textual application: six modes (overview, journeys, dead letters, live tail, metrics,
alerts), help, the command palette, the routing of messages between screens, and the alert rules
evaluated in a worker every ``ALERTS_EVERY_S`` (the header's count, one notification per firing)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen

from console.alerts import Alert
from tui_app.messages import AlertsLoaded, DrillDown, LoadFailed
from tui_app.screens.help import HelpScreen
from tui_app.screens.overview import OverviewScreen
from tui_app.screens.tail import TailScreen
from tui_app.source import AlertsView, DataSource

__all__ = ["ALERTS_EVERY_S", "HandoffApp"]

#: How often the TUI evaluates the alert rules (at least; never faster than its refresh). A
#: store where one evaluation takes longer than a tenth of that is evaluated less often: every
#: ten evaluation times (bench/alerts_eval.py: 1.4 s at 1,000,000 spans and hops -> every 14 s).
ALERTS_EVERY_S = 5.0

#: The time windows ``w`` cycles through, shared by every screen (None: all the store holds).
WINDOWS: tuple[tuple[str, float | None], ...] = (
    ("5m", 300.0),
    ("15m", 900.0),
    ("1h", 3600.0),
    ("6h", 21600.0),
    ("24h", 86400.0),
    ("all", None),
)

MODE_TITLES = {
    "overview": "Overview: services, topics, health",
    "journeys": "Journeys: find one, open its waterfall",
    "dlq": "Dead letters: inspect, fix, replay",
    "tail": "Live tail: spans, hops and log records as they arrive",
    "metrics": "Metrics: each service's metrics, sparklines and percentiles",
    "alerts": "Alerts: what fires now, what fired and resolved lately",
}


def _journeys_screen() -> Screen[None]:
    from tui_app.screens.journeys import JourneysScreen

    return JourneysScreen()


def _metrics_screen() -> Screen[None]:
    from tui_app.screens.metrics import MetricsScreen

    return MetricsScreen()


def _alerts_screen() -> Screen[None]:
    from tui_app.screens.alerts import AlertsScreen

    return AlertsScreen()


def _dlq_screen() -> Screen[None]:
    from tui_app.screens.dlq import DlqScreen

    return DlqScreen()


class HandoffApp(App[None]):
    """handoff-console's TUI. Build it with ``tui.make_app``."""

    CSS_PATH = "handoff.tcss"
    TITLE = "handoff-console"
    MODES = {
        "overview": OverviewScreen,
        "journeys": _journeys_screen,
        "dlq": _dlq_screen,
        "tail": TailScreen,
        "metrics": _metrics_screen,
        "alerts": _alerts_screen,
    }
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("1", "mode('overview')", "Overview", show=False),
        Binding("2", "mode('journeys')", "Journeys"),
        Binding("3", "mode('dlq')", "DLQ"),
        Binding("4", "mode('tail')", "Tail"),
        Binding("5", "mode('metrics')", "Metrics"),
        Binding("6", "mode('alerts')", "Alerts"),
        Binding("slash", "search", "Search", show=False),
        Binding("escape", "back", "Back", show=False),
        Binding("w", "cycle_window", "Window"),
    ]

    alerts_firing: reactive[int] = reactive(0)  # the header's count (AlertsBadge)
    alerts_view: reactive[AlertsView | None] = reactive(None, always_update=True)

    def __init__(self, source: DataSource, *, attach: bool = False, refresh_s: float = 1.0) -> None:
        super().__init__()
        self.source = source
        self.attach = attach
        self.refresh_s = refresh_s
        self.drill: DrillDown | None = None
        self.dlq_focus: str | None = None  # the dead letter the DLQ screen selects next
        self.dlq_filter: str | None = None  # the DLQ topic the DLQ screen filters on next
        self.overview_focus: tuple[str, str] | None = None  # ("services"|"topics", key)
        self._started_ns = source.clock()
        self._notified: set[tuple[str, str, int | None]] = set()
        self._alerts_error = ""
        self._alerts_next = 0.0  # time.monotonic() before which the clock does not evaluate

    @property
    def window_label(self) -> str:
        w = self.source.window_s
        return "all" if w is None else next((n for n, s in WINDOWS if s == w), f"{w:.0f}s")

    def action_cycle_window(self) -> None:
        """``w``: the next time window (5m, 15m, 1h, 6h, 24h, all) for every screen."""
        current = self.source.window_s
        seconds = [s for _, s in WINDOWS]
        i = seconds.index(current) if current in seconds else 0
        self.source.set_window(seconds[(i + 1) % len(seconds)])
        self.notify(f"window: {self.window_label}")
        for screen in self.screen_stack:
            if hasattr(screen, "action_refresh"):
                screen.action_refresh()

    def open_dead_letter(self, coords: str) -> None:
        """Show the dead letter at ``coords`` in the DLQ screen (from a journey's ``d``)."""
        self.dlq_focus = coords
        while len(self.screen_stack) > 1:
            self.pop_screen()
        if self.current_mode == "dlq":
            self.screen.on_screen_resume()  # type: ignore[attr-defined]  # the DLQ screen's hook
        else:
            self.switch_mode("dlq")

    @work(thread=True, exclusive=True, group="open-journey")
    def open_journey(self, query: str) -> None:
        """Open the journey ``query`` names (a correlation id, trace id, coordinates or key)."""
        from tui_app import ops

        try:
            found = ops.find_journey(self.source, query)
        except Exception as exc:
            self.post_message(LoadFailed("journey", f"{type(exc).__name__}: {exc}"))
            return
        self.call_from_thread(self._show_journey, found, query)

    def _show_journey(self, found: object, query: str) -> None:
        if found is None or isinstance(found, list):
            self.notify(f"no journey for {query}", severity="warning")
            return
        from tui_app.screens.waterfall import WaterfallScreen

        self.push_screen(WaterfallScreen(found))

    def on_mount(self) -> None:
        self.switch_mode("overview")
        self.evaluate_alerts()
        self.set_interval(max(self.refresh_s, ALERTS_EVERY_S), self._alerts_tick)

    def _alerts_tick(self) -> None:
        if time.monotonic() >= self._alerts_next:
            self.evaluate_alerts()

    # alerts --------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="alerts")
    def evaluate_alerts(self) -> None:
        """Evaluate the rules (their state kept in the store) and post what they say."""
        try:
            view = self.source.alerts()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if error != self._alerts_error:  # say it once, not every few seconds
                self._alerts_error = error
                self.post_message(LoadFailed("alerts", error))
            return
        self._alerts_error = ""
        every = max(self.refresh_s, ALERTS_EVERY_S, 10 * view.took_ms / 1000)
        self._alerts_next = time.monotonic() + every - 0.5  # the tick may come a little early
        self.post_message(AlertsLoaded(view))

    def on_alerts_loaded(self, msg: AlertsLoaded) -> None:
        view: AlertsView = msg.view
        self.alerts_firing = len(view.firing)
        for a in view.firing:
            mark = (a.name, a.key[1], a.fired_ns)
            if mark in self._notified:
                continue
            self._notified.add(mark)
            if (a.fired_ns or 0) >= self._started_ns:  # fired before we started: the header says
                self.notify(
                    f"{a.summary} · 6 shows alerts",
                    title=f"alert firing: {a.name}",
                    severity="error"
                    if a.labels.get("severity") in ("critical", "page")
                    else "warning",
                    timeout=10,
                )
        self.alerts_view = view

    def open_alert(self, alert: Alert) -> None:
        """Show what ``alert`` is about: the DLQ topic's dead letters, the stalled journeys, the
        group's lag on the overview, or the service's panel there."""
        about = alert.about
        while len(self.screen_stack) > 1:
            self.pop_screen()
        if "dlq_topic" in about:
            self.dlq_filter = about["dlq_topic"]
            self._to_mode("dlq")
        elif alert.kind == "journeys_stalled":
            kind, value = ("topic", about["topic"]) if "topic" in about else ("all", "")
            self.on_drill_down(DrillDown(kind, value, status="stalled"))
        elif "topic" in about:
            self.overview_focus = ("topics", about["topic"])
            self._to_mode("overview")
        elif "service" in about:
            self.overview_focus = ("services", about["service"])
            self._to_mode("overview")
        else:
            self._to_mode("overview")  # the console's own ingest: the health line

    def _to_mode(self, mode: str) -> None:
        if self.current_mode == mode:
            self.screen.on_screen_resume()  # type: ignore[attr-defined]  # every mode screen has it
        else:
            self.switch_mode(mode)

    def on_unmount(self) -> None:
        self.source.close()

    # actions -------------------------------------------------------------------------------
    def action_mode(self, mode: str) -> None:
        if self.current_mode != mode:
            self.switch_mode(mode)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_back(self) -> None:  # type: ignore[override]  # Textual runs sync actions too
        if len(self.screen_stack) > 1:
            self.pop_screen()
        elif self.current_mode != "overview":
            self.switch_mode("overview")

    def action_search(self) -> None:
        screen = self.screen
        if hasattr(screen, "action_search"):
            screen.action_search()
            return
        self.switch_mode("journeys")
        self.call_after_refresh(lambda: getattr(self.screen, "action_search", lambda: None)())

    # messages ------------------------------------------------------------------------------
    def on_drill_down(self, msg: DrillDown) -> None:
        self.drill = msg
        if self.current_mode == "journeys" and hasattr(self.screen, "apply_drill"):
            self.screen.apply_drill(msg)
        else:
            self.switch_mode("journeys")  # the screen applies app.drill when it resumes

    def on_load_failed(self, msg: LoadFailed) -> None:
        self.notify(f"{msg.what}: {msg.error}", severity="error", timeout=6)

    # command palette -----------------------------------------------------------------------
    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        for mode, title in MODE_TITLES.items():
            yield SystemCommand(title, f"Switch to {mode}", lambda m=mode: self.action_mode(m))
        yield SystemCommand("Help", "Every key binding", self.action_help)
        yield SystemCommand("Search", "Search or filter on this screen", self.action_search)
        yield SystemCommand("Back", "Leave this view", self.action_back)
        for title, help_text, callback in getattr(screen, "palette_commands", lambda: [])():
            yield SystemCommand(title, help_text, callback)
        yield SystemCommand("Quit", "Leave handoff-console", self.exit)
        yield from super().get_system_commands(screen)
