"""``watch --alertmanager`` against a real Prometheus Alertmanager (v0.35.0, built from the Go
module proxy: ``tests/alertmanager_peer.py``): the alert is read back from Alertmanager's own API,
stays active while it fires, and leaves it when the dead letters are discarded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.store import Store
from tests.alertmanager_peer import Alertmanager
from tests.conftest import ROOT, run_cli
from tests.tui_data import demo_dead_letters


def _until(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _ours(am: Alertmanager) -> list[dict[str, Any]]:
    return [a for a in am.alerts() if a["labels"].get("alertname") == "DeadLettersPending"]


def test_watch_posts_to_alertmanager_keeps_it_firing_and_resolves_it(
    store: Store, db_path: Path, tmp_path: Path
) -> None:
    store.write(demo_dead_letters())
    with Alertmanager(tmp_path) as am:
        cmd = [sys.executable, "-m", "console", "watch", "--db", str(db_path)]
        cmd += ["--alertmanager", am.url, "--interval", "0.5s", "--resend", "1s"]
        watch = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=os.environ.copy(),
        )  # fmt: skip
        try:
            (alert,) = _until("the alert in Alertmanager", lambda: _ours(am))
            assert alert["labels"] == {
                "alertname": "DeadLettersPending",
                "dlq_topic": "canvasflow.orders-dlt",
                "severity": "warning",
            }
            assert alert["status"]["state"] == "active"
            assert alert["annotations"]["summary"] == "dead letters wait on canvasflow.orders-dlt"
            assert alert["generatorURL"] == (
                "handoff-console:dlq%20list%20--topic%20canvasflow.orders-dlt%20--status%20pending"
            )
            # Re-posted while it fires: Alertmanager keeps seeing it with a later endsAt.
            first_ends = alert["endsAt"]
            _until("a re-post", lambda: [a for a in _ours(am) if a["endsAt"] > first_ends])
            discard = run_cli("dlq", "discard", "--all", "--yes", "--db", str(db_path))
            assert discard.returncode == 0, discard.stderr
            _until("the alert to resolve in Alertmanager", lambda: not _ours(am))
        finally:
            watch.send_signal(signal.SIGTERM)
            out, err = watch.communicate(timeout=30)
    assert watch.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 2, out
    assert "FIRING    DeadLettersPending{dlq_topic=canvasflow.orders-dlt}" in lines[0]
    assert "RESOLVED  DeadLettersPending{dlq_topic=canvasflow.orders-dlt}" in lines[1]
    assert "alertmanager: posted 1 alerts" in err


def test_watch_says_when_alertmanager_does_not_take_the_alerts(
    store: Store, db_path: Path, tmp_path: Path
) -> None:
    store.write(demo_dead_letters())
    with Alertmanager(tmp_path) as am:
        url = am.url
    # Alertmanager stopped: the post fails and watch says so, claiming nothing was posted.
    run = run_cli("watch", "--db", str(db_path), "--once", "--alertmanager", url)
    assert run.returncode == 1
    assert f"error: alertmanager {url}:" in run.stderr
    assert "posted" not in run.stderr
