"""Live tail: spans and hops as they arrive, with a filter; pausable."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from console.tail import TailBatch
from tui_app.linetable import LineTable
from tui_app.messages import TailData
from tui_app.render import ms

if TYPE_CHECKING:
    from tui_app.app import HandoffApp

__all__ = ["TailScreen"]

KEEP = 1000
SHOW = 200
_KIND = {0: "", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def _clock(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%H:%M:%S.%f")[:-3]


def batch_rows(batch: TailBatch) -> list[tuple[int, str, tuple[object, ...], str]]:
    """(time, key, cells, searchable text) for each span and hop, oldest first."""
    rows: list[tuple[int, str, tuple[object, ...], str]] = []
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
        rows.append((s.start_ns, f"s{s.id}", cells, f"{s.service} {s.name} {who} {s.trace_id}"))
    for h in batch.hops:
        where = f"{h.topic}:{h.partition}:{h.offset}"
        who = h.correlation_id or (h.trace_id or "")[:16]
        what = f"p{h.partition} @{h.offset} {h.size}B"
        cells = (_clock(h.seen_ns), Text("hop", style="magenta"), h.topic, what, "", who)
        rows.append((h.seen_ns, f"h{h.id}", cells, f"{where} {who} {h.trace_id or ''}"))
    rows.sort(key=lambda r: r[0])
    return rows


class TailScreen(Screen[None]):
    AUTO_FOCUS = "#tail"
    BINDINGS = [
        Binding("p", "pause", "Pause/resume"),
        Binding("space", "pause", "Pause", show=False),
        Binding("slash", "search", "Filter"),
        Binding("c", "clear", "Clear"),
    ]

    app: HandoffApp

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self._rows: deque[tuple[int, str, tuple[object, ...], str]] = deque(maxlen=KEEP)
        self._after = (0, 0)
        self._started = False

    def compose(self) -> ComposeResult:
        yield Static("Live tail · waiting for spans and hops…", id="tail-status")
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

    def _tick(self) -> None:
        if self.is_current and not self.paused:
            self.load(*self._after)

    @work(thread=True, exclusive=True, group="tail")
    def load(self, after_span: int, after_hop: int) -> None:
        self.post_message(TailData(self.app.source.tail(after_span, after_hop)))

    def on_tail_data(self, msg: TailData) -> None:
        if self.paused:
            return
        batch = msg.batch
        first = not self._started
        self._started = True
        after_span, after_hop = self._after
        # Two loads may overlap (a slow one and the next tick's): keep only unseen rows.
        batch = TailBatch(
            tuple(s for s in batch.spans if s.id > after_span),
            tuple(h for h in batch.hops if h.id > after_hop),
            max(batch.last_span_id, after_span),
            max(batch.last_hop_id, after_hop),
        )
        self._after = (batch.last_span_id, batch.last_hop_id)
        new = batch_rows(batch)
        if not new and not first:
            return
        self._rows.extend(new)
        self._render_rows()

    def _render_rows(self) -> None:
        needle = self.query_one("#filter", Input).value.strip().lower()
        rows = [r for r in self._rows if not needle or needle in r[3].lower()][-SHOW:]
        table = self.query_one("#tail", LineTable)
        table.replace_rows([(key, cells) for _, key, cells, _ in rows])
        if rows and not self.paused:
            table.move_cursor(row=len(rows) - 1)
        state = "paused (p resumes)" if self.paused else "live"
        shown = f"{len(rows)} shown" + (f" matching '{needle}'" if needle else "")
        self.query_one("#tail-status", Static).update(f"Live tail · {state} · {shown}")

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

    def action_clear(self) -> None:
        self._rows.clear()
        self._render_rows()
