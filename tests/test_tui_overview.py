"""The overview and the live tail, driven with the pilot over a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.base.model import Span
from console.store import Storage, Store
from tests.conftest import run_cli
from tests.tui_data import NOW, demo_records, demo_spans
from tests.tui_helpers import screen_text, wait_for
from tui import make_app
from tui_app.linetable import LineTable

pytestmark = pytest.mark.asyncio
BACKENDS = ("sqlite", "chdb", "chdb-json")  # every test that takes ``store`` on each store


async def test_overview_shows_a_service_after_spans_arrive(store: Storage, store_url: str) -> None:
    app = make_app(store_url, now=NOW, refresh_s=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "OTEL_EXPORTER_OTLP_ENDPOINT" in screen_text(app))
        assert "handoff-console demo" in screen_text(app)
        writer = store.writer(flush_ms=20)
        try:
            writer.submit(demo_spans(NOW))
            writer.flush()
        finally:
            writer.close()
        await wait_for(pilot, lambda: "upload-service" in screen_text(app))
        text = screen_text(app)
        assert "catalog-service" in text and "OTEL_EXPORTER" not in text
        row = next(line for line in text.splitlines() if "catalog-service" in line)
        assert "10%" in row  # one upload in ten fails in the catalog


async def test_overview_at_80x24_drills_into_journeys_and_back(
    store: Storage, store_url: str
) -> None:
    store.write(demo_records())
    app = make_app(store_url, now=NOW, refresh_s=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "canvasflow.uploads.dlq" in screen_text(app))
        text = screen_text(app)
        assert "image-processor" in text and "● collector" in text
        await pilot.press("j", "k", "down")
        services = app.screen.query_one("#services", LineTable)
        assert services.cursor_row == 1  # down, up, down: the second service
        picked = services.selected_key()
        assert picked is not None and picked in text
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "journeys")
        assert app.drill is not None
        assert (app.drill.kind, app.drill.value) == ("service", picked)
        await wait_for(pilot, lambda: f"service: {picked}" in screen_text(app))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.current_mode == "overview")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: "command palette" in screen_text(app))
        await pilot.press("escape")
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)


async def test_live_tail_filters_and_pauses(store: Storage, store_url: str) -> None:
    store.write(demo_records())
    app = make_app(store_url, now=NOW, refresh_s=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: "200 shown" in screen_text(app))
        await pilot.press("slash")
        await pilot.press(*"corr-0119")
        await wait_for(pilot, lambda: "shown matching 'corr-0119'" in screen_text(app))
        shown = app.screen.query_one("#tail", LineTable).row_count
        assert shown == 5  # four spans and one hop of that upload
        await pilot.press("enter", "p")
        await wait_for(pilot, lambda: "paused" in screen_text(app))
        fresh = Span(
            "a" * 32,
            "b" * 16,
            "late",
            NOW,
            NOW + 1,
            "upload-service",
            kind=2,
            correlation_id="corr-0119-late",
        )
        store.write([fresh])
        await pilot.pause(0.4)
        assert app.screen.query_one("#tail", LineTable).row_count == shown
        await pilot.press("p")
        await wait_for(
            pilot, lambda: app.screen.query_one("#tail", LineTable).row_count == shown + 1
        )


async def test_command_palette_reaches_every_screen(store: Storage, store_url: str) -> None:
    store.write(demo_records())
    app = make_app(store_url, now=NOW, refresh_s=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        for title, mode in (
            ("Live tail", "tail"),
            ("Dead letters", "dlq"),
            ("Journeys", "journeys"),
        ):
            await pilot.press("ctrl+p")
            await wait_for(pilot, lambda: app.screen.__class__.__name__ == "CommandPalette")
            await pilot.press(*title)
            await wait_for(pilot, lambda: f"{title}:" in screen_text(app))  # noqa: B023  # awaited here
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.current_mode == mode)  # noqa: B023  # awaited here


async def test_an_old_store_is_not_called_empty_and_w_widens_the_window(
    store: Storage, store_url: str
) -> None:
    """Opened 31 minutes after a demo run: the overview says what the store holds."""
    store.write(demo_records(NOW - 31 * 60 * 1_000_000_000))
    app = make_app(store_url, now=NOW, refresh_s=0.2)
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: "Nothing in the last 15m" in screen_text(app), timeout=30)
        text = screen_text(app)
        assert "No spans and no Kafka traffic" not in text
        assert "w widens the window" in text and "window 15m" in text
        held = text[text.index("The store holds") :].split(";")[0]
        assert held.startswith("The store holds ") and " spans and " in held and "hops" in held
        await pilot.press("w")  # 15m -> 1h: the run is in the window again
        await wait_for(pilot, lambda: "window 1h" in screen_text(app), timeout=30)
        await wait_for(pilot, lambda: "upload-service" in screen_text(app), timeout=30)
        await pilot.press("2")
        await wait_for(pilot, lambda: "window 1h" in screen_text(app), timeout=30)
        await wait_for(pilot, lambda: "corr-0" in screen_text(app), timeout=30)


async def test_tui_since_sets_the_window(db_path: Path) -> None:
    Store.open(db_path).write(demo_records())
    assert make_app(db_path, now=NOW, since_s=None).window_label == "all"
    assert make_app(db_path, now=NOW, since_s=6 * 3600).window_label == "6h"
    bad = run_cli("tui", "--attach", "--since", "soon", "--db", str(db_path))
    assert bad.returncode == 2 and "--since" in bad.stderr
