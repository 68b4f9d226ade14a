"""The Textual application: five modes (overview, journeys, dead letters, live tail, metrics), help,
the command palette, and the routing of messages between screens."""

from __future__ import annotations

from collections.abc import Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from tui_app.messages import DrillDown, LoadFailed
from tui_app.screens.help import HelpScreen
from tui_app.screens.overview import OverviewScreen
from tui_app.screens.tail import TailScreen
from tui_app.source import DataSource

__all__ = ["HandoffApp"]

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
}


def _journeys_screen() -> Screen[None]:
    from tui_app.screens.journeys import JourneysScreen

    return JourneysScreen()


def _metrics_screen() -> Screen[None]:
    from tui_app.screens.metrics import MetricsScreen

    return MetricsScreen()


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
    }
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("1", "mode('overview')", "Overview", show=False),
        Binding("2", "mode('journeys')", "Journeys"),
        Binding("3", "mode('dlq')", "DLQ"),
        Binding("4", "mode('tail')", "Tail"),
        Binding("5", "mode('metrics')", "Metrics"),
        Binding("slash", "search", "Search", show=False),
        Binding("escape", "back", "Back", show=False),
        Binding("w", "cycle_window", "Window"),
    ]

    def __init__(self, source: DataSource, *, attach: bool = False, refresh_s: float = 1.0) -> None:
        super().__init__()
        self.source = source
        self.attach = attach
        self.refresh_s = refresh_s
        self.drill: DrillDown | None = None
        self.dlq_focus: str | None = None  # the dead letter the DLQ screen selects next

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
