"""Dead letters (placeholder until console/dlq.py lands)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static


class DlqScreen(Screen[None]):
    def compose(self) -> ComposeResult:
        yield Static("Dead letters need console/dlq.py (branch dlq), not merged yet.")
        yield Footer()
