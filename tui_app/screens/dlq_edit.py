"""Edit a dead letter's payload with live validation against its topic's contract: errors by
line, replay disabled while invalid, a diff against the original, replay behind a confirmation."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Static, TextArea

from console.dlq import coordinates_of
from tui_app import dlq_ops
from tui_app.messages import EditValidated, ReplayDone
from tui_app.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from tui_app.app import HandoffApp

__all__ = ["DlqEditScreen", "diff_text"]


def diff_text(before: str, after: str) -> Text:
    out = Text()
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), "original", "fixed", lineterm="", n=1
    )
    for line in lines:
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
        out.append(line + "\n", style=style)
    return out if out.plain else Text("no change yet", style="dim")


class DlqEditScreen(Screen[bool]):
    AUTO_FOCUS = "#editor"
    BINDINGS = [
        Binding("ctrl+r", "replay", "Replay fixed", priority=True),
        Binding("ctrl+s", "save", "Save fix", priority=True),
        Binding("ctrl+d", "diff", "Diff", priority=True),
        Binding("escape", "close", "Back"),
    ]

    app: HandoffApp

    def __init__(self, coordinates: str, payload: str) -> None:
        super().__init__()
        self.coordinates = coordinates  # the address the operations get (CLUSTER/ when known)
        self.shown = coordinates_of(coordinates)  # what the screen says
        self.original = payload
        self.errors: list[tuple[int | None, str]] | None = None
        self.show_diff = False

    def compose(self) -> ComposeResult:
        yield Static(f"Fix {self.shown} · validating…", id="edit-head")
        with Horizontal(id="editor-row"):
            yield TextArea(
                self.original, id="editor", show_line_numbers=True, tab_behavior="indent"
            )
            with VerticalScroll(id="edit-errors"):
                yield Static("", id="edit-errors-text")
        with Horizontal(id="edit-buttons"):
            yield Button("Save fix ^s", id="save", disabled=True)
            yield Button("Replay ^r", id="replay", variant="warning", disabled=True)
            yield Button("Diff ^d", id="diff")
        yield Footer()

    def on_mount(self) -> None:
        self.validate(self.original)

    @property
    def text(self) -> str:
        return self.query_one("#editor", TextArea).text

    @property
    def valid(self) -> bool:
        return self.errors == []

    @on(TextArea.Changed, "#editor")
    def _changed(self) -> None:
        self.query_one("#replay", Button).disabled = True
        self.query_one("#save", Button).disabled = True
        self.errors = None
        self.validate(self.text)

    @work(thread=True, exclusive=True, group="dlq-validate")
    def validate(self, text: str) -> None:
        try:
            errors = dlq_ops.validate_payload(self.app.source, self.coordinates, text)
        except Exception as exc:
            errors = [(None, f"cannot validate: {type(exc).__name__}: {exc}")]
        self.post_message(EditValidated(text, errors))

    def on_edit_validated(self, msg: EditValidated) -> None:
        if msg.text != self.text:
            return  # an older validation; a newer one is on its way
        self.errors = msg.errors
        ok = not msg.errors
        self.query_one("#replay", Button).disabled = not ok
        self.query_one("#save", Button).disabled = not ok
        head = Text(f"Fix {self.shown} · ")
        if ok:
            head.append("valid against the contract", style="bold green")
        else:
            head.append(f"{len(msg.errors)} error(s): replay is off until fixed", style="bold red")
        self.query_one("#edit-head", Static).update(head)
        self._render_side()

    def _render_side(self) -> None:
        side = self.query_one("#edit-errors-text", Static)
        if self.show_diff:
            side.update(diff_text(self.original, self.text))
            return
        out = Text()
        for line, message in self.errors or []:
            out.append(f"line {line}: " if line else "payload: ", style="bold red")
            out.append(message + "\n")
        side.update(out if out.plain else Text("✓ valid", style="green"))

    def action_diff(self) -> None:
        self.show_diff = not self.show_diff
        self._render_side()

    @on(Button.Pressed, "#diff")
    def _diff(self) -> None:
        self.action_diff()

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#replay")
    def _replay_pressed(self) -> None:
        self.action_replay()

    def action_save(self) -> None:
        if not self.valid:
            self.notify("fix the errors first", severity="warning")
            return
        self.store_fix(self.text, replay=False)

    def action_replay(self) -> None:
        if not self.valid:
            self.notify("replay is disabled while the payload is invalid", severity="warning")
            return
        text = self.text

        def answer(yes: bool | None) -> None:
            if yes:
                self.store_fix(text, replay=True)

        self.app.push_screen(
            ConfirmScreen(f"Replay {self.shown} with this payload?", "Replay"), answer
        )

    @work(thread=True, exclusive=True, group="dlq-fix")
    def store_fix(self, text: str, replay: bool) -> None:
        try:
            if text != self.original:
                dlq_ops.save_fix(self.app.source, self.coordinates, text)
            summary = f"fix saved for {self.shown}"
            ok = True
            if replay:
                ok, summary = dlq_ops.replay(self.app.source, [self.coordinates], None)
        except Exception as exc:
            ok, summary = False, f"{type(exc).__name__}: {exc}"
        self.post_message(ReplayDone([self.coordinates], ok, summary))

    def on_replay_done(self, msg: ReplayDone) -> None:
        msg.stop()
        self.notify(msg.summary, severity="information" if msg.ok else "error")
        if msg.ok:
            self.dismiss(True)

    def action_close(self) -> None:
        self.dismiss(False)
