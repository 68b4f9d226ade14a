"""One time window for every screen: each screen names it, ``w`` pressed on one changes it on
all, the dead letters, journeys and metrics follow it, and an empty window says what the store
holds instead of looking empty."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from console.store import Storage, Store
from tests.tui_data import MS, NOW, S, demo_dead_letters, demo_logs, demo_metrics, demo_records
from tests.tui_helpers import screen_text, wait_for
from tui import make_app

pytestmark = pytest.mark.asyncio
BACKENDS = ("sqlite", "chdb")  # every test that takes ``store`` on both (tests/conftest.py)

OLD = NOW - 31 * 60 * S  # a demo run 31 minutes before the console opens: outside 15m, inside 1h


def _hhmm(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9).strftime("%H:%M")


async def test_every_screen_names_the_window_and_w_changes_it_on_all(
    store: Storage, store_url: str
) -> None:
    store.write([*demo_records(), *demo_dead_letters(), *demo_logs(), *demo_metrics()])
    app = make_app(store_url, now=NOW, refresh_s=3600)
    async with app.run_test(size=(120, 35)) as pilot:
        for key, title in (("2", "Journeys"), ("3", "Dead letters"), ("4", "Live tail")):
            await pilot.press(key)

            def titled(t: str = title) -> bool:
                return any(
                    ln.strip().startswith(t) and "window 15m" in ln
                    for ln in screen_text(app).splitlines()
                )

            await wait_for(pilot, titled, 30)
        await pilot.press("5")
        await wait_for(pilot, lambda: "Metrics · window 15m" in screen_text(app), 30)
        await pilot.press("w")  # on the metrics screen: every other screen follows
        await wait_for(pilot, lambda: "Metrics · window 1h" in screen_text(app), 30)
        for key, title in (("3", "Dead letters"), ("4", "Live tail"), ("2", "Journeys")):
            await pilot.press(key)

            def titled_1h(t: str = title) -> bool:
                return any(
                    ln.strip().startswith(t) and "window 1h" in ln
                    for ln in screen_text(app).splitlines()
                )

            await wait_for(pilot, titled_1h, 30)
        await pilot.press("1")
        await wait_for(pilot, lambda: "window 1h" in screen_text(app), 30)


async def test_dead_letters_outside_the_window_are_not_listed_and_the_screen_says_so(
    db_path: Path,
) -> None:
    letters = demo_dead_letters(OLD)
    Store.open(db_path).write([*demo_records(OLD), *letters])
    app = make_app(db_path, now=NOW, refresh_s=3600)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: "No dead letters in the last 15m" in screen_text(app), 30)
        text = screen_text(app)
        last = max(d.timestamp_ms for d in letters) * MS
        assert f"The store holds 2 dead letters, the last at {_hhmm(last)};" in text
        assert "w widens the window" in text and "0 shown" in text
        assert "dlt:0:7" not in text
        await pilot.press("w")  # 15m -> 1h: both are in the window again
        await wait_for(pilot, lambda: "2 shown" in screen_text(app), 30)
        text = screen_text(app)
        assert "window 1h" in text and "dlt:0:7" in text
        assert "No dead letters in the last" not in text


async def test_an_empty_journeys_window_says_what_the_store_holds(
    store: Storage, store_url: str
) -> None:
    records = demo_records(OLD)
    store.write(records)
    app = make_app(store_url, now=NOW, refresh_s=3600)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: "No journeys in the last 15m" in screen_text(app), 30)
        text = screen_text(app)
        held = text[text.index("The store holds") :].split(";")[0]
        assert held.startswith("The store holds ") and " spans and " in held and "hops" in held
        assert "w widens the window" in text and "corr-0" not in text
        await pilot.press("w")
        await wait_for(pilot, lambda: "corr-0" in screen_text(app), 30)
        assert "No journeys in the last" not in screen_text(app)


async def test_the_metrics_screen_follows_the_window(store: Storage, store_url: str) -> None:
    store.write([*demo_records(OLD), *demo_metrics(OLD)])
    app = make_app(store_url, now=NOW, refresh_s=3600)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("5")
        await wait_for(pilot, lambda: "No metric points in the last 15m" in screen_text(app), 30)
        assert "upload-service" not in screen_text(app)
        await pilot.press("w")
        await wait_for(pilot, lambda: "upload-service" in screen_text(app), 30)
        assert "Metrics · window 1h" in screen_text(app)
