"""Tables that use the terminal: CanvasFlow's own names (``canvasflow-order-orchestrator``,
``canvasflow.order-commands-retry``, Spring reasons, ``cf-…`` correlation ids) at 80x24, 120x35
and 200x50. At 120 columns they show whole; narrower, they shorten in the middle."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from console.base.model import SeriesPoint
from console.store import Store
from tests.tui_data import NOW, S, demo_dead_letters, demo_hops, demo_series, demo_spans
from tests.tui_helpers import screen_text, wait_for
from tui import make_app
from tui_app.linetable import LineTable

# These snapshots are of screens, not of alerts: no rule, so no toast lands on them at a time
# that races the snapshot (the alerts screen has a snapshot of its own).
NO_ALERTS: list = []

RENAME = {
    "upload-service": "canvasflow-upload",
    "image-processor": "canvasflow-image-processor",
    "catalog-service": "canvasflow-catalog",
    "order-orchestrator": "canvasflow-order-orchestrator",
}
RETRY = "canvasflow.order-commands-retry"
REASON = "TransientError: print shop API timed out"
SIZES = [(80, 24), (120, 35), (200, 50)]


def _cf(corr: str | None) -> str | None:
    """CanvasFlow's own correlation id for ``corr-0042``: ``cf-`` and 32 hex digits."""
    return corr and f"cf-9dd99591374e43d1a8b2{int(corr.rsplit('-', 1)[1]):010x}"


def _canvasflow(db_path: Path, *, cf_ids: bool = False) -> None:
    """The demo with CanvasFlow's names; ``cf_ids``: its journeys' correlation ids too."""
    ids = _cf if cf_ids else (lambda corr: corr)
    spans = [
        dataclasses.replace(s, service=RENAME[s.service], correlation_id=ids(s.correlation_id))
        for s in demo_spans()
    ]
    hops = [
        dataclasses.replace(
            h, topic=RETRY, key=f"ord-{i:012x}".encode(), correlation_id=ids(h.correlation_id)
        )
        for i, h in enumerate(demo_hops())
    ]
    series = [
        dataclasses.replace(p, subject=RETRY) if p.subject == "canvasflow.uploads" else p
        for p in demo_series()
    ]
    series.append(SeriesPoint("topic.messages_per_s", "canvasflow.order-commands", NOW - 5 * S, 3))
    dead = [
        dataclasses.replace(
            d,
            dlq_topic="canvasflow.order-commands-dlt",
            original_topic=RETRY,
            exception_class="demo_pipeline.consumer.TransientError",
            exception_message="print shop API timed out",
            correlation_id=f"cf-9dd99591374e43{i:02d}",
        )
        for i, d in enumerate(demo_dead_letters())
    ]
    Store.open(db_path).write([*spans, *hops, *series, *dead])


@pytest.mark.asyncio
async def test_at_120_columns_names_show_whole(db_path: Path) -> None:
    _canvasflow(db_path)
    app = make_app(db_path, now=NOW, refresh_s=3600, rules=NO_ALERTS)
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: "canvasflow-order-orchestrator" in screen_text(app), 30)
        text = screen_text(app)
        assert "canvasflow-image-processor" in text and RETRY in text
        assert "p95 ms" in text and "msg/s" in text  # latencies and rates name their unit
        await pilot.press("3")
        await wait_for(pilot, lambda: "cf-9dd99591374e4301" in screen_text(app), 30)
        # In the list itself (not only the detail): the reason and the correlation id whole,
        # the origin's offset kept; the dead letter's own topic (the origin's DLT) gives way.
        row = next(ln for ln in screen_text(app).splitlines() if "pending" in ln and ":0:40" in ln)
        assert REASON in row and "cf-9dd99591374e4300" in row and "retry:0:40" in row
        await pilot.press("2")
        await wait_for(
            pilot, lambda: "shown" in screen_text(app) and "corr-01" in screen_text(app), 30
        )
        assert RETRY in screen_text(app)  # the topic where the journey stands, whole


@pytest.mark.asyncio
async def test_at_80_columns_names_shorten_in_the_middle(db_path: Path) -> None:
    _canvasflow(db_path)
    app = make_app(db_path, now=NOW, refresh_s=3600, rules=NO_ALERTS)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: "cf-9dd99591374e4301" in screen_text(app), 30)
        text = screen_text(app)
        # The distinguishing end stays: which retry topic offset, which error.
        assert "…" in text and ":0:41" in text and "timed out" in text


@pytest.mark.asyncio
async def test_journeys_show_canvasflow_ids_whole_at_120_and_keep_their_end_at_80(
    db_path: Path,
) -> None:
    _canvasflow(db_path, cf_ids=True)
    newest = _cf("corr-0113")
    assert newest is not None
    for size, whole in (((120, 35), True), ((80, 24), False)):
        app = make_app(db_path, now=NOW, refresh_s=3600, rules=NO_ALERTS)
        async with app.run_test(size=size) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: "100 shown" in screen_text(app), 30)  # noqa: B023  # awaited here
            row = next(ln for ln in screen_text(app).splitlines() if "115 ms" in ln)
            if whole:
                assert newest in row and RETRY in row
            else:
                assert newest not in row and "…" in row and newest[-10:] in row


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_overview_with_canvasflow_names(
    db_path: Path, snap_compare: Callable[..., bool], size: tuple[int, int]
) -> None:
    _canvasflow(db_path)
    app = make_app(db_path, now=NOW, refresh_s=3600, rules=NO_ALERTS)

    async def loaded(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: app.screen.query_one("#topics", LineTable).row_count == 4)

    assert snap_compare(app, terminal_size=size, run_before=loaded)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dead_letters_with_canvasflow_names(
    db_path: Path, snap_compare: Callable[..., bool], size: tuple[int, int]
) -> None:
    _canvasflow(db_path)
    app = make_app(db_path, now=NOW, refresh_s=3600, rules=NO_ALERTS)

    async def listed(pilot: Pilot) -> None:
        await pilot.press("3")
        pane = app.screen.query_one("#dlq-detail-text")
        await wait_for(pilot, lambda: "canvasflow.order-commands-dlt:0:8" in str(pane.render()))

    assert snap_compare(app, terminal_size=size, run_before=listed)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_journeys_with_canvasflow_names(
    db_path: Path, snap_compare: Callable[..., bool], size: tuple[int, int]
) -> None:
    _canvasflow(db_path, cf_ids=True)
    app = make_app(db_path, now=NOW, refresh_s=3600, rules=NO_ALERTS)

    async def listed(pilot: Pilot) -> None:
        await pilot.press("2")
        await wait_for(
            pilot, lambda: "shown" in str(app.screen.query_one("#journeys-status").render())
        )

    assert snap_compare(app, terminal_size=size, run_before=listed)
