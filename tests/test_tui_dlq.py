"""Dead letters on screen, against the real broker: open one, break the edit (error by line,
replay disabled), fix it, replay behind the confirmation, see it marked replayed."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from textual.widgets import Button, ProgressBar, TextArea

from console.dlq import DlqFilter
from console.store import Storage
from tests.conftest import create_topic
from tests.dlq_helpers import dead_letters_on_broker, headers_of, read_topic, write_contract
from tests.tui_helpers import screen_text, wait_for
from tui import make_app

pytestmark = pytest.mark.asyncio
BACKENDS = ("sqlite", "chdb")  # every test on both stores (tests/conftest.py)

POISON = b'{"order_id":"o-1","quantity":"two","sku":"canvas-40x60"}'


async def test_open_fix_and_replay_a_dead_letter(
    kafka_bootstrap: str, topic: str, store: Storage, store_url: str, tmp_path: Path
) -> None:
    original, dlt = topic, f"{topic}-dlt"
    create_topic(kafka_bootstrap, original)
    create_topic(kafka_bootstrap, dlt)
    [letter] = dead_letters_on_broker(
        kafka_bootstrap,
        store,
        dlq_topic=dlt,
        original_topic=original,
        payloads=[POISON],
        correlation_ids=["corr-tui-1"],
    )
    contracts = write_contract(tmp_path / "contracts", original)
    app = make_app(store_url, bootstrap=kafka_bootstrap, contracts_dir=contracts, refresh_s=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: letter.coordinates in screen_text(app), timeout=30)
        # The detail: decoded Spring headers, the pretty payload and the contract's verdict.
        pane = app.screen.query_one("#dlq-detail-text")
        await wait_for(pilot, lambda: "kafka_dlt-original-topic" in str(pane.render()), timeout=30)
        text = str(pane.render())
        assert "invalid" in text and "$.quantity" in text
        assert '"quantity": "two"' in text

        await pilot.press("e")
        await wait_for(pilot, lambda: "error(s): replay is off" in screen_text(app), timeout=30)
        editor = app.screen.query_one("#editor", TextArea)
        replay = app.screen.query_one("#replay", Button)
        assert replay.disabled
        assert "line 3:" in screen_text(app)  # "quantity" sits on line 3 of the pretty JSON

        # Break the JSON itself: the error names the line and replay stays off.
        editor.text = editor.text.replace('"two"', '"two')
        await wait_for(pilot, lambda: "not JSON" in screen_text(app))
        assert app.screen.query_one("#replay", Button).disabled

        # Fix it: valid, replay enabled; the diff shows the change.
        editor.text = editor.text.replace('"two', "2")
        await wait_for(pilot, lambda: "valid against the contract" in screen_text(app))
        assert not app.screen.query_one("#replay", Button).disabled
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: '+  "quantity": 2,' in screen_text(app))

        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "with this payload?" in screen_text(app))
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "DlqScreen", timeout=60)
        await wait_for(
            pilot,
            lambda: any(
                letter.coordinates in ln and "replayed" in ln
                for ln in screen_text(app).splitlines()
            ),
            timeout=30,
        )

    [msg] = read_topic(kafka_bootstrap, original)
    assert json.loads(msg.value()) == {"order_id": "o-1", "quantity": 2, "sku": "canvas-40x60"}
    headers = headers_of(msg)
    assert headers["x-correlation-id"] == b"corr-tui-1"
    assert headers["x-replayed-from"] == letter.coordinates.encode()
    assert not any(name.startswith("kafka_dlt-exception") for name in headers)
    with contextlib.closing(store.dead_letters()) as letters:
        statuses = [(i.status,) for i in letters.list_items(DlqFilter())]
    assert [s[0] for s in statuses] == ["replayed"]


async def test_replay_asks_first_and_cancel_sends_nothing(
    kafka_bootstrap: str, topic: str, store: Storage, store_url: str, tmp_path: Path
) -> None:
    original, dlt = topic, f"{topic}-dlt"
    create_topic(kafka_bootstrap, original)
    create_topic(kafka_bootstrap, dlt)
    dead_letters_on_broker(
        kafka_bootstrap, store, dlq_topic=dlt, original_topic=original, payloads=[POISON]
    )
    app = make_app(
        store_url,
        bootstrap=kafka_bootstrap,
        contracts_dir=write_contract(tmp_path / "c", original),
        refresh_s=3600,
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: "pending" in screen_text(app), timeout=30)
        await pilot.press("r")
        await wait_for(pilot, lambda: "Cancel (n)" in screen_text(app))
        await pilot.press("n")
        await pilot.press("a")
        await wait_for(pilot, lambda: "Audit trail" in screen_text(app))
    # A replay writes its ledger line before it produces: a cancelled one wrote none, left the
    # dead letter pending and produced nothing.
    with contextlib.closing(store.dead_letters()) as letters:
        assert list(letters.ledger_lines().values()) == []
        statuses = [(i.status,) for i in letters.list_items(DlqFilter())]
        assert statuses == [("pending",)]
    assert read_topic(kafka_bootstrap, original, timeout=5) == []


async def test_bulk_replay_with_progress_and_discard(
    kafka_bootstrap: str, topic: str, store: Storage, store_url: str, tmp_path: Path
) -> None:
    original, dlt = topic, f"{topic}-dlt"
    create_topic(kafka_bootstrap, original)
    create_topic(kafka_bootstrap, dlt)
    good = b'{"order_id":"o-%d","quantity":1}'
    letters = dead_letters_on_broker(
        kafka_bootstrap,
        store,
        dlq_topic=dlt,
        original_topic=original,
        payloads=[good % i for i in range(4)],
    )
    app = make_app(
        store_url,
        bootstrap=kafka_bootstrap,
        contracts_dir=write_contract(tmp_path / "c", original),
        refresh_s=3600,
    )
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: "4 shown" in screen_text(app), timeout=30)
        # Discard the selected one (the newest), then replay every pending one shown.
        await pilot.press("x")
        await wait_for(pilot, lambda: "without replay?" in screen_text(app))
        await pilot.press("y")
        # Its row says so (not only the notice): the list was read again after the discard.
        await wait_for(
            pilot,
            lambda: any(
                ln.lstrip().startswith("discarded") for ln in screen_text(app).splitlines()
            ),
            timeout=30,
        )
        await pilot.press("R")
        await wait_for(pilot, lambda: "Replay all 3 pending" in screen_text(app))
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: (
                sum(ln.lstrip().startswith("replayed") for ln in screen_text(app).splitlines()) == 3
            ),
            timeout=60,
        )
        bar = app.screen.query_one("#replay-progress", ProgressBar)
        assert bar.display and bar.progress == bar.total == 3
    values = sorted(m.value() for m in read_topic(kafka_bootstrap, original))
    discarded = max(letters, key=lambda d: (d.timestamp_ms, d.offset))
    assert len(values) == 3 and discarded.payload not in values
