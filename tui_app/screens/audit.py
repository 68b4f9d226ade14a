"""The audit trail: who fixed, replayed or discarded what, with payload hashes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui_app import dlq_ops
from tui_app.messages import AuditLoaded, LoadFailed
from tui_app.widgets import VimTable

if TYPE_CHECKING:
    from tui_app.app import HandoffApp

__all__ = ["AuditScreen"]


class AuditScreen(Screen[None]):
    AUTO_FOCUS = "#audit"
    BINDINGS = [Binding("escape", "app.back", "Back")]

    app: HandoffApp

    def compose(self) -> ComposeResult:
        yield Static("Audit trail · loading…", id="dlq-status")
        yield VimTable(id="audit")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#audit", VimTable)
        for key, width in (("time", 19), ("user", 8), ("action", 8), ("target", 26)):
            table.add_column(key, width=width, key=key)
        table.add_column("result", width=10, key="result")
        table.add_column("sha before→after", width=17, key="sha")
        self.load()

    @work(thread=True, exclusive=True, group="audit")
    def load(self) -> None:
        try:
            entries = dlq_ops.audit(self.app.source)
        except Exception as exc:
            self.post_message(LoadFailed("audit", f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(AuditLoaded(list(entries)))

    def on_audit_loaded(self, msg: AuditLoaded) -> None:
        entries = msg.entries
        rows = []
        for i, e in enumerate(entries):
            when = datetime.fromtimestamp(e.time_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")
            sha = f"{(e.before_sha256 or '-')[:7]}→{(e.after_sha256 or '-')[:7]}"
            rows.append((str(i), (when, e.os_user, e.action, e.target, e.result, sha)))
        self.query_one("#audit", VimTable).replace_rows(rows)
        self.query_one("#dlq-status", Static).update(f"Audit trail · {len(rows)} entries")

    def on_load_failed(self, msg: LoadFailed) -> None:
        msg.stop()
        self.query_one("#dlq-status", Static).update(f"Audit trail · {msg.error}")
