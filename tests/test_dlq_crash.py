"""kill -9 in the middle of a bulk replay, the same command again: every message exactly once."""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import time

from confluent_kafka import Consumer, TopicPartition

from console.dlq import DlqFilter
from console.store import Storage
from tests.conftest import ROOT, create_topic, release_chdb, run_cli
from tests.dlq_helpers import dead_letters_on_broker, headers_of, read_topic

N = 2000
BACKENDS = ("sqlite", "chdb")  # on both stores (tests/conftest.py)


def _states(store: Storage) -> collections.Counter[str]:
    """The ledger lines by state."""
    with contextlib.closing(store.dead_letters()) as letters:
        return collections.Counter(
            line.state for lines in letters.ledger_lines().values() for line in lines
        )


def _landed(bootstrap: str, topic: str) -> int:
    """How many messages ``topic`` holds (its partitions' high watermarks): the replay's
    progress as the target sees it, read without the store (a chDB store is the replay's
    process's while it runs)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-watermarks"})
    try:
        md = consumer.list_topics(topic, timeout=10).topics[topic]
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in md.partitions
        )
    finally:
        consumer.close()


def test_kill_9_during_bulk_replay_then_rerun_is_exactly_once(
    kafka_bootstrap: str, topic: str, store: Storage, store_args: list[str]
) -> None:
    replay_killed_midway_then_resumed(kafka_bootstrap, topic, store, store_args, N, rate=500)


def replay_killed_midway_then_resumed(
    kafka_bootstrap: str,
    topic: str,
    store: Storage,
    store_args: list[str],
    n: int,
    *,
    rate: int,
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
        *store_args,
        "--bootstrap",
        kafka_bootstrap,
    ]
    produced = time.monotonic()
    release_chdb()  # the replay's process opens the store
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy()
    )
    try:
        deadline = time.monotonic() + 60
        while _landed(kafka_bootstrap, original) < n // 5:
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
    states = _states(store)
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
    states = _states(store)
    assert states["acked"] == n
    with contextlib.closing(store.dead_letters()) as handle:
        assert handle.extent(DlqFilter(status="replayed"))[0] == n
    assert sum(states.values()) - states["acked"] == 0

    # A third run finds nothing left to send.
    third = run_cli(*command[3:], timeout=120)
    assert third.returncode == 0, third.stderr
    assert len(read_topic(kafka_bootstrap, original)) == n
    return {
        "produce_s": produced - t0,
        "until_kill_s": killed - produced,
        "resume_s": resumed - killed,
    }
