"""Snapshots of named UI states, with deterministic data (fixed ids, timestamps and ``now``).

Regenerate after an intended change with ``pytest tests/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from console.store import Store
from tests.tui_data import NOW, demo_records
from tests.tui_helpers import wait_for
from tui import make_app

SIZE = (100, 30)


def _app(db_path: Path):  # type: ignore[no-untyped-def]
    Store.open(db_path).write(demo_records())
    return make_app(db_path, now=NOW, refresh_s=3600)


def test_overview_with_demo_traffic(db_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = _app(db_path)

    async def loaded(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: app.screen.query_one("#topics").row_count == 3)

    assert snap_compare(app, terminal_size=SIZE, run_before=loaded)


def test_overview_empty_says_what_to_do(db_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    Store.open(db_path)
    app = make_app(db_path, now=NOW, refresh_s=3600)

    async def loaded(pilot: Pilot) -> None:
        health = app.screen.query_one("#health")
        await wait_for(pilot, lambda: "collector unknown" in str(health.render()))

    assert snap_compare(app, terminal_size=(80, 24), run_before=loaded)
