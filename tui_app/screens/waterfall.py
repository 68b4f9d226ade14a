"""A journey as a waterfall: spans as bars on a shared time axis grouped by service, handoff gaps
(┄) and dead letters (✖) marked; a detail pane; ``l`` jumps along the selected span's link, ``d``
opens the selected dead letter (or the one a hop was dead-lettered as), ``y`` copies the
selected id. Runs of repeated siblings are folded as ``trace`` folds them (``… 95 more
render-tile``): ``f`` or Enter on one unfolds it, ``a`` shows every span (and folds again).
While open, the journey is read again every ``app.refresh_s`` seconds (unless it
is completed), so a replay shows up as the tap and the consumer's spans report it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui_app import ops
from tui_app.linetable import LineTable
from tui_app.messages import JourneyLoaded, JourneyRefreshed
from tui_app.render import middle
from tui_app.waterfall import (
    bar,
    build_rows,
    detail_text,
    duration_text,
    fold_view,
    spans_link_target,
    time_axis,
    view_of,
)

if TYPE_CHECKING:
    from tui_app.app import HandoffApp

__all__ = ["WaterfallScreen"]

LABEL_W = 26
DUR_W = 9


class WaterfallScreen(Screen[None]):
    AUTO_FOCUS = "#waterfall"
    BINDINGS = [
        Binding("l", "follow_link", "Follow link"),
        Binding("d", "dead_letter", "Dead letter"),
        Binding("y", "copy", "Copy id"),
        Binding("f", "unfold", "Unfold"),
        Binding("a", "every_span", "All spans"),
        Binding("escape", "app.back", "Back"),
    ]

    app: HandoffApp

    def __init__(self, journey: Any, focus_trace: str | None = None) -> None:
        super().__init__()
        self.journey = journey
        self.view = view_of(journey)
        self.unfolded: set[str] = set()
        self.every_span = False
        self.hidden = 0
        self.rows = self._rows()
        self.focus_trace = focus_trace

    def _rows(self) -> list[Any]:
        folded = None if self.every_span else fold_view(self.view, self.unfolded)
        self.hidden = folded.hidden if folded is not None else 0
        return build_rows(self.view, folded)

    def compose(self) -> ComposeResult:
        yield Static(id="journey-head")
        yield LineTable(id="waterfall")
        with VerticalScroll(id="span-detail"):
            yield Static(id="detail-text")
        yield Footer()

    def on_mount(self) -> None:
        # The labels as wide as they need, up to a third of the screen; the axis takes the rest.
        longest = max(
            (len(r.label) + (0 if r.kind == "service" else 2) for r in self.rows), default=0
        )
        self.label_w = max(LABEL_W, min(longest, self.app.size.width // 3))
        width = max(20, self.app.size.width - self.label_w - DUR_W - 8)
        self.axis_width = width
        table = self.query_one("#waterfall", LineTable)
        table.add_column("service / operation", width=self.label_w, key="label")
        table.add_column("", width=width, key="bar")
        table.add_column("ms", width=DUR_W, key="ms")
        self._fill(None)
        self.set_interval(max(0.2, self.app.refresh_s), self._tick)

    def _fill(self, keep: str | None) -> None:
        width = self.axis_width
        spans = [r for r in self.rows if r.kind != "service"] or self.rows
        self.t0 = min((r.start_ns - r.gap_ns for r in spans), default=0)
        self.t1 = max((r.end_ns for r in spans), default=1)
        table = self.query_one("#waterfall", LineTable)
        table.set_column_title("bar", time_axis(self.t0, self.t1, width))
        cells = []
        for r in self.rows:
            if r.kind == "service":
                label = Text(middle(r.label, self.label_w), style="bold")
            else:
                label = Text("  " + middle(r.label, self.label_w - 2))
            if r.error:
                label.stylize("red")
            cells.append((r.key, (label, bar(r, self.t0, self.t1, width), duration_text(r))))
        table.replace_rows(cells)
        kept = next((i for i, r in enumerate(self.rows) if r.key == keep), None)
        first = (
            kept
            if kept is not None
            else next(
                (
                    i
                    for i, r in enumerate(self.rows)
                    if r.span is not None and r.span.trace_id == self.focus_trace
                ),
                next((i for i, r in enumerate(self.rows) if r.kind != "service"), 0),
            )
        )
        table.move_cursor(row=first)
        v = self.view
        head = Text()
        head.append(f"journey {v.title}  ", style="bold")
        head.append(v.status or "?", style="bold red" if "dead" in v.status else "bold")
        if v.where:
            head.append(f" at {v.where}")
        head.append(
            f"  · {len(v.spans)} spans · {len(v.hops)} hops · {len(v.dead_letters)} dead letters",
            style="dim",
        )
        if self.hidden:
            head.append(
                f" · {self.hidden:,} folded",  # the footer names f and a
                style="dim",
            )
        head.append(
            "\n┄ handoff gap  ◆ Kafka hop  ✖ dead letter  █ span (red: error)  ≡ log", style="dim"
        )
        self.query_one("#journey-head", Static).update(head)
        self._show(table.selected_key())

    # the journey as it grows ---------------------------------------------------------------
    def _tick(self) -> None:
        if self.view.status != "completed" and self.is_current:
            self.reload()

    @work(thread=True, exclusive=True, group="waterfall-reload")
    def reload(self) -> None:
        query = ops.journey_query(self.journey)
        if query is None:
            return
        try:
            found = ops.find_journey(self.app.source, query)
        except Exception:  # the next tick tries again; the screen keeps what it shows
            return
        if found is not None and not isinstance(found, list):
            self.post_message(JourneyRefreshed(found))

    def on_journey_refreshed(self, msg: JourneyRefreshed) -> None:
        new = view_of(msg.journey)
        old = self.view
        if (new.status, new.where, len(new.spans), len(new.hops), len(new.logs)) == (
            old.status,
            old.where,
            len(old.spans),
            len(old.hops),
            len(old.logs),
        ) and len(new.dead_letters) == len(old.dead_letters):
            return
        self.journey, self.view = msg.journey, new
        self.rows = self._rows()
        self._fill(self.query_one("#waterfall", LineTable).selected_key())

    # folds ------------------------------------------------------------------------------------
    def action_unfold(self) -> None:
        row = self._selected_row()
        if row is None or row.kind != "fold":
            self.notify("select a folded row (… N more) to unfold it", severity="warning")
            return
        self.unfolded.add(row.key)
        first = row.record.spans[0]
        self.rows = self._rows()
        self._fill(f"span:{first.trace_id}:{first.span_id}")

    def action_every_span(self) -> None:
        self.every_span = not self.every_span
        self.unfolded.clear()
        keep = self.query_one("#waterfall", LineTable).selected_key()
        self.rows = self._rows()
        self._fill(keep)
        self.notify("every span" if self.every_span else "repeated siblings folded")

    @on(LineTable.RowSelected, "#waterfall")
    def _selected(self, event: LineTable.RowSelected) -> None:
        if event.key.startswith("fold:"):
            self.action_unfold()

    # navigation -------------------------------------------------------------------------------
    def _selected_row(self) -> Any:
        key = self.query_one("#waterfall", LineTable).selected_key()
        return next((r for r in self.rows if r.key == key), None)

    def action_copy(self) -> None:
        text = ops.row_id(self._selected_row(), self.view.title)
        self.app.copy_to_clipboard(text)
        self.notify(f"copied {text}")

    def action_dead_letter(self) -> None:
        coords = ops.dead_letter_of(self._selected_row(), self.view.dead_letters)
        if coords is None:
            self.notify(
                "no dead letter here: select a ✖ row or a dead-lettered hop", severity="warning"
            )
            return
        self.app.open_dead_letter(coords)

    @on(LineTable.Highlighted, "#waterfall")
    def _highlighted(self, event: LineTable.Highlighted) -> None:
        self._show(event.key)

    def _show(self, key: str | None) -> None:
        row = next((r for r in self.rows if r.key == key), None)
        self.query_one("#detail-text", Static).update(detail_text(row))

    def action_follow_link(self) -> None:
        table = self.query_one("#waterfall", LineTable)
        row = next((r for r in self.rows if r.key == table.selected_key()), None)
        if row is None:
            return
        index, trace_id = spans_link_target(self.rows, row)
        if index is not None:
            table.move_cursor(row=index)
        elif trace_id:
            self.notify(f"opening linked trace {trace_id[:16]}…")
            self.load_linked(trace_id)
        else:
            self.notify("this span has no links", severity="warning")

    @work(thread=True, exclusive=True, group="waterfall-link")
    def load_linked(self, trace_id: str) -> None:
        try:
            journey = ops.find_journey(self.app.source, trace_id)
        except Exception as exc:
            self.post_message(JourneyLoaded(None, trace_id, str(exc)))
            return
        self.post_message(JourneyLoaded(journey, trace_id))

    def on_journey_loaded(self, msg: JourneyLoaded) -> None:
        msg.stop()
        if msg.journey is None:
            self.notify(
                msg.error or f"linked trace {msg.query} is not in the store", severity="warning"
            )
            return
        self.app.push_screen(WaterfallScreen(msg.journey, focus_trace=msg.query))
