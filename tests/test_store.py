"""The store keeps every record type, migrates, shares data across processes, trims, and refuses
files that are not its own."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.base.errors import NotAStoreError, Overloaded, SchemaTooNewError
from console.base.model import (
    DeadLetter,
    Hop,
    LogRecord,
    MetricPoint,
    SeriesPoint,
    Span,
    SpanLink,
)
from console.store import Store, apply_retention
from console.store.sqlite import read, rows, schema
from console.store.sqlite.blocks import KIND_SPAN
from tests.conftest import run_cli
from tests.tap_helpers import wait_for

NOW = 1_790_000_000_000_000_000


def make_span(i: int, *, start: int = NOW, service: str = "upload") -> Span:
    return Span(
        trace_id=f"{i:032x}",
        span_id=f"{i:016x}",
        parent_span_id="00000000000000aa",
        name="canvasflow.uploads publish",
        kind=4,
        start_ns=start + i,
        end_ns=start + i + 1_500_000,
        service=service,
        status_code=2,
        status_message="boom",
        attributes={"messaging.system": "kafka", "n": i, "ok": True, "ratio": 0.5},
        resource={"service.name": service, "host.name": "h1"},
        events=({"name": "exception", "time_ns": start, "attributes": {"x": 1}},),
        links=(SpanLink("ab" * 16, "cd" * 8, {"kind": "follows"}),),
        correlation_id=f"corr-{i}",
        messaging_system="kafka",
        messaging_destination="canvasflow.uploads",
        messaging_partition=2,
        messaging_offset=41,
        messaging_operation="send",
        messaging_consumer_group=None,
    )


def test_round_trip_of_every_record_type(store: Store) -> None:
    span = make_span(1)
    hop = Hop(
        topic="canvasflow.uploads",
        partition=2,
        offset=41,
        timestamp_ms=1_790_000_000_000,
        timestamp_type=1,
        key=b"k\xff",
        size=310,
        headers=(("x-correlation-id", b"corr-1"), ("bin", b"\x00\xfe"), ("null", None)),
        correlation_id="corr-1",
        trace_id=span.trace_id,
        span_id=span.span_id,
        payload_sha256="ab" * 32,
        seen_ns=NOW,
    )
    dead = DeadLetter(
        dlq_topic="canvasflow.uploads-dlt",
        partition=0,
        offset=7,
        timestamp_ms=1_790_000_000_500,
        key=None,
        headers=(("kafka_dlt-original-partition", b"\x00\x00\x00\x02"),),
        payload=b'{"price": "12,50"}',
        payload_size=18,
        convention="spring",
        original_topic="canvasflow.uploads",
        original_partition=2,
        original_offset=41,
        original_timestamp_ms=1_790_000_000_000,
        consumer_group="catalog",
        exception_class="ContractViolation",
        exception_cause_class=None,
        exception_message="price is not a number",
        stacktrace="trace",
        correlation_id="corr-1",
        trace_id=span.trace_id,
        first_seen_ns=NOW,
    )
    metric = MetricPoint(
        name="uploads.received",
        service="upload",
        time_ns=NOW,
        kind="histogram",
        count=3,
        sum=12.5,
        bucket_counts=(1, 2, 0),
        explicit_bounds=(1.0, 10.0),
        unit="ms",
        attributes={"route": "/upload"},
    )
    log = LogRecord(
        time_ns=NOW,
        service="upload",
        severity_number=17,
        severity_text="ERROR",
        body="upload failed",
        trace_id=span.trace_id,
        span_id=span.span_id,
        attributes={"a": 1},
        correlation_id="corr-1",
    )
    series = SeriesPoint("consumer.lag", "canvasflow.uploads", NOW, 12.0, "catalog/2")
    store.write([span, hop, dead, metric, log, series])

    conn = store.connect(readonly=True)
    blocks = read.Blocks(conn)
    assert blocks.spans(cids=["corr-1"]) == [span]
    assert blocks.spans(trace_ids=[span.trace_id]) == [span]
    assert blocks.hops_at(hop.topic, hop.partition, hop.offset) == [hop]
    assert blocks.logs(cids=["corr-1"]) == [log]
    got_dead = rows.dead_letter_from_row(conn.execute("SELECT * FROM dead_letters").fetchone())
    assert got_dead == dead
    m = conn.execute("SELECT * FROM metric_points").fetchone()
    assert (m["name"], m["kind"], m["count"], m["sum"], m["unit"]) == (
        "uploads.received",
        "histogram",
        3,
        12.5,
        "ms",
    )
    s = conn.execute("SELECT name, subject, detail, value FROM series").fetchone()
    assert tuple(s) == ("consumer.lag", "canvasflow.uploads", "catalog/2", 12.0)
    assert blocks.linking_traces(["ab" * 16]) == {span.trace_id}

    counts = store.counts()
    assert {
        k: counts[k] for k in ("spans", "hops", "dead_letters", "metric_points", "log_records")
    } == {
        "spans": 1,
        "hops": 1,
        "dead_letters": 1,
        "metric_points": 1,
        "log_records": 1,
    }
    assert counts["services"] == ["upload"]


def test_duplicates_are_one_row(store: Store) -> None:
    spans = [make_span(i) for i in range(10)]
    store.write(spans)
    store.write(spans[:5])
    with store.writer(batch_size=3, flush_ms=10) as w:
        w.submit(spans)
    assert store.counts()["spans"] == 10


def test_new_file_is_migrated_private_and_in_wal(db_path: Path) -> None:
    Store.open(db_path)
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    assert conn.execute("PRAGMA application_id").fetchone()[0] == schema.APPLICATION_ID


def test_empty_file_is_migrated(db_path: Path) -> None:
    db_path.touch()
    Store.open(db_path)
    assert Store.open(db_path).counts()["spans"] == 0


def test_foreign_sqlite_file_is_refused_and_untouched(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.commit()
    conn.close()
    before = db_path.read_bytes()
    with pytest.raises(NotAStoreError, match="another application"):
        Store.open(db_path)
    assert db_path.read_bytes() == before


def test_garbage_file_gives_one_line_error(db_path: Path) -> None:
    db_path.write_bytes(b"this is not a database at all\n" * 200)
    before = db_path.read_bytes()
    result = run_cli("stats", "--db", str(db_path), "--json")
    assert result.returncode == 1
    assert "not a handoff-console database" in result.stderr
    assert "Traceback" not in result.stderr
    assert db_path.read_bytes() == before


def test_newer_schema_is_refused(db_path: Path) -> None:
    Store.open(db_path)
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNewError, match="upgrade handoff-console"):
        Store.open(db_path)


_WRITER = """
import sys, time
from console.store import Store
from tests.test_store import make_span
store = Store.open(sys.argv[1])
with store.writer(batch_size=100, flush_ms=20) as w:
    for i in range(20):
        w.submit([make_span(i * 100 + j) for j in range(100)])
        w.flush()
        print(i, flush=True)
        time.sleep(0.1)
