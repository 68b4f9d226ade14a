"""Broker outage: Kafka stops for 30 s (``HANDOFF_E2E_OUTAGE_S``) while ``demo --headless`` runs
its services with the console attached (its collector and its Kafka tap), then starts again.
The services and the tap recover by themselves; afterwards the hops in the store equal the
offsets in the topics (none lost, none doubled) and no journey that finished in Kafka is left
``stalled``."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from console.journeys import journey
from console.store import Store
from tests import stored
from tests.conftest import ROOT, KafkaHarness, run_cli
from tests.e2e.support import Tap, env_int, integrity, private_broker, wait_until

pytestmark = pytest.mark.e2e

OUTAGE_S = env_int("HANDOFF_E2E_OUTAGE_S", 30)
RECOVERY_S = 10  # demo traffic once everything is back, before the services stop
CONSUMERS = {
    "canvasflow-image-processor", "canvasflow-catalog", "canvasflow-storefront",
    "canvasflow-order-orchestrator", "canvasflow-fulfillment", "canvasflow-notification",
}  # fmt: skip


def _resumed(db: Path, since_ns: int) -> set[str]:
    """Services with a consumer span that started after ``since_ns``."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return {sp.service for sp in stored.spans(conn) if sp.kind == 5 and sp.start_ns > since_ns}
    finally:
        conn.close()


def _count(db: Path, seen_after_ns: int | None = None) -> int:
    """Hops stored (seen by the tap after ``seen_after_ns``)."""
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        hops = stored.hops(conn)
        if seen_after_ns is not None:
            hops = [h for h in hops if h.seen_ns > seen_after_ns]
        return len(hops)
    except sqlite3.OperationalError:  # the file exists, its schema not yet
        return 0
    finally:
        conn.close()


def _offsets(bootstrap: str, prefix: str) -> dict[tuple[str, int], tuple[int, int]]:
    """(low, high) watermarks of every partition of every topic of the run."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"e2e-wm-{uuid.uuid4().hex}"})
    try:
        md = c.list_topics(timeout=20)
        out = {}
        for name, t in md.topics.items():
            if not name.startswith(prefix + "."):
                continue
            for p in t.partitions:
                out[(name, p)] = c.get_watermark_offsets(TopicPartition(name, p), timeout=20)
        return out
    finally:
        c.close()


def _hops(db: Path) -> dict[tuple[str, int], tuple[int, int, int, int]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        per_tp: dict[tuple[str, int], list[int]] = {}
        for h in stored.hops(conn):
            per_tp.setdefault((h.topic, h.partition), []).append(h.offset)
    finally:
        conn.close()
    return {
        tp: (len(offsets), len(set(offsets)), min(offsets), max(offsets))
        for tp, offsets in per_tp.items()
    }


def _consumed(bootstrap: str, prefix: str) -> dict[tuple[str, int], int]:
    """The highest committed offset of the services' groups per partition: what Kafka says
    the services finished with."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    groups = [
        g.group_id
        for g in admin.list_consumer_groups(request_timeout=20).result().valid
        if g.group_id.startswith(prefix + ".")
    ]
    out: dict[tuple[str, int], int] = {}
    for group in groups:
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
        try:
            parts = [
                TopicPartition(t, p)
                for t, meta in c.list_topics(timeout=20).topics.items()
                if t.startswith(prefix + ".")
                for p in meta.partitions
            ]
            for tp in c.committed(parts, timeout=20):
                if tp.offset >= 0:
                    key = (tp.topic, tp.partition)
                    out[key] = max(out.get(key, 0), tp.offset)
        finally:
            c.close()
    return out


