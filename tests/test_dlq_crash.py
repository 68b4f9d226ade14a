"""kill -9 in the middle of a bulk replay, the same command again: every message exactly once."""

from __future__ import annotations

import collections
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from console.store import Store
from tests.conftest import ROOT, create_topic, run_cli
from tests.dlq_helpers import dead_letters_on_broker, headers_of, read_topic

N = 2000


def _acked(db: Path) -> int:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute("SELECT count(*) FROM replay_ledger WHERE state = 'acked'").fetchone()[
            0
        ]
    finally:
        conn.close()


def test_kill_9_during_bulk_replay_then_rerun_is_exactly_once(
    kafka_bootstrap: str, topic: str, store: Store, db_path: Path
) -> None:
    replay_killed_midway_then_resumed(kafka_bootstrap, topic, store, db_path, N, rate=500)


def replay_killed_midway_then_resumed(
    kafka_bootstrap: str, topic: str, store: Store, db_path: Path, n: int, *, rate: int
) -> dict[str, float]:
    """Replay ``n`` dead letters in bulk, kill -9 the replay after a fifth of them, run it again:
    every message lands exactly once. Returns timings (seconds) for the report."""
    t0 = time.monotonic()
    original, dlt = topic, f"{topic}-dlt"
    create_topic(kafka_bootstrap, original, partitions=3)
    create_topic(kafka_bootstrap, dlt, partitions=1)
    letters = dead_letters_on_broker(
        kafka_bootstrap,
        store,
        dlq_topic=dlt,
        original_topic=original,
        payloads=[f'{{"order_id":"o-{i}","quantity":{i + 1}}}'.encode() for i in range(n)],
    )
    command = [
        sys.executable,
        "-m",
        "console",
        "dlq",
        "replay",
        "--all",
        "--topic",
        dlt,
        "--rate",
        str(rate),
        "--yes",
        "--db",
        str(db_path),
        "--bootstrap",
        kafka_bootstrap,
    ]
    produced = time.monotonic()
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy()
    )
    try:
        deadline = time.monotonic() + 60
        while _acked(db_path) < n // 5:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the replay made no progress"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    conn = sqlite3.connect(db_path)
    states = dict(
        conn.execute("SELECT state, count(*) FROM replay_ledger GROUP BY state").fetchall()
    )
    conn.close()
    assert states.get("pending", 0) > 0, states  # killed mid-flight, ledger lines left open
    sent_before = len(read_topic(kafka_bootstrap, original))
    assert n // 5 <= sent_before < n
    killed = time.monotonic()

    again = run_cli(*command[3:], timeout=600)
    assert again.returncode == 0, again.stderr
    assert "reconciled" in again.stderr and "found in the target" in again.stderr

    resumed = time.monotonic()
    msgs = read_topic(kafka_bootstrap, original, timeout=60)
    ids = collections.Counter(headers_of(m)["x-replay-id"] for m in msgs)
    froms = collections.Counter(headers_of(m)["x-replayed-from"] for m in msgs)
    assert len(msgs) == n
    assert len(ids) == n and set(ids.values()) == {1}
    assert set(froms) == {d.coordinates.encode() for d in letters}
    assert _acked(db_path) == n
    conn = sqlite3.connect(db_path)
    assert (
        conn.execute("SELECT count(*) FROM dead_letters WHERE status = 'replayed'").fetchone()[0]
        == n
    )
    assert (
        conn.execute("SELECT count(*) FROM replay_ledger WHERE state != 'acked'").fetchone()[0] == 0
    )
    conn.close()

    # A third run finds nothing left to send.
    third = run_cli(*command[3:], timeout=120)
    assert third.returncode == 0, third.stderr
    assert len(read_topic(kafka_bootstrap, original)) == n
    return {
        "produce_s": produced - t0,
        "until_kill_s": killed - produced,
        "resume_s": resumed - killed,
    }
