"""Dead letters: the list with filters, the detail (decoded headers, pretty payload, contract
verdict, replay history), replay behind a confirmation, bulk replay with progress, discard, the
audit trail. Every operation goes through the dead-letter service (console/dlq/service.py, via
``tui_app.dlq_ops``), as the CLI does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, ProgressBar, Static

from console.dlq import address, coordinates_of
from tui_app import dlq_ops, render
from tui_app.messages import (
    DeadLetterDetail,
    DeadLettersLoaded,
    LoadFailed,
    ReplayDone,
    ReplayProgress,
    ReplayTargetChecked,
)
from tui_app.screens.confirm import ConfirmScreen
from tui_app.widgets import AlertsBadge, VimTable

if TYPE_CHECKING:
    from tui_app.app import HandoffApp

__all__ = ["DlqScreen"]

STATUSES = (None, "pending", "replayed", "discarded")
#: The list's columns (key, title, narrowest width); widths follow the content and the screen.
COLUMNS = (
    ("status", "status", 9),
    ("coords", "dead letter", 16),
    ("origin", "from", 16),
    ("reason", "reason", 16),
    ("corr", "correlation", 11),
)
#: What shortens first when the screen is narrow: the dead letter's own coordinates (its topic is
#: the origin's DLT), then the origin's topic (its offset stays), the reason, the correlation id.
GIVE_WAY = ("coords", "origin", "reason", "corr")
STATUS_STYLE = {"pending": "bold red", "replayed": "green", "discarded": "grey50"}


def row_cells(d: Any) -> tuple[str, tuple[object, ...]]:
    origin = f"{d.original_topic}:{d.original_partition}:{d.original_offset}"
    reason = (d.exception_class or "").rsplit(".", 1)[-1]
    if d.exception_message:
        reason = f"{reason}: {d.exception_message}" if reason else d.exception_message
    # The row's key names the cluster too: two clusters' dead letters may share coordinates.
    return address(d), (
        Text(d.status, style=STATUS_STYLE.get(d.status, "")),
        d.coordinates,
        origin if d.original_topic else "-",
        reason or "-",
        d.correlation_id or "",
    )


class DlqScreen(Screen[None]):
    AUTO_FOCUS = "#dlq-list"
    BINDINGS = [
        Binding("e", "edit", "Edit"),
        Binding("r", "replay", "Replay"),
        Binding("R", "replay_all", "Replay shown"),
        Binding("x", "discard", "Discard"),
        Binding("s", "cycle_status", "Status"),
        Binding("a", "audit", "Audit"),
        Binding("slash", "search", "Filter"),
        # ``j`` moves the cursor down in every list; its journey is J (shift).
        Binding("J", "open_journey", "Journey"),
        Binding("y", "copy", "Copy id"),
    ]

    app: HandoffApp

    def __init__(self) -> None:
        super().__init__()
        self.status: str | None = None
        self.rows: list[Any] = []
        self.payload_text = ""
        self._window = ""  # the window the list was last loaded for

    def compose(self) -> ComposeResult:
        yield AlertsBadge()
        yield Static("Dead letters", id="dlq-status")
        yield Input(placeholder="/ filter: topic, error text or correlation id", id="dlq-filter")
        yield VimTable(id="dlq-list")
        with VerticalScroll(id="dlq-detail"):
            yield Static("", id="dlq-detail-text")
        yield ProgressBar(id="replay-progress", show_eta=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#dlq-list", VimTable).fit(COLUMNS, [], self.app.size.width)
        self.query_one("#replay-progress").display = False
        if not self._take_filter():
            self.action_refresh()

    def _take_filter(self) -> bool:
        """Filter on the DLQ topic an alert named (its ``Input.Changed`` reloads the list)."""
        topic = self.app.dlq_filter
        if topic is None:
            return False
        self.app.dlq_filter = None
        self.status = None
        search = self.query_one("#dlq-filter", Input)
        if search.value == topic:
            return False
        search.value = topic
        return True

    # loading ---------------------------------------------------------------------------------
    def _status_line(self, note: str = "") -> None:
        text = self.query_one("#dlq-filter", Input).value.strip()
        parts = [
            "Dead letters",
            f"window {self.app.window_label}",
            f"status: {self.status or 'all'}",
            f"{len(self.rows)} shown",
        ]
        if text:
            parts.append(f"filter '{text}'")
        if note:
            parts.append(note)
        self.query_one("#dlq-status", Static).update(" · ".join(parts))

    def action_refresh(self) -> None:
        self._window = self.app.window_label
        self.load(self.status, self.query_one("#dlq-filter", Input).value.strip())

    @work(thread=True, exclusive=True, group="dlq-list")
    def load(self, status: str | None, text: str) -> None:
        source = self.app.source
        since_ns = source.since_ns()  # the window every screen shares (w)
        since_ms = None if since_ns is None else since_ns // 1_000_000
        held = ""
        try:
            rows = dlq_ops.list_dead_letters(
                source, status=status, text=text or None, since_ms=since_ms
            )
            if not rows and not text and since_ms is not None:
                n, last_ms = dlq_ops.dead_letter_extent(source, status=status)
                if n:
                    what = f"{n:,} {status + ' ' if status else ''}dead letter{'s' * (n != 1)}"
                    last_ns = None if last_ms is None else last_ms * 1_000_000
                    held = render.held(self.app.window_label, what, last_ns, "No dead letters")
        except Exception as exc:
            self.post_message(LoadFailed("dead letters", f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(DeadLettersLoaded(list(rows), held))

    def on_dead_letters_loaded(self, msg: DeadLettersLoaded) -> None:
        self.rows = msg.rows
        table = self.query_one("#dlq-list", VimTable)
        table.fit(COLUMNS, [row_cells(d) for d in msg.rows], self.app.size.width, GIVE_WAY)
        if msg.held:
            self.query_one("#dlq-detail-text", Static).update(msg.held)
        elif not msg.rows:
            self.query_one("#dlq-detail-text", Static).update(
                "No dead letters here. They appear when the Kafka tap sees a DLQ topic "
                "(names ending .dlq, -dlq, -dlt or .DLT) or DLQ headers; the demo makes some: "
                "handoff-console demo --poison-rate 0.1"
            )
        self._status_line()
        focus = self.app.dlq_focus
        if focus is not None:
            keys = [address(d) for d in msg.rows]
            plain = [d.coordinates for d in msg.rows]
            if focus in keys or focus in plain:
                table.move_cursor(row=(keys if focus in keys else plain).index(focus))
                self.app.dlq_focus = None
        key = table.selected_key()
        if key:
            self.load_detail(key)

    @on(DataTable.RowHighlighted, "#dlq-list")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value:
            self.load_detail(str(event.row_key.value))

    @work(thread=True, exclusive=True, group="dlq-detail")
    def load_detail(self, coords: str) -> None:
        try:
            self.post_message(dlq_ops.dead_letter_detail(self.app.source, coords))
        except Exception as exc:
            self.post_message(LoadFailed("dead letter", f"{type(exc).__name__}: {exc}"))

    def on_dead_letter_detail(self, msg: DeadLetterDetail) -> None:
        if msg.coordinates != self.query_one("#dlq-list", VimTable).selected_key():
            return
        self.payload_text = msg.payload
        self.query_one("#dlq-detail-text", Static).update(msg.text)

    def on_load_failed(self, msg: LoadFailed) -> None:
        msg.stop()
        self._status_line(msg.error)
        self.notify(msg.error, severity="error")

    @on(Input.Changed, "#dlq-filter")
    def _filter(self) -> None:
        self.action_refresh()

    @on(Input.Submitted, "#dlq-filter")
    def _filter_done(self) -> None:
        self.query_one("#dlq-list", VimTable).focus()

    # actions ---------------------------------------------------------------------------------
    def selected(self) -> str | None:
        return self.query_one("#dlq-list", VimTable).selected_key()

    def action_search(self) -> None:
        self.query_one("#dlq-filter", Input).focus()

    def on_screen_resume(self) -> None:
        if self._take_filter():
            return
        if self.app.dlq_focus is not None:  # sent here from a journey (d): show that one
            self.status = None
            self.query_one("#dlq-filter", Input).value = ""
            self.action_refresh()
        elif self._window != self.app.window_label:  # w pressed on another screen
            self.action_refresh()

    def action_copy(self) -> None:
        coords = self.selected()
        if coords is not None:
            self.app.copy_to_clipboard(coordinates_of(coords))
            self.notify(f"copied {coordinates_of(coords)}")

    def action_open_journey(self) -> None:
        coords = self.selected()
        if coords is not None:
            self._status_line(f"looking up the journey of {coordinates_of(coords)}…")
            self.app.open_journey(coordinates_of(coords))

    def action_cycle_status(self) -> None:
        self.status = STATUSES[(STATUSES.index(self.status) + 1) % len(STATUSES)]
        self.action_refresh()

    def action_edit(self) -> None:
        coords = self.selected()
        if coords is None:
            return
        from tui_app.screens.dlq_edit import DlqEditScreen

        def done(replayed: bool | None) -> None:
            self.action_refresh()

        self.app.push_screen(DlqEditScreen(coords, self.payload_text), done)

    def action_replay(self) -> None:
        coords = self.selected()
        if coords is None:
            return
        self._status_line(f"asking the target cluster about {coordinates_of(coords)}…")
        self.check_target([coords])

    def action_replay_all(self) -> None:
        targets = [address(d) for d in self.rows if d.status == "pending"]
        if not targets:
            self.notify("nothing pending to replay here", severity="warning")
            return
        self._status_line("asking the target cluster…")
        self.check_target(targets)

    @work(thread=True, exclusive=True, group="dlq-replay")
    def check_target(self, targets: list[str]) -> None:
        """The confirmation names the cluster and topics it will send to, so ask them first."""
        try:
            ok, text = dlq_ops.replay_target(self.app.source, targets)
        except Exception as exc:
            ok, text = False, f"{type(exc).__name__}: {exc}"
        self.post_message(ReplayTargetChecked(targets, ok, text))

    def on_replay_target_checked(self, msg: ReplayTargetChecked) -> None:
        targets = msg.coordinates
        if not msg.ok:
            self.notify(msg.text, severity="error")
            self._status_line(msg.text)
            return
        self._status_line()

        def answer(yes: bool | None) -> None:
            if not yes:
                return
            if len(targets) > 1:
                bar = self.query_one("#replay-progress", ProgressBar)
                bar.display = True
                bar.update(total=len(targets), progress=0)
            else:
                self._status_line(f"replaying {coordinates_of(targets[0])}…")
            self.replay(targets)

        label = "Replay all" if len(targets) > 1 else "Replay"
        self.app.push_screen(ConfirmScreen(msg.text, label), answer)

    @work(thread=True, exclusive=True, group="dlq-replay")
    def replay(self, targets: list[str]) -> None:
        def progress(done: int, total: int) -> None:
            self.post_message(ReplayProgress(done, total))

        try:
            ok, summary = dlq_ops.replay(self.app.source, targets, progress)
        except Exception as exc:
            ok, summary = False, f"{type(exc).__name__}: {exc}"
        self.post_message(ReplayDone(targets, ok, summary))

    def on_replay_progress(self, msg: ReplayProgress) -> None:
        self.query_one("#replay-progress", ProgressBar).update(total=msg.total, progress=msg.done)

    def on_replay_done(self, msg: ReplayDone) -> None:
        self.query_one("#replay-progress").display = len(msg.coordinates) > 1
        self.notify(msg.summary, severity="information" if msg.ok else "error")
        self._status_line(msg.summary)
        self.action_refresh()

    def action_discard(self) -> None:
        coords = self.selected()
        if coords is None:
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.discard(coords)

        self.app.push_screen(
            ConfirmScreen(f"Discard {coordinates_of(coords)} without replay?", "Discard"), answer
        )

    @work(thread=True, exclusive=True, group="dlq-discard")
    def discard(self, coords: str) -> None:
        try:
            dlq_ops.discard(self.app.source, coords)
            self.post_message(ReplayDone([coords], True, f"discarded {coordinates_of(coords)}"))
        except Exception as exc:
            self.post_message(LoadFailed("discard", f"{type(exc).__name__}: {exc}"))

    def action_audit(self) -> None:
        from tui_app.screens.audit import AuditScreen

        self.app.push_screen(AuditScreen())

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        return [
            ("DLQ: edit payload", "Edit the selected dead letter", self.action_edit),
            ("DLQ: replay selected", "Replay to the original topic", self.action_replay),
            ("DLQ: replay all shown", "Bulk replay with progress", self.action_replay_all),
            ("DLQ: discard selected", "Mark resolved without replay", self.action_discard),
            (
                "DLQ: cycle status filter",
                "pending → all → replayed → discarded",
                self.action_cycle_status,
            ),
            ("DLQ: audit trail", "Who fixed, replayed, discarded what", self.action_audit),
            ("DLQ: filter", "Topic, error text or correlation id", self.action_search),
        ]