"""


def test_reader_process_sees_commits_while_writer_runs(db_path: Path) -> None:
    Store.open(db_path)
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(db_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert proc.stdout is not None
    seen = []
    reader = Store.open(db_path).connect(readonly=True)
    for line in proc.stdout:
        committed = (int(line) + 1) * 100
        n = schema.counts(reader)["spans"]
        seen.append(n)
        assert n >= committed
        if len(seen) == 5:
            assert proc.poll() is None  # the writer is still running
    assert proc.wait(30) == 0
    assert seen[0] < seen[-1] == 2000


def test_overloaded_queue_refuses_instead_of_growing(store: Store) -> None:
    w = store.writer(batch_size=10_000, flush_ms=10_000, max_queued=100)
    try:
        w.submit([make_span(i) for i in range(100)])
        with pytest.raises(Overloaded) as err:
            w.submit([make_span(1000)])
        assert err.value.retry_after_s >= 1
        w.flush()
        w.submit([make_span(1000)])  # room again once committed
    finally:
        w.close()
    assert store.counts()["spans"] == 101


def test_retention_by_age_keeps_pending_dead_letters(store: Store) -> None:
    old = NOW - 3600 * 10**9
    # Stored an hour apart (retention goes by arrival): other blocks.
    store.write([make_span(i, start=old) for i in range(5)], now_ns=old)
    store.write([make_span(i + 5) for i in range(3)], now_ns=NOW)
    pending = DeadLetter("a.dlq", 0, 1, 0, first_seen_ns=old, status="pending")
    done = DeadLetter("a.dlq", 0, 2, 0, first_seen_ns=old, status="replayed")
    store.write([pending, done], now_ns=old)
    conn = store.connect()
    deleted = apply_retention(conn, max_age_s=600, now_ns=NOW)
    assert deleted["spans"] == 5
    assert store.counts()["spans"] == 3
    left = [r[0] for r in conn.execute("SELECT offset FROM dead_letters")]
    assert left == [1]


def test_an_idle_writer_still_applies_retention(store: Store) -> None:
    """A writer with nothing to write trims an old store anyway: at start, and on its clock."""
    old = time.time_ns() - 3 * 86_400 * 10**9
    store.write([make_span(i, start=old) for i in range(5)], now_ns=old)
    with store.writer(retention_age_s=86_400, retention_every_s=0.2) as w:
        wait_for(lambda: store.counts()["spans"] == 0, timeout=10, what="the first pass")
        # Stored three days ago again (as a copy of an old store would be), while idle.
        store.write([make_span(i + 10, start=old) for i in range(3)], now_ns=old)
        wait_for(lambda: store.counts()["spans"] == 0, timeout=10, what="a later pass")
        assert w.last_error is None and w.committed == 0


def test_retention_by_size_shrinks_the_file(store: Store) -> None:
    store.write([make_span(i, start=NOW + i * 1000) for i in range(20_000)])
    conn = store.connect()
    before = schema.live_bytes(conn)
    apply_retention(conn, max_bytes=before // 3)
    after = schema.live_bytes(conn)
    assert after <= before // 3
    remaining = store.counts()["spans"]
    assert 0 < remaining < 20_000
    newest = max(s.start_ns for s in read.all_records(conn, KIND_SPAN))
    assert newest == make_span(19_999, start=NOW + 19_999 * 1000).start_ns  # the newest survive
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert os.path.getsize(store.path) < before


def test_writer_commits_within_flush_interval(store: Store) -> None:
    with store.writer(batch_size=1_000_000, flush_ms=50) as w:
        w.submit([make_span(1)])
        deadline = time.monotonic() + 5
        reader = store.connect(readonly=True)
        while schema.counts(reader)["spans"] == 0:
            assert time.monotonic() < deadline, "a lone record was never committed"
            time.sleep(0.01)


def test_stats_json_on_a_new_database(db_path: Path) -> None:
    import json

    result = run_cli("stats", "--db", str(db_path), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {
        k: data[k] for k in ("spans", "metric_points", "log_records", "hops", "dead_letters")
    } == {
        "spans": 0,
        "metric_points": 0,
        "log_records": 0,
        "hops": 0,
        "dead_letters": 0,
    }
    assert data["services"] == []


def test_a_consumer_seen_before_its_send_still_clears_it(store: Store) -> None:
    """The collector and the tap are separate paths: a consumer's span may be stored before the
    tap stores the message it took. Only the message nobody took is a stalled candidate."""
    from console.journeys import journeys

    consumer = Span(
        trace_id="1" * 32,
        span_id="2" * 16,
        name="orders process",
        start_ns=NOW,
        end_ns=NOW + 1000,
        service="billing",
        kind=5,
        correlation_id="cf-1",
        messaging_system="kafka",
        messaging_destination="orders",
        messaging_partition=0,
        messaging_offset=5,
        messaging_operation="process",
        messaging_consumer_group="billing",
    )
    store.write([consumer])
    sent_ms = NOW // 1_000_000 - 1
    store.write([Hop("orders", 0, 5, sent_ms, correlation_id="cf-1", seen_ns=NOW)])
    store.write([Hop("orders", 0, 6, sent_ms, correlation_id="cf-2", seen_ns=NOW)])
    later = NOW + 120 * 10**9
    stalled = journeys(store, status="stalled", since_s=3600, now_ns=later)
    assert [j.correlation_id for j in stalled] == ["cf-2"]
    done = journeys(store, status="completed", since_s=3600, now_ns=later)
    assert [j.correlation_id for j in done] == ["cf-1"]
    conn = store.connect(readonly=True)
    assert conn.execute("SELECT count(*) FROM consumed_marks").fetchone()[0] == 0


def test_a_tap_re_read_stores_each_message_once(store: Store) -> None:
    """A tap that restarts re-reads from its last committed offset; the store keeps one copy."""
    hops = [
        Hop("orders", p, o, 1, correlation_id=f"cf-{o}", seen_ns=NOW)
        for p in (0, 1)
        for o in range(50)
    ]
    with store.writer(flush_ms=10) as w:
        w.submit(hops)
    with store.writer(flush_ms=10) as w:  # a new process: an empty duplicates window
        w.submit(hops[30:])
    counts = store.counts()
    assert counts["hops"] == 100
    assert counts["topics"]["orders"]["hops"] == 100
    conn = store.connect(readonly=True)
    assert read.Blocks(conn).hops_at("orders", 1, 40) == [hops[90]]


def test_a_key_collision_costs_a_decode_never_a_wrong_answer(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every id hashed to the same key: each lookup then reads every block, and still returns
    only the records that carry the id asked for."""
    from console.journeys import journey
    from console.store.sqlite import keys

    monkeypatch.setattr(keys, "key", lambda kind, value: 42)
    store.write([dataclasses.replace(make_span(i), links=()) for i in range(30)])  # unrelated
    store.write(
        [Hop("orders", 0, i, 1, correlation_id=f"corr-{i}", seen_ns=NOW) for i in range(30)]
    )
    conn = store.connect(readonly=True)
    blocks = read.Blocks(conn)
    assert [s.span_id for s in blocks.spans(cids=["corr-7"])] == [make_span(7).span_id]
    assert [h.offset for h in blocks.hops(cids=["corr-7"])] == [7]
    j = journey(store, correlation_id="corr-7", now_ns=NOW)
    assert j is not None
    assert [s.span_id for s in j.spans] == [make_span(7).span_id]
    assert [(h.topic, h.offset) for h in j.hops] == [("orders", 7)]


