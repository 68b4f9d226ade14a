"""``watch --alertmanager`` against a real Prometheus Alertmanager (v0.35.0, built from the Go
module proxy: ``tests/alertmanager_peer.py``): the alert is read back from Alertmanager's own API,
stays active while it fires, and leaves it when the dead letters are discarded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from console.store import Store
from tests.alertmanager_peer import Alertmanager
from tests.conftest import ROOT, run_cli
from tests.tap_helpers import wait_for
from tests.tui_data import demo_dead_letters


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
            (alert,) = wait_for(lambda: _ours(am), timeout=30, what="the alert in Alertmanager")
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
            wait_for(
                lambda: [a for a in _ours(am) if a["endsAt"] > first_ends],
                timeout=30,
                what="a re-post",
            )
            discard = run_cli("dlq", "discard", "--all", "--yes", "--db", str(db_path))
            assert discard.returncode == 0, discard.stderr
            wait_for(lambda: not _ours(am), timeout=30, what="the alert to resolve in Alertmanager")
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
