"""Live tail: spans, hops and log records as they arrive, with a text filter, a kind filter and a
severity filter; pausable. Enter opens the journey of the record under the cursor."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from console.readers.tail import TailBatch
from console.store import Cursor
from tui_app import ops
from tui_app.linetable import LineTable
from tui_app.messages import JourneyLoaded, TailData
from tui_app.render import ms
from tui_app.widgets import AlertsBadge

if TYPE_CHECKING:
    from tui_app.app import HandoffApp

__all__ = ["KINDS", "SEVERITY_FLOORS", "SEVERITY_STYLE", "TailScreen", "batch_rows"]

KEEP = 1000
SHOW = 200
_KIND = {0: "", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
KINDS = ("all", "spans", "hops", "logs")  # the kind filter, cycled with t
# The severity filter (v): log records at or above it; spans and hops are not logs and stay.
SEVERITY_FLOORS = (
    ("any", 0),
    ("DEBUG", 5),
    ("INFO", 9),
    ("WARN", 13),
    ("ERROR", 17),
    ("FATAL", 21),
)
SEVERITY_STYLE = {
    "TRACE": "grey50",
    "DEBUG": "grey62",
    "INFO": "green",
    "WARN": "yellow",
    "ERROR": "red",
    "FATAL": "bold white on red",
}


class TailRow(NamedTuple):
    """One line of the tail: a span, a hop or a log record."""

    time_ns: int
    key: str  # the table's row key: the record's kind letter and id
    cells: tuple[object, ...]
    text: str  # what the filter searches
    kind: str  # spans, hops or logs
    severity: int  # a log record's severity number (0 for spans and hops)
    journey: str  # the correlation or trace id Enter opens


def _clock(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%H:%M:%S.%f")[:-3]


def batch_rows(batch: TailBatch) -> list[TailRow]:
    """A ``TailRow`` for each span, hop and log record, oldest first."""
    rows: list[TailRow] = []
    for s in batch.spans:
        who = s.correlation_id or s.trace_id[:16]
        style = "red" if s.status_code == 2 else ""
        cells: tuple[object, ...] = (
            _clock(s.start_ns),
            Text("span", style="cyan"),
            s.service,
            Text(f"{s.name} ({_KIND.get(s.kind, '')})", style=style),
            ms(s.duration_ms),
            who,
        )
        text = f"{s.service} {s.name} {who} {s.trace_id}"
        rows.append(
            TailRow(s.start_ns, f"s{s.id}", cells, text, "spans", 0, s.correlation_id or s.trace_id)
        )
    for h in batch.hops:
        where = f"{h.topic}:{h.partition}:{h.offset}"
        who = h.correlation_id or (h.trace_id or "")[:16]
        what = f"p{h.partition} @{h.offset} {h.size}B"
        cells = (_clock(h.seen_ns), Text("hop", style="magenta"), h.topic, what, "", who)
        text = f"{where} {who} {h.trace_id or ''}"
        rows.append(
            TailRow(
                h.seen_ns, f"h{h.id}", cells, text, "hops", 0, h.correlation_id or h.trace_id or ""
            )
        )
    for r in batch.logs:
        who = r.correlation_id or (r.trace_id or "")[:16]
        style = SEVERITY_STYLE.get(r.severity, "")
        cells = (
            _clock(r.time_ns),
            Text("log", style=style),
            r.service,
            Text(f"{r.severity or '-':<5} {r.body}", style=style),
            "",
            who,
        )
        text = f"{r.service} {r.severity} {r.body} {who} {r.trace_id or ''}"
        journey = r.correlation_id or r.trace_id or ""
        rows.append(TailRow(r.time_ns, f"l{r.id}", cells, text, "logs", r.severity_number, journey))
    rows.sort(key=lambda r: r.time_ns)
    return rows


class TailScreen(Screen[None]):
    AUTO_FOCUS = "#tail"
    BINDINGS = [
        Binding("p", "pause", "Pause/resume"),
        Binding("space", "pause", "Pause", show=False),
        Binding("slash", "search", "Filter"),
        Binding("c", "clear", "Clear"),
        Binding("t", "cycle_kind", "Kind"),
        Binding("v", "cycle_severity", "Severity"),
    ]

    app: HandoffApp

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self._rows: deque[TailRow] = deque(maxlen=KEEP)
        self._after = (Cursor(0), Cursor(0), Cursor(0))
        self._started = False
        self.kind = "all"
        self.severity = 0  # index into SEVERITY_FLOORS

    def compose(self) -> ComposeResult:
        yield AlertsBadge()
        yield Static("Live tail · waiting for spans, hops and log records…", id="tail-status")
        yield Input(placeholder="/ filter: service, topic, span name, correlation id", id="filter")
        yield LineTable(id="tail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#tail", LineTable)
        for name, width in (("time", 12), ("", 4), ("service/topic", 16)):
            table.add_column(name, width=width, key=name or "kind")
        for name, width in (("what", 19), ("dur", 5), ("correlation", 11)):
            table.add_column(name, width=width, key=name)
        self.set_interval(self.app.refresh_s, self._tick)
        self._tick()

    def on_resize(self) -> None:
        # "what" (span names, hop coordinates, log bodies) takes the width the others leave.
        others = 12 + 4 + 16 + 5 + 11
        width = max(19, self.size.width - others - 2 * 6 - 2)
        self.query_one("#tail", LineTable).set_column_width("what", width)

    def _tick(self) -> None:
        if self.is_current and not self.paused:
            self.load(*self._after)

    @work(thread=True, exclusive=True, group="tail")
    def load(self, after_span: int, after_hop: int, after_log: int = 0) -> None:
        self.post_message(TailData(self.app.source.tail(after_span, after_hop, after_log)))

    def on_tail_data(self, msg: TailData) -> None:
        if self.paused:
            return
        batch = msg.batch
        first = not self._started
        self._started = True
        after_span, after_hop, after_log = self._after
        # Two loads may overlap (a slow one and the next tick's): keep only unseen rows.
        batch = TailBatch(
            tuple(s for s in batch.spans if s.id > after_span),
            tuple(h for h in batch.hops if h.id > after_hop),
            max(batch.last_span_id, after_span),
            max(batch.last_hop_id, after_hop),
            tuple(r for r in batch.logs if r.id > after_log),
            max(batch.last_log_id, after_log),
        )
        self._after = (batch.last_span_id, batch.last_hop_id, batch.last_log_id)
        new = batch_rows(batch)
        if not new and not first:
            return
        self._rows.extend(new)
        self._render_rows()

    def _render_rows(self) -> None:
        needle = self.query_one("#filter", Input).value.strip().lower()
        label, floor = SEVERITY_FLOORS[self.severity]
        rows = [
            r
            for r in self._rows
            if (not needle or needle in r.text.lower())
            and (self.kind == "all" or r.kind == self.kind)
            and (r.kind != "logs" or r.severity >= floor)
        ][-SHOW:]
        table = self.query_one("#tail", LineTable)
        table.replace_rows([(r.key, r.cells) for r in rows])
        if rows and not self.paused:
            table.move_cursor(row=len(rows) - 1)
        state = "paused (p resumes)" if self.paused else "live"
        shown = f"{len(rows)} shown" + (f" matching '{needle}'" if needle else "")
        filters = f"kind: {self.kind} (t) · logs: {label if floor else 'any severity'} (v)"
        window = f"window {self.app.window_label}"  # shown as on every screen; the tail is live
        self.query_one("#tail-status", Static).update(
            f"Live tail · {state} · {window} · {shown} · {filters}"
        )

    def action_refresh(self) -> None:
        """After ``w``: the status line names the new window (the tail itself is live)."""
        if self._started:
            self._render_rows()

    def on_screen_resume(self) -> None:
        self.action_refresh()

    @on(Input.Changed, "#filter")
    def _filter(self) -> None:
        self._render_rows()

    @on(Input.Submitted, "#filter")
    def _done(self) -> None:
        self.query_one("#tail", LineTable).focus()

    def action_pause(self) -> None:
        self.paused = not self.paused
        self._render_rows()
        if not self.paused:
            self._tick()

    def action_search(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_cycle_kind(self) -> None:
        self.kind = KINDS[(KINDS.index(self.kind) + 1) % len(KINDS)]
        self._render_rows()

    def action_cycle_severity(self) -> None:
        self.severity = (self.severity + 1) % len(SEVERITY_FLOORS)
        self._render_rows()

    @on(LineTable.RowSelected, "#tail")
    def _open(self, event: LineTable.RowSelected) -> None:
        journey = next((r.journey for r in self._rows if r.key == event.key), "")
        if not journey:
            self.notify("this record names no trace or correlation id", severity="warning")
            return
        self.lookup(journey)

    @work(thread=True, exclusive=True, group="tail-journey")
    def lookup(self, text: str) -> None:
        try:
            journey = ops.find_journey(self.app.source, text)
        except Exception as exc:
            self.post_message(JourneyLoaded(None, text, f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(JourneyLoaded(journey, text))

    def on_journey_loaded(self, msg: JourneyLoaded) -> None:
        if msg.journey is None:
            self.notify(msg.error or f"no journey for {msg.query}", severity="warning")
            return
        from tui_app.screens.waterfall import WaterfallScreen

        kind, value = ops.query_kind(msg.query)
        self.app.push_screen(
            WaterfallScreen(msg.journey, focus_trace=value if kind == "trace_id" else None)
        )

    def palette_commands(self) -> list[tuple[str, str, object]]:
        return [
            ("Tail: cycle kind filter", "all → spans → hops → logs", self.action_cycle_kind),
            (
                "Tail: cycle severity filter",
                "log records at or above any → DEBUG → … → FATAL",
                self.action_cycle_severity,
            ),
        ]

    def action_clear(self) -> None:
        self._rows.clear()
        self._render_rows()
