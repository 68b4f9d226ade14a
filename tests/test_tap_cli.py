"""``handoff-console tap`` as a user runs it: into the store until Ctrl+C, then ``stats --json``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from console.base.model import Hop
from console.store import Store
from tests import stored
from tests.conftest import ROOT, create_topic, run_cli
from tests.dlq_headers_fixture import spring_dlt_headers
from tests.tap_helpers import produce, unique, wait_for


def _hops_in(db: Path) -> int:
    result = run_cli("stats", "--json", "--db", str(db))
    if result.returncode != 0:
        return -1
    return json.loads(result.stdout)["hops"]


def test_tap_runs_until_ctrl_c_and_stats_counts_per_topic(
    kafka_bootstrap: str, topic: str, db_path: Path, tmp_path: Path
) -> None:
    dlq = f"{topic}-dlt"
    create_topic(kafka_bootstrap, topic, 2)
    create_topic(kafka_bootstrap, dlq, 1)
    produce(kafka_bootstrap, topic, [(None, b"{}", [("x-correlation-id", b"c-1")])] * 25)
    dead = spring_dlt_headers(topic=topic, partition=1, offset=3, timestamp_ms=1, group="svc")
    produce(kafka_bootstrap, dlq, [(None, b"not json", dead)] * 2)
    props = tmp_path / "client.properties"
    props.write_text("# the cluster\nclient.id=handoff-test\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "tap", "--db", str(db_path), "--bootstrap",
         kafka_bootstrap, "--topics", f"^{topic.replace('.', '[.]')}.*", "--group",
         unique("tap-cli"), "--from-beginning", "--kafka-config", str(props),
         "-X", "fetch.wait.max.ms=100", "--json", "--status-every", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=(tmp_path / "tap.err").open("w"), text=True,
        env=os.environ.copy(),
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    reader.start()

    def statuses() -> int:
        return sum(json.loads(line)["event"] == "status" for line in list(lines))

    try:
        wait_for(lambda: _hops_in(db_path) == 27, timeout=90, what="27 hops in the store")
        seen = statuses()  # then at least two more status lines (--status-every 1)
        wait_for(lambda: statuses() >= seen + 2, timeout=30, what="two more status lines")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        reader.join(timeout=30)
    assert proc.returncode == 0, (tmp_path / "tap.err").read_text()
    events = [json.loads(line) for line in lines]
    assert events[0]["event"] == "started"
    assert any(e["event"] == "status" and e["connected"] for e in events)
    assert events[-1]["event"] == "stopped"
    assert events[-1]["hops_seen"] == 27 and events[-1]["dead_letters_seen"] == 2

    stats = json.loads(run_cli("stats", "--json", "--db", str(db_path)).stdout)
    assert stats["hops"] == 27 and stats["dead_letters"] == 2
    assert stats["topics"][topic] == {"hops": 25}
    assert stats["topics"][dlq] == {"hops": 2, "dead_letters": 2}


def test_bad_kafka_settings_are_one_line_errors(db_path: Path, tmp_path: Path) -> None:
    bad_x = run_cli("tap", "--db", str(db_path), "--topics", "t", "-X", "nonsense")
    assert bad_x.returncode == 2
    assert bad_x.stderr.strip() == (
        "error: -X 'nonsense': expected key=value (e.g. -X security.protocol=SSL)"
    )
    missing = run_cli(
        "tap", "--db", str(db_path), "--topics", "t", "--kafka-config", str(tmp_path / "nope")
    )
    assert missing.returncode == 2 and "no such file" in missing.stderr
    unknown = run_cli("tap", "--db", str(db_path), "--topics", "t", "-X", "bogus.prop=1")
    assert unknown.returncode == 2
    assert "bad Kafka configuration" in unknown.stderr and "bogus.prop" in unknown.stderr
    assert unknown.stderr.strip().count("\n") == 0
    no_topics = run_cli("tap", "--db", str(db_path), "--topics", " , ")
    assert no_topics.returncode == 2 and "--topics" in no_topics.stderr
    never = run_cli("tap", "--db", str(db_path), "--topics", "t", "--commit-every", "0")
    assert never.returncode == 2
    assert never.stderr.strip() == "error: --commit-every must be > 0 seconds"


def test_tap_keeps_the_store_within_its_retention(
    kafka_bootstrap: str, topic: str, db_path: Path, tmp_path: Path
) -> None:
    """`tap` trims the store as `serve` does: hops older than --retention-age go at start, while
    what it taps now stays."""
    three_days_ago_ms = int(time.time() * 1000) - 3 * 86_400_000
    old = [
        Hop("old.topic", 0, i, three_days_ago_ms + i, seen_ns=three_days_ago_ms * 1_000_000)
        for i in range(50)
    ]
    Store.open(db_path).write(old, now_ns=three_days_ago_ms * 1_000_000)  # stored back then
    assert _hops_in(db_path) == 50
    produce(kafka_bootstrap, topic, [(None, b"{}", [])] * 3)
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "tap", "--db", str(db_path), "--bootstrap",
         kafka_bootstrap, "--topics", topic, "--group", unique("tap-retention"),
         "--from-beginning", "--retention-age", "1d", "--status-every", "0"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=(tmp_path / "tap.err").open("w"),
        env=os.environ.copy(),
    )  # fmt: skip
    try:
        wait_for(lambda: _hops_in(db_path) == 3, timeout=90, what="only the 3 new hops left")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert proc.returncode == 0, (tmp_path / "tap.err").read_text()
    assert {h.topic for h in stored.hops(db_path)} == {topic}


def test_callbacks_right_after_an_assignment_do_not_abort_the_tap(
    kafka_bootstrap: str, topic: str, db_path: Path, tmp_path: Path
) -> None:
    """Statistics every 20 ms put a callback behind every assignment in the same consume(): the
    tap reads the cluster id after consume() returns, never from inside a callback (a nested
    list_topics() there made confluent-kafka abort the process), and every hop still records
    its cluster."""
    produce(kafka_bootstrap, topic, [(None, b"{}", [("x-correlation-id", b"c-9")])] * 5)
    err = tmp_path / "tap.err"
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "tap", "--db", str(db_path), "--bootstrap",
         kafka_bootstrap, "--topics", topic, "--group", unique("tap-stats"), "--from-beginning",
         "-X", "statistics.interval.ms=20", "--status-every", "0"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err.open("w"), env=os.environ.copy(),
    )  # fmt: skip
    try:
        wait_for(
            lambda: proc.poll() is not None or _hops_in(db_path) == 5,
            timeout=90,
            what="5 hops in the store",
        )
        assert proc.poll() is None, f"the tap died ({proc.returncode}): {err.read_text()[-2000:]}"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert proc.returncode == 0, err.read_text()[-2000:]
    assert {h.cluster_id for h in stored.hops(db_path)} == {_cluster_id(kafka_bootstrap)}


def _cluster_id(bootstrap: str) -> str:
    from confluent_kafka.admin import AdminClient

    cluster_id = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=20).cluster_id
    assert cluster_id
    return str(cluster_id)
