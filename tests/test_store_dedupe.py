"""Duplicates: a record delivered again is stored once, wherever the first copy is; a record that
differs is never taken for a duplicate (issue 24, faults 5, 6 and 7)."""

from __future__ import annotations

import dataclasses

import pytest

from console.base.model import Hop, LogRecord, MetricPoint, Record
from console.store import Store
from console.store.sqlite import keys, read
from tests.test_store import NOW, make_span


def test_hops_re_read_after_a_restart_are_found_in_the_store(store: Store) -> None:
    """20,000 hops stored 100 per commit, then re-read in one batch by a new process (a restart,
    a second tap, ``--from-beginning``): on aabd1af 4,000 were stored again, because only the
    offset buckets at the two ends of the batch's range were probed."""
    hops = [Hop("orders", 0, o, 1, correlation_id=f"cf-{o}", seen_ns=NOW) for o in range(20_000)]
    for i in range(0, len(hops), 100):
        store.write(hops[i : i + 100])
    with store.writer(flush_ms=10, batch_size=50_000) as w:  # a new process: an empty window
        w.submit(hops).wait()
    assert store.counts()["topics"]["orders"]["hops"] == 20_000
    conn = store.connect(readonly=True)
    assert len(read.Blocks(conn).hops_at("orders", 0, 9_000)) == 1


def test_spans_resent_after_a_restart_are_found_in_the_store(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spans resent after a restart were stored twice unless they sat in the newest 100 blocks:
    ``stats`` and the rollups counted them twice. Small key segments: the first copies sit in
    older segments than the newest (each segment is probed for the spans in its time range)."""
    monkeypatch.setattr(keys, "SEGMENT_KEYS", 300)
    spans = [
        dataclasses.replace(make_span(i, start=NOW + i * 1_000_000_000), links=())
        for i in range(1_500)
    ]
    for i in range(0, len(spans), 10):  # 150 blocks: the first 50 are beyond the seeded window
        store.write(spans[i : i + 10])
    conn = store.connect(readonly=True)
    assert conn.execute("SELECT count(*) FROM segments").fetchone()[0] >= 5
    with store.writer(flush_ms=10) as w:  # a new process: the window holds the newest blocks
        w.submit(spans).wait()
    assert store.counts()["per_service"]["upload"]["spans"] == 1_500


def test_log_records_that_differ_in_attributes_or_correlation_id_are_both_kept(
    store: Store,
) -> None:
    """Two "order placed" logs in the same millisecond for two orders: on aabd1af one was
    dropped as a duplicate of the other."""
    first = LogRecord(
        time_ns=NOW,
        service="orders",
        severity_number=9,
        body="order placed",
        attributes={"order_id": "o-1"},
        correlation_id="cf-1",
    )
    second = dataclasses.replace(first, attributes={"order_id": "o-2"}, correlation_id="cf-2")
    store.write([first, second])
    store.write([first])  # a resend of the same record is still one
    assert store.counts()["per_service"]["orders"]["log_records"] == 2


def test_metric_points_that_differ_in_value_are_both_kept(store: Store) -> None:
    """Two gauge points of one series at one timestamp, values 3 and 7: on aabd1af one was
    dropped as a duplicate."""
    three = MetricPoint("queue.depth", "orders", NOW, "gauge", value=3.0)
    seven = dataclasses.replace(three, value=7.0)
    store.write([three, seven])
    store.write([seven])  # a resend of the same point is still one
    assert store.counts()["per_service"]["orders"]["metric_points"] == 2


def test_log_records_that_differ_in_severity_text_alone_are_both_kept(store: Store) -> None:
    """A record that gives its severity only as text (number 0, as many loggers do): a WARN and
    an ERROR of one body in one millisecond were one record (the identity left the text out;
    found by the store's state machine, ``test_store_machine.py``)."""
    warn = LogRecord(time_ns=NOW, service="orders", severity_text="WARN", body="retrying")
    error = dataclasses.replace(warn, severity_text="ERROR")
    store.write([warn, error])
    assert sorted(r.severity_text for r in read.all_records(store.connect(), 3)) == [
        "ERROR",
        "WARN",
    ]


def test_a_resend_with_its_attributes_in_another_order_is_stored_once(store: Store) -> None:
    """Equal maps are one record whatever the order of their keys (a resend re-encoded by
    another exporter): a log record and a metric point were stored and counted twice, in one
    batch and after a restart (found by the store's state machine)."""
    log = LogRecord(NOW, "orders", body="placed", attributes={"order_id": 1, "region": "eu"})
    point = MetricPoint("queue.depth", "orders", NOW, "gauge", value=3.0, attributes=log.attributes)
    flipped = {"region": "eu", "order_id": 1}
    again: list[Record] = [dataclasses.replace(log, attributes=flipped)]
    again.append(dataclasses.replace(point, attributes=flipped))
    store.write([log, point, *again])
    store.write(again)  # a new writer: its window starts from what is stored
    counts = store.counts()["per_service"]["orders"]
    assert (counts["log_records"], counts["metric_points"]) == (1, 1)
