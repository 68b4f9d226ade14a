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

import pytest

from console.store import Store
from tests.conftest import ROOT, create_topic, run_cli
from tests.dlq_helpers import dead_letters_on_broker, headers_of, read_topic

pytestmark = pytest.mark.kafka

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
    original, dlt = topic, f"{topic}-dlt"
    create_topic(kafka_bootstrap, original, partitions=3)
    create_topic(kafka_bootstrap, dlt, partitions=1)
    letters = dead_letters_on_broker(
        kafka_bootstrap,
        store,
        dlq_topic=dlt,
        original_topic=original,
        payloads=[f'{{"order_id":"o-{i}","quantity":{i + 1}}}'.encode() for i in range(N)],
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
        "500",
        "--yes",
        "--db",
        str(db_path),
        "--bootstrap",
        kafka_bootstrap,
    ]
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy()
    )
    try:
        deadline = time.monotonic() + 60
        while _acked(db_path) < 400:
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
    assert 400 <= sent_before < N

    again = run_cli(*command[3:], timeout=240)
    assert again.returncode == 0, again.stderr
    assert "reconciled" in again.stderr and "found in the target" in again.stderr

    msgs = read_topic(kafka_bootstrap, original)
    ids = collections.Counter(headers_of(m)["x-replay-id"] for m in msgs)
    froms = collections.Counter(headers_of(m)["x-replayed-from"] for m in msgs)
    assert len(msgs) == N
    assert len(ids) == N and set(ids.values()) == {1}
    assert set(froms) == {d.coordinates.encode() for d in letters}
    assert _acked(db_path) == N
    conn = sqlite3.connect(db_path)
    assert (
        conn.execute("SELECT count(*) FROM dead_letters WHERE status = 'replayed'").fetchone()[0]
        == N
    )
    assert (
        conn.execute("SELECT count(*) FROM replay_ledger WHERE state != 'acked'").fetchone()[0] == 0
    )
    conn.close()

    # A third run finds nothing left to send.
    third = run_cli(*command[3:], timeout=120)
    assert third.returncode == 0, third.stderr
    assert len(read_topic(kafka_bootstrap, original)) == N
