"""The `?` help screen: every binding, and where the data comes from."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HELP_TEXT", "HelpScreen"]

HELP_TEXT = """\
[b]handoff-console[/b] · find where a handoff broke, and repair it

[b]Everywhere[/b]
  1 2 3 4 5 6 overview · journeys · dead letters · live tail · metrics · alerts
  ctrl+p      command palette (every action)
  /           search or filter on this screen
  j/k ↑/↓     move          enter   open / drill down
  esc         back          ?       this help         q   quit

[b]Overview[/b]   enter on a service or topic shows its journeys · r refresh
[b]Journeys[/b]   s cycle status filter · enter opens the waterfall
  waterfall: ↑/↓ pick a span · l jump along its link · esc back
  f (or enter) unfold a folded run (… N more) · a every span / fold again
[b]Dead letters[/b]  s status filter · e edit the payload · r replay (asks first)
  R replay every shown entry · x discard · a audit trail
  editor: live validation, errors by line; ctrl+r replay is off while invalid
[b]Live tail[/b]  p pause/resume · / filter · c clear · t kind · v log severity
  enter on a span, hop or log record opens its journey
[b]Metrics[/b]  ↑/↓ pick a service · tab its metrics · enter a chart · r refresh
[b]Alerts[/b]  firing, pending and the last 24 h · enter opens what it is about · r evaluate
  the header counts firing alerts; each new one raises a notification once

Exporters: OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317
Demo:      handoff-console demo"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
        Binding("question_mark", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(HELP_TEXT, id="help-text")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
