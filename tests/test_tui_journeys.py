"""Journeys on screen: find one by id, open its waterfall, read a span, jump along a link."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from console.base.model import Hop, LogRecord, Span, SpanLink
from console.store import Storage
from tests.tui_data import NOW, demo_dead_letters, demo_records, demo_spans
from tests.tui_helpers import screen_text, wait_for
from tui import make_app
from tui_app.app import HandoffApp

pytestmark = pytest.mark.asyncio
# Every test that takes ``store`` on both stores (tests/conftest.py), the dead letters' screen
# included.
BACKENDS = ("sqlite", "chdb", "chdb-json")


def _screen(app: HandoffApp) -> Any:
    """The screen on top, whichever it is (each test step knows which, and calls its methods)."""
    return app.screen


def _linked_store(store: Storage) -> None:
    """Demo traffic, plus one upload whose catalog span starts a new trace linked to its parent."""
    records = demo_records()
    spans = [s for s in demo_spans() if s.correlation_id == "corr-0007"]
    linked = dataclasses.replace(
        spans[2],
        name="consume canvasflow.artworks",
        trace_id="f" * 32,
        parent_span_id=None,
        links=(SpanLink(spans[1].trace_id, spans[1].span_id),),
        correlation_id=None,
    )
    store.write([*records, linked])


async def test_find_a_journey_by_id_and_open_its_waterfall(store: Storage, store_url: str) -> None:
    _linked_store(store)
    app = make_app(store_url, now=NOW, refresh_s=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: "shown" in screen_text(app), timeout=30)
        await pilot.press("slash", *"corr-0040", "enter")
        await wait_for(pilot, lambda: "journey corr-0040" in screen_text(app), timeout=30)
        text = screen_text(app)
        for service in ("upload-service", "image-processor", "catalog-service"):
            assert service in text
        assert "POST /uploads" in text and "◆" in text  # the Kafka hop on the axis
        # The catalog span failed: the detail pane shows it when the cursor reaches it.
        for _ in range(4):
            await pilot.press("j")
        await wait_for(pilot, lambda: "catalog-service · process" in screen_text(app))
        assert "ERROR" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: "Journeys · status" in screen_text(app))


async def test_search_by_trace_id_and_follow_a_link_to_another_trace(
    store: Storage, store_url: str
) -> None:
    _linked_store(store)
    app = make_app(store_url, now=NOW, refresh_s=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2", "slash", *("f" * 32), "enter")
        # The journey reaches the first trace through the link; the cursor starts on the span
        # of the trace that was searched for.
        await wait_for(pilot, lambda: "link 1 → trace" in screen_text(app), timeout=30)
        assert "catalog-service · consume canvasflow.artworks" in screen_text(app)
        await pilot.press("l")
        await wait_for(
            pilot, lambda: "image-processor · process canvasflow.step1" in screen_text(app)
        )


async def test_unknown_id_says_so(store: Storage, store_url: str) -> None:
    store.write(demo_records())
    app = make_app(store_url, now=NOW, refresh_s=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2", "slash", *"no-such-id", "enter")
        await wait_for(pilot, lambda: "no journey for no-such-id" in screen_text(app))


async def test_search_by_a_message_key_opens_its_journey(store: Storage, store_url: str) -> None:
    """Support names the order: ``/`` takes the message key ``trace --key`` takes."""
    records = [
        dataclasses.replace(r, key=b"ord-553188e4b575")
        if isinstance(r, Hop) and r.correlation_id == "corr-0040"
        else r
        for r in demo_records()
    ]
    store.write(records)
    app = make_app(store_url, now=NOW, refresh_s=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2", "slash", *"ord-553188e4b575", "enter")
        await wait_for(pilot, lambda: "journey corr-0040" in screen_text(app), timeout=30)


async def test_the_waterfall_marks_a_spans_logs_and_shows_its_exception(
    store: Storage, store_url: str
) -> None:
    t0 = NOW - 120 * 1_000_000_000
    span = Span(
        "e" * 32, "1" * 16, "process canvasflow.order-commands", t0, t0 + 80_000_000,
        "canvasflow-fulfillment", kind=5, status_code=2, status_message="transient failure",
        correlation_id="corr-logs",
        events=({
            "name": "exception", "time_ns": t0 + 70_000_000,
            "attributes": {
                "exception.type": "TimeoutError",
                "exception.message": "print shop API timed out",
                "exception.stacktrace": "Traceback (most recent call last):\n  File \"x.py\"",
            },
        },),
    )  # fmt: skip
    log = LogRecord(
        t0 + 40_000_000, "canvasflow-fulfillment", 17, "ERROR", "print shop said 504",
        trace_id=span.trace_id, span_id=span.span_id, correlation_id="corr-logs",
    )  # fmt: skip
    store.write([span, log])
    app = make_app(store_url, now=NOW, refresh_s=3600)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("2", "slash", *"corr-logs", "enter")
        await wait_for(pilot, lambda: "journey corr-logs" in screen_text(app), timeout=30)
        await pilot.press("j")
        await wait_for(pilot, lambda: "logs (1)" in screen_text(app))
        text = screen_text(app)
        # the log record on its span's bar, where it was written
        assert any("█" in line and "≡" in line for line in text.splitlines())
        assert "≡ ERROR print shop said 504" in text
        assert "⚠ TimeoutError: print shop API timed out" in text
        assert "Traceback (most recent call last):" in text


async def test_one_loop_from_a_dead_letter_to_its_journey_and_back(
    store: Storage, store_url: str
) -> None:
    store.write([*demo_records(), *demo_dead_letters()])
    app = make_app(store_url, now=NOW, refresh_s=0.5)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: _screen(app).selected() is not None, timeout=30)
        coords = _screen(app).selected()
        await pilot.press("y")
        assert app.clipboard == coords
        # J (j moves down) opens the dead letter's journey.
        await pilot.press("J")
        await wait_for(pilot, lambda: f"DLQ {coords}" in screen_text(app), timeout=30)
        head = _screen(app).query_one("#journey-head").render().plain
        spans_before = _screen(app).view.spans
        # The journey grows while it is open (a replay's consumer reporting): no key pressed.
        late = dataclasses.replace(
            spans_before[-1], span_id="9" * 16, name="process replayed order", start_ns=NOW
        )
        store.write([late])
        await wait_for(pilot, lambda: "process replayed order" in screen_text(app), timeout=30)
        assert _screen(app).query_one("#journey-head").render().plain != head
        # d on the dead letter's row opens it in the dead letters, selected.
        await pilot.press("G", "d")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "DlqScreen", timeout=30)
        await wait_for(pilot, lambda: _screen(app).selected() == coords, timeout=30)
