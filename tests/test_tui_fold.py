"""A big journey in the TUI's waterfall: repeated siblings folded as ``trace`` folds them, ``f``
(or Enter) unfolds the selected run, ``a`` shows every span and folds again."""

from __future__ import annotations

import pytest

from console.store import Storage
from tests.tui_data import BIG_CID as CID
from tests.tui_data import BIG_TRACE as TRACE
from tests.tui_data import NOW, big_journey
from tests.tui_helpers import screen_text, wait_for
from tui import make_app
from tui_app.linetable import LineTable

pytestmark = pytest.mark.asyncio
BACKENDS = ("sqlite", "chdb")  # every test that takes ``store`` on both (tests/conftest.py)


def _labels(app: object) -> list[str]:
    table = app.screen.query_one("#waterfall", LineTable)  # type: ignore[attr-defined]
    return [row[0] for row in table._rows]


async def test_a_big_journey_opens_folded_and_unfolds_on_a_key(
    store: Storage, store_url: str
) -> None:
    spans = big_journey()
    store.write(spans)
    app = make_app(store_url, now=NOW, refresh_s=3600)
    async with app.run_test(size=(140, 40)) as pilot:
        app.open_journey(CID)
        await wait_for(pilot, lambda: "journey corr-big-1" in screen_text(app), timeout=30)
        text = screen_text(app)
        assert "… 26 more render-tile" in text  # the first 3 and the slowest of 30 shown
        assert "… 3 more render-page" in text  # the first 3 (one holds the error) shown
        assert "dead letters · 170 folded" in text
        # The keys, in the footer.
        await wait_for(
            pilot, lambda: "Unfold" in screen_text(app) and "All spans" in screen_text(app)
        )
        rows = _labels(app)
        folds = [k for k in rows if k.startswith("fold:")]
        shown = [k for k in rows if k.startswith("span:")]
        assert len(shown) < len(spans) // 3 and folds
        # The failed tile stays in view, with its page.
        assert f"span:{TRACE}:c{2:07x}{11:08x}" in rows and f"span:{TRACE}:a{2:015x}" in rows
        # Enter on the first folded run of tiles unfolds it: its spans appear, the cursor on
        # the first of them.
        table = app.screen.query_one("#waterfall", LineTable)
        tile_fold = next(k for k in folds if k.endswith(":render-tile"))
        table.move_cursor(row=rows.index(tile_fold))
        await pilot.press("enter")
        await wait_for(pilot, lambda: tile_fold not in _labels(app))
        assert len([k for k in _labels(app) if k.startswith("span:")]) > len(shown)
        key = table.selected_key()
        assert key is not None and key.startswith("span:")
        # a: every span; again: folded again.
        await pilot.press("a")
        await wait_for(pilot, lambda: not any(k.startswith("fold:") for k in _labels(app)))
        assert len([k for k in _labels(app) if k.startswith("span:")]) == len(spans)
        await pilot.press("a")
        await wait_for(pilot, lambda: any(k.startswith("fold:") for k in _labels(app)))