def test_broker_outage_during_demo_traffic(tmp_path: Path, kafka_harness: KafkaHarness) -> None:
    db = tmp_path / "h.db"
    prefix = f"outage{uuid.uuid4().hex[:6]}.canvasflow"
    demo_log = (tmp_path / "demo.log").open("w")
    with private_broker(kafka_harness) as broker:
        demo = subprocess.Popen(
            [
                sys.executable, "-m", "console", "demo", "--headless", "--json", "--bootstrap",
                broker.bootstrap, "--db", str(db), "--topic-prefix", prefix, "--rate", "4",
                "--seed", "7",
            ],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=demo_log, text=True,
            env={**os.environ, "HANDOFF_LOG_LEVEL": "INFO"},
        )  # fmt: skip
        try:
            # Traffic is flowing through Kafka into the store, spans and hops alike.
            wait_until(
                lambda: _count(db) > 150,
                120,
                "demo traffic in the store",
            )
            before = _count(db)
            broker.down()
            down_ns = time.time_ns()
            time.sleep(OUTAGE_S)
            assert demo.poll() is None, demo.communicate()
            broker.up(timeout=120)
            up_ns = time.time_ns()
            # The demo's own tap recovers by itself: new hops, seen after the restart.
            wait_until(
                lambda: _count(db, up_ns) > 100,
                180,
                "the tap storing hops again",
            )
            tap_back_s = (time.time_ns() - up_ns) / 1e9
            # Every consuming service is back: consumer spans that started after the restart.
            wait_until(lambda: _resumed(db, up_ns) >= CONSUMERS, 240, "every service consuming")
            services_back_s = (time.time_ns() - up_ns) / 1e9
            time.sleep(RECOVERY_S)
            resumed = _resumed(db, up_ns)
            demo.send_signal(signal.SIGTERM)
            out, _ = demo.communicate(timeout=120)
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait()
            demo_log.close()
        assert demo.returncode == 0, (tmp_path / "demo.log").read_text()[-3000:]
        summary = json.loads(out.strip().splitlines()[-1])
        offsets = _offsets(broker.bootstrap, prefix)
        total = sum(hi - lo for lo, hi in offsets.values())
        stored_by_demo_tap = _count(db)

        # Afterwards (the demo's tap stops without draining): the same tap group, resumed,
        # brings the store level with the topics from its committed offsets.
        group = f"handoff-console-demo-tap.{prefix}"
        with Tap(db, broker.bootstrap, f"^{prefix}\\..*", "--group", group) as tap:
            wait_until(lambda: _count(db) >= total, 120, "tap caught up")
            tap.stop()
        consumed = _consumed(broker.bootstrap, prefix)

    hops = _hops(db)
    print(
        f"\noutage {OUTAGE_S}s ({(up_ns - down_ns) / 1e9:.0f}s with the restart); tap storing "
        f"again {tap_back_s:.0f}s and every service {services_back_s:.0f}s after the broker "
        f"answered; hops before "
        f"{before}, stored by the demo's tap {stored_by_demo_tap} of {total}; services resumed: "
        f"{sorted(resumed)}; demo summary {summary}"
    )
    # The services recovered by themselves: every consumer service ran again after the restart.
    assert resumed >= CONSUMERS, CONSUMERS - resumed
    assert summary["journeys_completed"] > 0
    # Hops equal the offsets in the topics: none lost, none doubled.
    for tp, (lo, hi) in offsets.items():
        if hi == lo:
            assert tp not in hops
            continue
        n, distinct, first, last = hops[tp]
        assert (n, distinct, first, last) == (hi - lo, hi - lo, lo, hi - 1), (tp, hops[tp], lo, hi)
    assert set(hops) <= set(offsets)

    # No journey that finished in Kafka is left stalled: a stalled journey's undelivered send
    # must really not have been consumed by the group that should take it.
    listed = run_cli(
        "journeys", "--status", "stalled", "--json", "--limit", "100000", "--since", "1h",
        "--db", str(db),
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    stalled = json.loads(listed.stdout)
    store = Store.open(db)
    wrongly = []
    for item in stalled:
        j = journey(store, correlation_id=item["correlation_id"])
        assert j is not None
        for h in j.handoffs:
            taken_in_kafka = (
                h.topic is not None
                and h.offset is not None
                and consumed.get((h.topic, h.partition or 0), -1) > h.offset
            )
            if h.kind == "async" and not h.delivered and taken_in_kafka:
                wrongly.append((j.correlation_id, h.topic, h.partition, h.offset))
    print(f"stalled journeys: {len(stalled)}, of which finished in Kafka: {len(wrongly)}")
    assert not wrongly, wrongly[:10]
    assert integrity(db) == "ok"
