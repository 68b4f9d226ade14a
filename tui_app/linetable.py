"""``LineTable``: a cheap read-only table for data that changes every second.

Textual's ``DataTable`` re-renders every cell after any ``update_cell``; the overview changes most
cells each refresh, so that cost lands on the UI thread. This widget keeps one pre-rendered
``Strip`` per row, rebuilds only the rows whose cells changed, and draws only the visible lines
(the Line API). It moves with arrows, j/k, g/G, PgUp/PgDn and posts ``RowSelected`` on Enter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.segment import Segment
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

__all__ = ["LineTable"]

Cell = str | Text
Row = tuple[str, tuple[Any, ...]]


class LineTable(Widget, can_focus=True):
    DEFAULT_CSS = """
    LineTable { height: 1fr; }
    LineTable > .linetable--header { text-style: bold; color: $text-accent; }
    LineTable > .linetable--cursor { background: $block-cursor-blurred-background; }
    LineTable:focus > .linetable--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground;
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "linetable--header",
        "linetable--cursor",
    }
    BINDINGS = [
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("home,g", "cursor_to(0)", "Top", show=False),
        Binding("end,G", "cursor_to(-1)", "Bottom", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    cursor_row: reactive[int] = reactive(0)

    @dataclass
    class RowSelected(Message):
        table: LineTable
        key: str

        @property
        def control(self) -> LineTable:
            return self.table

    @dataclass
    class Highlighted(Message):
        table: LineTable
        key: str | None

        @property
        def control(self) -> LineTable:
            return self.table

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._columns: list[tuple[str, str, int]] = []  # key, title, width
        self._rows: list[Row] = []
        self._strips: list[Strip] = []
        self._top = 0

    # data --------------------------------------------------------------------------------
    def add_column(self, title: str, *, width: int, key: str | None = None) -> None:
        self._columns.append((key or title, title, width))
        self.refresh()

    def set_column_width(self, key: str, width: int) -> None:
        """Resize a column (its rows render again); width 0 hides it."""
        if all(w == width for k, _, w in self._columns if k == key):
            return
        self._columns = [(k, t, width if k == key else w) for k, t, w in self._columns]
        self._strips = [self._line(cells) for _, cells in self._rows]
        self.refresh()

    def set_column_title(self, key: str, title: str) -> None:
        self._columns = [(k, title if k == key else t, w) for k, t, w in self._columns]
        self.refresh()

    @property
    def row_count(self) -> int:
        return len(self._rows)

    def replace_rows(self, rows: Sequence[Row]) -> None:
        """Show ``rows`` (key, cells); the cursor stays on the same key where it still exists."""
        rows = list(rows)
        if rows == self._rows:
            return
        selected = self.selected_key()
        old = dict(
            zip((k for k, _ in self._rows), zip(self._rows, self._strips, strict=True), strict=True)
        )
        strips = []
        for row in rows:
            prev = old.get(row[0])
            strips.append(prev[1] if prev is not None and prev[0] == row else self._line(row[1]))
        self._rows, self._strips = rows, strips
        keys = [k for k, _ in rows]
        if selected in keys:
            self.cursor_row = keys.index(selected)
        else:
            self.cursor_row = min(self.cursor_row, max(0, len(rows) - 1))
        self._scroll_to_cursor()
        self.refresh()

    def selected_key(self) -> str | None:
        if not self._rows:
            return None
        return self._rows[min(self.cursor_row, len(self._rows) - 1)][0]

    def move_cursor(self, *, row: int) -> None:
        self.cursor_row = max(0, min(row, len(self._rows) - 1))

    def _line(self, cells: tuple[Any, ...]) -> Strip:
        line = Text(" ", end="")
        for (_, _, width), cell in zip(self._columns, cells, strict=False):
            if width <= 0:  # a hidden column
                continue
            text = cell.copy() if isinstance(cell, Text) else Text(str(cell))
            text.truncate(width, overflow="ellipsis", pad=True)
            line.append_text(text)
            line.append("  ")
        return Strip(line.render(self.app.console))

    # drawing -----------------------------------------------------------------------------
    def _body_height(self) -> int:
        return max(1, self.size.height - 1)

    def _scroll_to_cursor(self) -> None:
        h = self._body_height()
        if self.cursor_row < self._top:
            self._top = self.cursor_row
        elif self.cursor_row >= self._top + h:
            self._top = self.cursor_row - h + 1
        self._top = max(0, min(self._top, max(0, len(self._rows) - h)))

    def watch_cursor_row(self) -> None:
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.Highlighted(self, self.selected_key()))

    def on_resize(self) -> None:
        self._scroll_to_cursor()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y == 0:
            header = Text(" ", end="")
            for _, title, w in self._columns:
                if w <= 0:
                    continue
                header.append(title[:w].ljust(w))
                header.append("  ")
            style = self.get_component_rich_style("linetable--header")
            segments = header.render(self.app.console)
            return Strip(segments).apply_style(base + style).adjust_cell_length(width, base)
        index = self._top + y - 1
        if index >= len(self._strips):
            return Strip([Segment(" " * width, base)], width)
        strip = self._strips[index].apply_style(base).adjust_cell_length(width, base)
        if index == self.cursor_row:
            strip = strip.apply_style(self.get_component_rich_style("linetable--cursor"))
        return strip

    # actions -----------------------------------------------------------------------------
    def action_cursor(self, delta: int) -> None:
        self.move_cursor(row=self.cursor_row + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(row=self.cursor_row + direction * self._body_height())

    def action_cursor_to(self, row: int) -> None:
        self.move_cursor(row=row if row >= 0 else len(self._rows) - 1)

    def action_select(self) -> None:
        key = self.selected_key()
        if key is not None:
            self.post_message(self.RowSelected(self, key))
