"""Retention goes by arrival, never by a sender's clock; one rule for "no limit"; followers page by
ids that never go back. Each test is a fault a review found in store v2 (issue 24)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

import pytest

from console.base.model import LogRecord, MetricPoint, Record
from console.readers.logs import new_logs, recent_logs
from console.readers.metrics import gather
from console.store import Store, apply_retention
from console.store.sqlite import ingest
from console.store.sqlite.reader import SqliteReader
from tests import stored
from tests.test_store import NOW, make_span

HOUR_NS = 3600 * 10**9


def _write(store: Store, records: Sequence[Record], arrived_ns: int) -> None:
    """Records stored at ``arrived_ns`` (this machine's clock then)."""
    conn = store.connect()
    try:
        ingest.write_batch(conn, records, now_ns=arrived_ns)
    finally:
        conn.close()


def _live_bytes(conn: sqlite3.Connection) -> int:
    """Pages in use (what the size trim compares with its bound), the WAL aside."""
    pages, free, size = (
        conn.execute(f"PRAGMA {p}").fetchone()[0]
        for p in ("page_count", "freelist_count", "page_size")
    )
    return int((pages - free) * size)


def _span_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT coalesce(sum(n), 0) FROM blocks WHERE kind = 1").fetchone()[0])


@pytest.mark.parametrize("skewed", [False, True])
def test_a_fast_clock_does_not_make_the_size_trim_wipe_the_store(
    store: Store, skewed: bool
) -> None:
    """Three segments stored 3 h, 2 h and 1 h ago; trimmed to just under their size, only the
    oldest goes, even when one of its spans comes from a host whose clock runs an hour fast
    (on aabd1af that span made the cutoff "an hour from now" and all 2,500 spans went)."""
    for age_h, n, base in ((3, 500, 0), (2, 1000, 10_000), (1, 1000, 20_000)):
        batch = [make_span(base + i, start=NOW - age_h * HOUR_NS) for i in range(n)]
        if skewed and age_h == 3:
            batch[0] = make_span(base, start=NOW + HOUR_NS)
        _write(store, batch, NOW - age_h * HOUR_NS)
    conn = store.connect()
    assert conn.execute("SELECT count(*) FROM segments").fetchone()[0] == 3
    apply_retention(conn, max_bytes=_live_bytes(conn) - 4096, now_ns=NOW)
    assert _span_count(conn) == 2000  # the oldest segment's 500 went, nothing else


def test_age_retention_removes_a_block_holding_a_future_stamped_record(store: Store) -> None:
    """A block stored two days ago goes under a one-day retention, although one of its spans
    is stamped a day ahead (on aabd1af such a block was never removed)."""
    two_days_ago = NOW - 48 * HOUR_NS
    _write(
        store,
        [make_span(1, start=two_days_ago), make_span(2, start=NOW + 24 * HOUR_NS)],
        two_days_ago,
    )
    _write(store, [make_span(3, start=NOW)], NOW)
    conn = store.connect()
    deleted = apply_retention(conn, max_age_s=24 * 3600, now_ns=NOW)
    assert deleted["spans"] == 2
    assert _span_count(conn) == 1


def test_old_stamped_records_stored_now_stay_for_the_retention_age(store: Store) -> None:
    """A catch-up from Kafka after an outage: records stamped two days ago, stored now, are kept
    for the retention age from now, not dropped at the next pass."""
    _write(store, [make_span(i, start=NOW - 48 * HOUR_NS) for i in range(3)], NOW)
    conn = store.connect()
    deleted = apply_retention(conn, max_age_s=24 * 3600, now_ns=NOW + HOUR_NS)
    assert "blocks" not in deleted
    assert _span_count(conn) == 3


def test_retention_age_0_keeps_everything(store: Store) -> None:
    """``--retention-age 0`` means no limit, as the writer reads it (on aabd1af retention read it
    as "older than now" and deleted everything every 30 s)."""
    _write(store, [make_span(i, start=NOW - HOUR_NS) for i in range(4)], NOW - HOUR_NS)
    conn = store.connect()
    assert apply_retention(conn, max_age_s=0, max_bytes=0, now_ns=NOW) == {}
    assert _span_count(conn) == 4


def test_a_follower_sees_records_stored_after_retention_removed_the_newest_block(
    store: Store,
) -> None:
    """Block ids are never reused: on aabd1af the block after a removed highest one got its id
    back, below the follower's cursor, and the follower missed ``new 0`` of ``new 0..2``."""
    old = NOW - 2 * HOUR_NS
    _write(store, [LogRecord(time_ns=old + i, service="s", body=f"old {i}") for i in range(3)], old)
    conn = store.connect()
    reader = store.reader()
    got, cursor = recent_logs(reader, 0)
    assert [r.body for r in got] == ["old 0", "old 1", "old 2"]
    apply_retention(conn, max_age_s=3600, now_ns=NOW)  # the newest block goes
    _write(store, [LogRecord(time_ns=NOW + i, service="s", body=f"new {i}") for i in range(3)], NOW)
    seen, _ = new_logs(reader, cursor)
    assert [r.body for r in seen] == ["new 0", "new 1", "new 2"]


def test_metric_points_are_kept_by_arrival_not_by_their_senders_clocks(store: Store) -> None:
    """``--retention-age 1h``: a point stamped by a host 3 h slow that arrived a minute ago
    stays, and a point stamped 3 h fast that arrived 2 h ago goes. Both went the other way
    (points were dated by their own time; found by the store's state machine)."""
    slow = MetricPoint("queue.depth", "orders", NOW - 3 * HOUR_NS, "gauge", value=3.0)
    fast = MetricPoint("queue.depth", "orders", NOW + 3 * HOUR_NS, "gauge", value=7.0)
    _write(store, [fast], arrived_ns=NOW - 2 * HOUR_NS)
    _write(store, [slow], arrived_ns=NOW - 60 * 10**9)
    conn = store.connect()
    apply_retention(conn, max_age_s=3600, now_ns=NOW)
    accs = gather(SqliteReader(conn), 0, 2**63 - 1, "orders", "queue.depth")
    kept = [p.value for acc in accs.values() for pts in acc.series.values() for p in pts]
    assert kept == [3.0]


def test_a_record_resent_after_the_writers_retention_removed_it_is_stored_again(
    store: Store,
) -> None:
    """The writer's own retention removed a span and a log record; a resend of each was then
    acknowledged and not stored, taken for a duplicate by the writer's recent window (which
    still named them). Noticed while building the store's state machine."""
    span = make_span(1, start=time.time_ns())
    log = LogRecord(time.time_ns(), "orders", body="placed")
    with store.writer(flush_ms=10, retention_age_s=0.5, retention_every_s=0.1) as w:
        w.submit([span, log]).wait()
        deadline = time.monotonic() + 30
        while stored.spans(store) or stored.logs(store):
            assert time.monotonic() < deadline, "retention never removed the records"
            time.sleep(0.02)
        w.submit([span, log]).wait()  # resent: acknowledged, so stored
        assert (len(stored.spans(store)), len(stored.logs(store))) == (1, 1)