def test_log_records_and_metric_points_delivered_twice_are_stored_once(store: Store) -> None:
    """An exporter's retry, or a Kafka re-read after a crash, delivers the same log records and
    metric points again; they carry no id, so the store compares what identifies them."""
    logs = [
        LogRecord(time_ns=NOW + i, service="upload", severity_number=9, body=f"line {i}")
        for i in range(20)
    ]
    points = [
        MetricPoint("uploads.received", "upload", NOW + i, "sum", value=float(i)) for i in range(20)
    ]
    store.write([*logs, *points])
    with store.writer(flush_ms=10) as w:  # a new process, as after a restart
        w.submit([*logs[10:], *points[5:], LogRecord(time_ns=NOW, service="upload", body="new")])
    counts = store.counts()
    assert (counts["log_records"], counts["metric_points"]) == (21, 20)


def test_key_segments_rotate_and_retention_drops_whole_ones(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key index is split into segments that stay small; lookups probe all of them, and
    retention by age drops a segment whole (its table and its blocks) once it is all old."""
    from console.store.sqlite import keys

    monkeypatch.setattr(keys, "SEGMENT_KEYS", 40)
    old = NOW - 7200 * 10**9
    for b in range(6):  # six batches stored an hour before the new ones: each fills a segment
        store.write([make_span(b * 100 + i, start=old) for i in range(30)], now_ns=old)
    store.write([make_span(1000 + i) for i in range(30)], now_ns=NOW)
    conn = store.connect()
    tables = keys.segment_tables(conn)
    assert len(tables) >= 6
    assert read.Blocks(conn).spans(cids=["corr-205"]) == [make_span(205, start=old)]
    assert read.Blocks(conn).spans(cids=["corr-1005"]) == [make_span(1005)]
    deleted = apply_retention(conn, max_age_s=3600, now_ns=NOW)
    assert deleted["spans"] == 180
    left = keys.segment_tables(conn)
    assert len(left) < len(tables)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not set(tables[:-2]) & names  # the old segments' tables are gone
    assert read.Blocks(conn).spans(cids=["corr-205"]) == []
    assert read.Blocks(conn).spans(cids=["corr-1005"]) == [make_span(1005)]
    assert store.counts()["spans"] == 30


def test_64_bit_trace_ids_padded_with_zeros_spread_over_the_key_index() -> None:
    """Zipkin and old Jaeger clients send 64-bit trace ids padded to 128 bits with zeros; if
    keys came from the high half only, every such trace would share one key and every lookup
    would decode every block."""
    from console.store.sqlite import keys

    ids = [f"{0:016x}{i * 7919 + 1:016x}" for i in range(1000)]
    assert len({keys.key(keys.K_TRACE, t) for t in ids}) == 1000
    assert keys.key(keys.K_TRACE, ids[3]) == keys.key(keys.K_TRACE, bytes.fromhex(ids[3]))
    assert keys.key(keys.K_TRACE, ids[3]) != keys.key(keys.K_LINK, ids[3])  # kinds stay apart
