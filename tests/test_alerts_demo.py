"""Issue 27's "done when", end to end on the real broker: the demo with ``--poison-rate 0.3`` makes
dead letters; the default rules fire a DLQ-depth alert that shows in the TUI and reaches a real
Alertmanager through ``watch --alertmanager``; ``watch --once`` exits 1. Once the dead letters are
replayed (one DLQ topic) and discarded (the rest), the alert resolves in both and ``watch --once``
exits 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.alertmanager_peer import Alertmanager
from tests.conftest import ROOT, run_cli
from tests.tap_helpers import wait_for as poll
from tests.tui_helpers import screen_text, wait_for
from tui import make_app

pytestmark = pytest.mark.asyncio


def _dlq_alerts(am: Alertmanager, prefix: str) -> list[dict[str, Any]]:
    return [
        a
        for a in am.alerts()
        if a["labels"].get("alertname") == "DeadLettersPending"
        and a["labels"].get("dlq_topic", "").startswith(prefix)
    ]


async def test_demo_dead_letters_fire_in_the_tui_and_alertmanager_and_resolve(
    kafka_bootstrap: str, db_path: Path, tmp_path: Path
) -> None:
    prefix = f"c{uuid.uuid4().hex[:8]}.canvasflow"
    demo = run_cli(
        "demo", "--headless", "--duration", "15", "--db", str(db_path), "--json",
        "--bootstrap", kafka_bootstrap, "--topic-prefix", prefix,
        "--poison-rate", "0.3", "--rate", "3", "--seed", "11",
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    summary = json.loads(demo.stdout.strip().splitlines()[-1])
    assert summary["dead_letters_total"] >= 2
    listed = run_cli("dlq", "list", "--status", "pending", "--json", "--db", str(db_path))
    dlq_topics = sorted({d["dlq_topic"] for d in json.loads(listed.stdout)})
    assert dlq_topics and all(t.startswith(prefix) for t in dlq_topics)

    with Alertmanager(tmp_path) as am:
        cmd = [sys.executable, "-m", "console", "watch", "--db", str(db_path)]
        cmd += ["--alertmanager", am.url, "--interval", "0.5s", "--resend", "2s", "--json"]
        watch = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=os.environ.copy(),
        )  # fmt: skip
        try:
            fired = poll(
                lambda: (got := _dlq_alerts(am, prefix)) and len(got) == len(dlq_topics) and got,
                timeout=60,
                what="the DLQ alerts in Alertmanager",
            )
            assert sorted(a["labels"]["dlq_topic"] for a in fired) == dlq_topics
            assert all(a["status"]["state"] == "active" for a in fired)
            gate = run_cli("watch", "--once", "--db", str(db_path))
            assert gate.returncode == 1, gate.stderr

            app = make_app(db_path, refresh_s=3600)
            async with app.run_test(size=(140, 36)) as pilot:
                n = len(dlq_topics)
                badge = f"▲ {n} alert{'s' if n != 1 else ''} firing"
                await wait_for(pilot, lambda: badge in screen_text(app), timeout=30)
                await pilot.press("6")
                await wait_for(pilot, lambda: f"dlq_topic {dlq_topics[0]}" in screen_text(app))

                replayed = run_cli(
                    "dlq", "replay", "--all", "--topic", dlq_topics[0], "--yes",
                    "--db", str(db_path), "--bootstrap", kafka_bootstrap,
                )  # fmt: skip
                assert replayed.returncode == 0, replayed.stdout + replayed.stderr
                discarded = run_cli("dlq", "discard", "--all", "--yes", "--db", str(db_path))
                assert discarded.returncode == 0, discarded.stderr

                app.evaluate_alerts()
                await wait_for(pilot, lambda: "alert firing" not in screen_text(app), timeout=30)
                await wait_for(pilot, lambda: "Alerts · 0 firing" in screen_text(app))
            poll(
                lambda: not _dlq_alerts(am, prefix),
                timeout=60,
                what="the alerts to resolve in Alertmanager",
            )
            gate = run_cli("watch", "--once", "--db", str(db_path))
            assert gate.returncode == 0, gate.stdout + gate.stderr
        finally:
            watch.send_signal(signal.SIGTERM)
            out, err = watch.communicate(timeout=30)
    assert watch.returncode == 0, err
    changes = [json.loads(line) for line in out.splitlines()]
    dlq_changes = [c for c in changes if c["alert"] == "DeadLettersPending"]
    assert sorted((c["labels"]["dlq_topic"], c["state"]) for c in dlq_changes) == sorted(
        [(t, "firing") for t in dlq_topics] + [(t, "resolved") for t in dlq_topics]
    )
