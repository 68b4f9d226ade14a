"""``handoff-console demo`` on a chDB store (``--store chdb:///path``), as a user runs it: the
collector, the tap and the TUI share the demo process's one store; another process opening it
meanwhile is told so in one line; afterwards ``trace`` and ``journeys`` read what it stored."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, release_chdb, run_cli
from tests.tui_helpers import screen_text, wait_for

SERVICES = {
    "canvasflow-upload", "canvasflow-image-processor", "canvasflow-catalog", "canvasflow-license",
    "canvasflow-storefront", "canvasflow-order-orchestrator", "canvasflow-fulfillment",
    "canvasflow-notification",
}  # fmt: skip


def _prefix() -> str:
    return f"c{uuid.uuid4().hex[:8]}.canvasflow"


class _Lines:
    """A child's stderr, drained on a thread (librdkafka and the services write to it)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._proc = proc
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self._proc.poll() is None, "".join(self.lines)[-3000:]
            assert time.monotonic() < deadline, "".join(self.lines)[-3000:]
            time.sleep(0.2)

    def text(self) -> str:
        self._thread.join(10)
        return "".join(self.lines)


def _journeys(url: str, status: str) -> list[dict[str, Any]]:
    res = run_cli("journeys", "--store", url, "--status", status, "--json", "--limit", "100000")
    assert res.returncode == 0, res.stderr
    found: list[dict[str, Any]] = json.loads(res.stdout)
    return found


def test_headless_demo_on_chdb_then_trace_and_journeys_on_its_store(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    url = f"chdb://{tmp_path / 'chdb'}"
    prefix = _prefix()
    release_chdb()
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "demo", "--headless", "--json", "--store", url,
         "--duration", "25", "--bootstrap", kafka_bootstrap, "--topic-prefix", prefix,
         "--poison-rate", "0.25", "--flaky-rate", "0.3", "--rate", "3", "--seed", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=os.environ,
    )  # fmt: skip
    try:
        err = _Lines(proc)
        # The services start after the demo opened its store: from then on it holds the chDB
        # directory, and a second process is refused in one line, with nothing else printed.
        err.wait_for("services running", timeout=120)
        other = run_cli("trace", "--store", url, "--correlation-id", "cf-0")
        assert other.returncode == 1
        assert other.stderr.strip().splitlines() == [
            f"error: {url}: open in another process: chdb is one process only "
            "(stop that process, or use a ClickHouse server to share a store)"
        ]
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.text()[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    # The same summary as on SQLite, the store's counts read from ClickHouse.
    assert summary["events_produced"] > summary["uploads"] > 30
    assert summary["journeys_completed"] >= 5
    assert summary["dead_letters"].get("contract-violation", 0) >= 2
    assert summary["store"]["spans"] > 100
    assert summary["store"]["hops"] >= summary["events_produced"]
    assert summary["store"]["dead_letters"] == summary["dead_letters_total"]

    # The console judges the same store as the demo counted it.
    completed = _journeys(url, "completed")
    assert len(completed) == summary["journeys_completed"]
    assert len(_journeys(url, "dead_lettered")) == summary["dead_letters_total"]
    assert len(_journeys(url, "failed")) == summary["journeys_failed"]

    # One completed journey, followed across the services by `trace`.
    cid = completed[0]["correlation_id"]
    res = run_cli("trace", "--store", url, "--correlation-id", cid, "--json")
    assert res.returncode == 0, res.stderr
    found = json.loads(res.stdout)
    assert found["correlation_id"] == cid and found["status"] == "completed"
    assert set(found["services"]) == SERVICES
    assert {h["topic"] for h in found["hops"]} >= {f"{prefix}.uploads", f"{prefix}.order-status"}
    shown = run_cli("trace", "--store", url, "--correlation-id", cid)
    assert shown.returncode == 0, shown.stderr
    assert "COMPLETED" in shown.stdout and cid in shown.stdout


def test_the_demo_s_tui_on_chdb_shows_what_its_collector_and_tap_store(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """``demo --store chdb://`` with a screen: the demo's own run (its collector and tap, the
    services, the TUI, the summary) with the real TUI, driven by a pilot instead of a
    terminal."""
    from console.base.kafka_config import kafka_config
    from console.cli.demo_cmd import _run
    from console.runtime.stop_signals import StopSignals
    from tui import make_app

    url = f"chdb://{tmp_path / 'chdb'}"
    seen: dict[str, Any] = {}

    async def drive(app: Any) -> None:
        async with app.run_test(size=(140, 40)) as pilot:
            text = lambda: screen_text(app)  # noqa: E731
            await wait_for(pilot, lambda: "collector up" in text(), timeout=60)
            await wait_for(pilot, lambda: "canvasflow-upload" in text(), timeout=90)
            seen["overview"] = text()
            await pilot.press("2")
            deadline = time.monotonic() + 90
            while "completed" not in text():  # the list reloads on r, as the user does
                assert time.monotonic() < deadline, text()
                await pilot.press("r")
                await wait_for(pilot, lambda: "shown" in text())
                await pilot.pause(1.0)
            seen["journeys"] = text()
            await pilot.press("3")
            await wait_for(pilot, lambda: "No dead letters here" in text(), timeout=30)
            seen["dlq"] = text()
            await pilot.press("q")

    class Driven:  # the real app, its terminal a pilot's
        def __init__(self, db: Any, **kwargs: Any) -> None:
            seen["store"] = db
            self.app = make_app(db, refresh_s=0.5, **kwargs)

        def run(self) -> None:
            asyncio.run(drive(self.app))

    release_chdb()
    with StopSignals() as signals:
        summary = _run(
            signals,
            kafka_bootstrap,
            url,
            Driven,
            ["--rate", "3", "--poison-rate", "0"],  # no dead letter: the screen says so
            _prefix(),
            None,
            kafka_config,
        )
    # The TUI was handed the store the demo's collector and tap write, not a path to open.
    assert seen["store"].target.display() == url
    assert summary["uploads"] > 0
    assert summary["store"]["spans"] > 0 and summary["store"]["hops"] > 0
    assert "tap up" in seen["overview"]
    assert "canvasflow" in seen["journeys"]
    # The dead-letter screen reads the same store (its DeadLetters on ClickHouse): this run
    # made none (no poison: at the default 10% a slow run made one), and says so, no error.
    assert "Error" not in seen["dlq"] and "No dead letters here" in seen["dlq"]
    # The demo let go of its store: another process reads it.
    res = run_cli("stats", "--store", url, "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["spans"] == summary["store"]["spans"]
