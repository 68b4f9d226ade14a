"""Widgets shared by the screens. They render what they are given and never do I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable, Static

from tui_app.render import fit_widths, middle

__all__ = ["AlertsBadge", "VimTable"]


class AlertsBadge(Static):
    """The header line every screen shows while alerts fire: how many, and the key to see them.
    It follows the app's ``alerts_firing`` (set from ``AlertsLoaded``); hidden while none fire."""

    def on_mount(self) -> None:
        self.watch(self.app, "alerts_firing", self._firing, init=True)

    def _firing(self, n: int) -> None:
        self.set_class(n > 0, "-firing")
        if n:
            self.update(f"▲ {n} alert{'s' if n != 1 else ''} firing · 6 shows them")


class VimTable(DataTable[Any]):
    """A row-cursor table that also moves with j/k, g/G, and replaces its rows in one call."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "Top", show=False),
        Binding("G", "scroll_bottom", "Bottom", show=False),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", False)
        super().__init__(*args, **kwargs)
        self._shown: list[tuple[str, tuple[Any, ...]]] = []

    def fit(
        self,
        columns: Sequence[tuple[str, str, int]],
        rows: Sequence[tuple[str, tuple[Any, ...]]],
        width: int,
        give_way: Sequence[str] = (),
    ) -> None:
        """Show ``rows`` in ``columns`` (key, title, minimum width) sized from their content and
        ``width`` cells; the columns in ``give_way`` shorten first; text that must shorten
        shortens in the middle (the full value is in the detail)."""
        natural = [
            max([len(title), *(len(_plain(cells[i])) for _, cells in rows)])
            for i, (_, title, _) in enumerate(columns)
        ]
        minimum = [max(m, min(len(t), 8)) for _, t, m in columns]
        available = width - 2 * len(columns) - 2  # one cell of padding each side
        keys = [key for key, _, _ in columns]
        order = [keys.index(k) for k in give_way if k in keys]
        widths = fit_widths(natural, minimum, available, order)
        wanted = [(key, title, w) for (key, title, _), w in zip(columns, widths, strict=True)]
        if wanted != getattr(self, "_fitted", None):
            current = self.selected_key()
            self.clear(columns=True)
            for key, title, w in wanted:
                self.add_column(title, width=w, key=key)
            self._fitted = wanted
            self._shown = []
            if current is not None:
                self._keep = current
        shortened = [
            (key, tuple(_short(c, w) for c, w in zip(cells, widths, strict=False)))
            for key, cells in rows
        ]
        self.replace_rows(shortened)

    def replace_rows(self, rows: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
        """Show ``rows`` (key, cells), keeping the cursor on the same key where it still exists."""
        rows = list(rows)
        if rows == self._shown:
            return
        keys = [k for k, _ in rows]
        if keys == [k for k, _ in self._shown]:
            # Same rows in the same order: update only the cells that changed.
            columns = list(self.columns)
            for (key, cells), (_, old) in zip(rows, self._shown, strict=True):
                for col, new, prev in zip(columns, cells, old, strict=False):
                    if new != prev:
                        self.update_cell(key, col, new)
            self._shown = rows
            return
        current = self.selected_key() or getattr(self, "_keep", None)
        self._keep = None
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        self._shown = rows
        if current in keys:
            self.move_cursor(row=keys.index(current))

    _keep: str | None = None

    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:
            return None
        return key.value


def _plain(cell: Any) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def _short(cell: Any, width: int) -> Any:
    if isinstance(cell, Text):
        return cell
    text = str(cell)
    return middle(text, width) if len(text) > width else text
