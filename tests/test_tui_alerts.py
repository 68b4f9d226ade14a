"""Alerts in the TUI: the header counts what fires, a firing alert notifies once, 6 lists firing
and recent alerts, and Enter opens what an alert is about; discarding the dead letters resolves
it on screen."""

from __future__ import annotations

from pathlib import Path

import pytest

from console import dlq
from console.alerts import parse_rules
from console.base.model import SeriesPoint
from console.store import Store
from tests.tui_data import NOW, S, demo_dead_letters, demo_records
from tests.tui_helpers import screen_text, wait_for
from tui import make_app

pytestmark = pytest.mark.asyncio


def _notes(app: object) -> list[str]:
    return [n.message for n in app._notifications]  # type: ignore[attr-defined]  # Textual's own list


async def test_a_firing_dlq_alert_in_the_header_notified_once_and_opened(
    store: Store, db_path: Path
) -> None:
    store.write([*demo_records(), *demo_dead_letters()])
    app = make_app(db_path, now=NOW, refresh_s=3600)
    async with app.run_test(size=(140, 36)) as pilot:
        await wait_for(pilot, lambda: "▲ 1 alert firing · 6 shows them" in screen_text(app))
        firing = [n for n in _notes(app) if "pending on canvasflow.orders-dlt" in n]
        assert firing == [
            "2 dead letters pending on canvasflow.orders-dlt (above 0) · 6 shows alerts"
        ]

        await pilot.press("6")
        await wait_for(pilot, lambda: "DeadLettersPending" in screen_text(app))
        text = screen_text(app)
        assert "Alerts · 1 firing" in text
        assert "dlq_topic canvasflow.orders-dlt" in text
        # Evaluated again: still firing, still one notification.
        await pilot.press("r")
        await pilot.press("r")
        await wait_for(pilot, lambda: app.alerts_view is not None and not app.alerts_view.changes)
        assert sum("pending on canvasflow.orders-dlt" in n for n in _notes(app)) == 1

        await pilot.press("enter")  # opens the DLQ topic's dead letters
        await wait_for(pilot, lambda: app.current_mode == "dlq")
        await wait_for(pilot, lambda: "canvasflow.orders-dlt:0:7" in screen_text(app))
        assert "filter 'canvasflow.orders-dlt'" in screen_text(app)

        letters = store.dead_letters()  # `dlq discard --all`, as the CLI does it
        dlq.discard(letters, dlq.select_dead_letters(letters, dlq.DlqFilter(status="pending")))
        letters.close()
        app.evaluate_alerts()
        await wait_for(pilot, lambda: "alert firing" not in screen_text(app))
        await pilot.press("6")
        await wait_for(pilot, lambda: "resolved" in screen_text(app))
        assert "Alerts · 0 firing" in screen_text(app)


async def test_a_lag_alert_opens_the_overview_on_its_topic(store: Store, db_path: Path) -> None:
    store.write(
        [
            *demo_records(),
            *(
                SeriesPoint("consumer.lag_total", "canvasflow.artworks", NOW - k * S, 900.0, "ink")
                for k in range(0, 60, 5)
            ),
        ]
    )
    rules = parse_rules('[[rules]]\nname = "Lag"\nkind = "lag_above"\nabove = 500\n')
    app = make_app(db_path, now=NOW, refresh_s=3600, rules=rules)
    async with app.run_test(size=(140, 36)) as pilot:
        await pilot.press("6")
        await wait_for(pilot, lambda: "topic canvasflow.artworks, group ink" in screen_text(app))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "overview")
        topics = app.screen.query_one("#topics")
        await wait_for(pilot, lambda: topics.selected_key() == "canvasflow.artworks")  # type: ignore[attr-defined]  # LineTable
        assert app.screen.focused is topics


async def test_service_and_stalled_alerts_open_the_panel_and_the_stalled_journeys(
    store: Store, db_path: Path
) -> None:
    store.write(demo_records())  # catalog-service fails 10 % of its work; uploads wait unread
    rules = parse_rules(
        """
[[rules]]
name = "Errors"
kind = "error_rate"
above_percent = 5
window = "10m"

[[rules]]
name = "Stalled"
kind = "journeys_stalled"
longer_than = "5m"
"""
    )
    app = make_app(db_path, now=NOW, refresh_s=3600, rules=rules)
    async with app.run_test(size=(140, 36)) as pilot:
        await pilot.press("6")
        await wait_for(pilot, lambda: "service catalog-service" in screen_text(app))
        await wait_for(pilot, lambda: "topic canvasflow.uploads" in screen_text(app))
        await pilot.press("enter")  # the first row: the error rate of catalog-service
        await wait_for(pilot, lambda: app.current_mode == "overview")
        services = app.screen.query_one("#services")
        await wait_for(pilot, lambda: services.selected_key() == "catalog-service")  # type: ignore[attr-defined]  # LineTable

        await pilot.press("6", "down", "enter")  # the second: journeys stalled on the uploads
        await wait_for(pilot, lambda: app.current_mode == "journeys")
        await wait_for(
            pilot,
            lambda: (
                "status: stalled" in screen_text(app)
                and "topic: canvasflow.uploads" in screen_text(app)
            ),
        )
