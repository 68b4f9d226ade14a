"""Snapshots of named UI states, with deterministic data (fixed ids, timestamps and ``now``).

Regenerate after an intended change with ``pytest tests/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import TextArea

from console.store import Store
from tests.tui_data import NOW, demo_dead_letters, demo_logs, demo_metrics, demo_records
from tests.tui_helpers import screen_text, wait_for
from tui import HandoffApp, make_app
from tui_app.linetable import LineTable

# These snapshots are of screens, not of alerts: no rule, so no toast lands on them at a time
# that races the snapshot (the alerts screen has a snapshot of its own).
NO_ALERTS: list = []

SnapCompare = Callable[..., bool]  # pytest-textual-snapshot's fixture
SIZE = (100, 30)
CONTRACTS = Path(__file__).parent / "tui_contracts"


def _app(db_path: Path) -> Any:
    Store.open(db_path).write(demo_records())
    return make_app(db_path, now=NOW, refresh_s=3600, rules=NO_ALERTS)


def test_overview_with_demo_traffic(db_path: Path, snap_compare: SnapCompare) -> None:
    app = _app(db_path)

    async def loaded(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: app.screen.query_one("#topics").row_count == 3)

    assert snap_compare(app, terminal_size=SIZE, run_before=loaded)


def test_overview_empty_says_what_to_do(db_path: Path, snap_compare: SnapCompare) -> None:
    Store.open(db_path)
    app = make_app(db_path, now=NOW, refresh_s=3600, rules=NO_ALERTS)

    async def loaded(pilot: Pilot) -> None:
        health = app.screen.query_one("#health")
        await wait_for(pilot, lambda: "collector unknown" in str(health.render()))

    assert snap_compare(app, terminal_size=(80, 24), run_before=loaded)


def _dlq_app(db_path: Path) -> HandoffApp:
    Store.open(db_path).write([*demo_records(), *demo_dead_letters()])
    return make_app(db_path, now=NOW, refresh_s=3600, contracts_dir=CONTRACTS, rules=NO_ALERTS)


def test_dlq_entry_selected(db_path: Path, snap_compare: SnapCompare) -> None:
    app = _dlq_app(db_path)

    async def selected(pilot: Pilot) -> None:
        await pilot.press("3")
        pane = app.screen.query_one("#dlq-detail-text")
        await wait_for(pilot, lambda: "canvasflow.orders-dlt:0:8" in str(pane.render()))
        await pilot.press("j")
        await wait_for(pilot, lambda: "canvasflow.orders-dlt:0:7" in str(pane.render()))

    assert snap_compare(app, terminal_size=SIZE, run_before=selected)


def test_invalid_edit(db_path: Path, snap_compare: SnapCompare) -> None:
    app = _dlq_app(db_path)

    async def editing(pilot: Pilot) -> None:
        await pilot.press("3")
        pane = app.screen.query_one("#dlq-detail-text")
        await wait_for(pilot, lambda: "canvasflow.orders-dlt:0:8" in str(pane.render()))
        await pilot.press("j")
        await wait_for(pilot, lambda: "canvasflow.orders-dlt:0:7" in str(pane.render()))
        await pilot.press("e")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "DlqEditScreen")
        head = app.screen.query_one("#edit-head")
        await wait_for(pilot, lambda: "error(s)" in str(head.render()))
        editor = app.screen.query_one("#editor", TextArea)
        # No focused widget: no cursor, whose blink phase would make the picture flaky.
        editor.cursor_blink = False
        app.screen.set_focus(None)
        await wait_for(pilot, lambda: not editor.has_focus)
        editor.refresh()
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=editing)


def _signals_app(db_path: Path) -> Any:
    Store.open(db_path).write([*demo_records(), *demo_logs(), *demo_metrics()])
    return make_app(db_path, now=NOW, refresh_s=3600, rules=NO_ALERTS)


def test_tail_with_log_records_beside_spans_and_hops(
    db_path: Path, snap_compare: SnapCompare
) -> None:
    app = _signals_app(db_path)

    async def tailing(pilot: Pilot) -> None:
        await pilot.press("4")
        await wait_for(
            pilot, lambda: "200 shown" in str(app.screen.query_one("#tail-status").render())
        )

    assert snap_compare(app, terminal_size=SIZE, run_before=tailing)


def test_tail_only_logs_at_warn_and_above(db_path: Path, snap_compare: SnapCompare) -> None:
    app = _signals_app(db_path)

    async def filtered(pilot: Pilot) -> None:
        await pilot.press("4")
        status = app.screen.query_one("#tail-status")
        await wait_for(pilot, lambda: "200 shown" in str(status.render()))
        await pilot.press("t", "t", "t", "v", "v", "v")
        await wait_for(pilot, lambda: "6 shown" in str(status.render()))

    assert snap_compare(app, terminal_size=SIZE, run_before=filtered)


def test_metrics_screen_with_the_upload_service_selected(
    db_path: Path, snap_compare: SnapCompare
) -> None:
    app = _signals_app(db_path)

    async def selected(pilot: Pilot) -> None:
        await pilot.press("5")
        title = app.screen.query_one("#metrics-title")
        await wait_for(pilot, lambda: "thumbnail-renderer" in str(title.render()))
        await pilot.press("down", "down")
        await wait_for(pilot, lambda: "upload-service" in str(title.render()))

    assert snap_compare(app, terminal_size=SIZE, run_before=selected)


def test_metrics_screen_with_a_long_service_name_and_a_braced_unit(
    db_path: Path, snap_compare: SnapCompare
) -> None:
    """The service column as wide as canvasflow-thumbnail-renderer, ``{event}`` whole, and the
    seconds histogram whose values all sit in its first bucket shown as ``≤`` its max."""
    app = _signals_app(db_path)

    async def selected(pilot: Pilot) -> None:
        await pilot.press("5")
        title = app.screen.query_one("#metrics-title")
        await wait_for(pilot, lambda: "thumbnail-renderer" in str(title.render()))

    assert snap_compare(app, terminal_size=SIZE, run_before=selected)


def test_metric_chart_of_a_duration_histogram(db_path: Path, snap_compare: SnapCompare) -> None:
    app = _signals_app(db_path)

    async def charted(pilot: Pilot) -> None:
        await pilot.press("5")
        title = app.screen.query_one("#metrics-title")
        await wait_for(pilot, lambda: "thumbnail-renderer" in str(title.render()))
        await pilot.press("down", "down")
        await wait_for(pilot, lambda: "upload-service" in str(title.render()))
        await pilot.press("tab", "enter")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "MetricChartScreen")

    assert snap_compare(app, terminal_size=SIZE, run_before=charted)


def test_waterfall_of_a_big_journey_folded(db_path: Path, snap_compare: SnapCompare) -> None:
    """187 spans (6 pages of 30 tiles): the first three and the slowest of each run, the failed
    tile and its page, each run's rest as one ``… N more`` row."""
    from tests.tui_data import BIG_CID, big_journey

    Store.open(db_path).write(big_journey())
    app = make_app(db_path, now=NOW, refresh_s=3600, rules=NO_ALERTS)

    async def opened(pilot: Pilot) -> None:
        app.open_journey(BIG_CID)
        await wait_for(pilot, lambda: type(app.screen).__name__ == "WaterfallScreen")
        await wait_for(pilot, lambda: "Unfold" in screen_text(app))

    assert snap_compare(app, terminal_size=SIZE, run_before=opened)


def test_alerts_screen_with_a_firing_dlq_alert(db_path: Path, snap_compare: SnapCompare) -> None:
    """The default rules over the demo data: the DLQ alert fires (header, toast, the list) and
    the stalled journeys and the catalog's error rate wait out their ``for:``."""
    Store.open(db_path).write([*demo_records(), *demo_dead_letters()])
    app = make_app(db_path, now=NOW, refresh_s=3600)

    async def loaded(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: app.alerts_firing == 1)
        await pilot.press("6")
        await wait_for(
            pilot, lambda: app.screen.query_one("#alerts-firing", LineTable).row_count == 3
        )

    assert snap_compare(app, terminal_size=(120, 30), run_before=loaded)
