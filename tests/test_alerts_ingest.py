"""The console's own ingest as an alert: while the store writer's queue is full (its commits
held up by a write lock another process holds: a real fault), the in-process runtime says the
ingest refuses and the ``ingest`` rule sees it; once the lock goes, it does not."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from console.alerts import parse_rules
from console.alerts.observe import observe
from console.alerts.sources import open_sources
from console.base.errors import Overloaded
from console.runtime.daemon import Daemon
from console.runtime.inprocess import InProcessRuntime
from console.store import Store
from tests.store_faults import LockHolder
from tests.tui_data import NOW, demo_spans


def test_a_full_queue_is_an_ingest_alert_until_the_writer_catches_up(
    store: Store, db_path: Path
) -> None:
    rules = parse_rules('[[rules]]\nname = "Ingest"\nkind = "ingest"\nseverity = "critical"\n')
    daemon = Daemon(store, max_queued=100, flush_ms=10)
    daemon.start()
    runtime = InProcessRuntime(daemon)
    try:
        with open_sources(store) as src:
            with LockHolder(db_path) as lock:
                daemon.sink.submit(demo_spans(NOW, n=25))  # 100 spans: the queue is full
                with pytest.raises(Overloaded):
                    daemon.sink.submit(demo_spans(NOW, n=1))  # what a receiver answers 503 for
                status = runtime.status()
                assert status["ingest"] == "refusing"
                (seen,) = observe(src, rules, NOW, status)  # reading goes on beside the lock
                assert seen.labels == {"component": "ingest"}
                assert "store queue full (100 records): ingest refused" in seen.summary
                lock.release()
                deadline = time.monotonic() + 60
                while daemon.writer.queued and time.monotonic() < deadline:
                    time.sleep(0.05)
            status = runtime.status()
            assert "ingest" not in status
            assert observe(src, rules, NOW, status) == []
    finally:
        daemon.stop()
