"""Journeys (placeholder until console/journeys.py lands)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static


class JourneysScreen(Screen[None]):
    def compose(self) -> ComposeResult:
        yield Static("Journeys need console/journeys.py (branch journeys), not merged yet.")
        yield Footer()
