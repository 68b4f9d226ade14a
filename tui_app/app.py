"""The Textual application: four modes (overview, journeys, dead letters, live tail), help,
the command palette, and the routing of messages between screens."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from tui_app.messages import DrillDown, LoadFailed
from tui_app.screens.help import HelpScreen
from tui_app.screens.overview import OverviewScreen
from tui_app.screens.tail import TailScreen
from tui_app.source import DataSource

__all__ = ["HandoffApp"]

MODE_TITLES = {
    "overview": "Overview: services, topics, health",
    "journeys": "Journeys: find one, open its waterfall",
    "dlq": "Dead letters: inspect, fix, replay",
    "tail": "Live tail: spans and hops as they arrive",
}


def _journeys_screen() -> Screen[None]:
    from tui_app.screens.journeys import JourneysScreen

    return JourneysScreen()


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
    }
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("1", "mode('overview')", "Overview", show=False),
        Binding("2", "mode('journeys')", "Journeys"),
        Binding("3", "mode('dlq')", "DLQ"),
        Binding("4", "mode('tail')", "Tail"),
        Binding("slash", "search", "Search", show=False),
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(self, source: DataSource, *, attach: bool = False, refresh_s: float = 1.0) -> None:
        super().__init__()
        self.source = source
        self.attach = attach
        self.refresh_s = refresh_s
        self.drill: DrillDown | None = None

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
