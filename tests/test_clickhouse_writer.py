"""The ClickHouse store's writer: records land in the exporter's tables as the exporter writes
them, and in the console's own; a ticket completes only once its rows can be read; failures
fail tickets, never drop records silently; a hop written twice reads once."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.base.errors import RecordsRejected, StoreUnavailable
from console.base.model import (
    DeadLetter,
    Hop,
    LogRecord,
    MetricPoint,
    SeriesPoint,
    Span,
    SpanLink,
    SpanRow,
)
from console.store.api import AlertChanges, AlertRow, Cursor
from console.store.clickhouse import handoff_schema
from tests.clickhouse_helpers import ChdbStores, chdb_stores
from tests.tap_helpers import wait_for

NOW = 1_765_000_000_000_000_000  # 2025-12-06, ns
TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[ChdbStores]:
    yield from chdb_stores(tmp_path)


def _one(store: Any, sql: str) -> Any:
    return store._client.query(sql).result_rows


def _span(**kw: Any) -> Span:
    base: dict[str, Any] = {
        "trace_id": TRACE,
        "span_id": SPAN,
        "name": "orders publish",
        "start_ns": NOW,
        "end_ns": NOW + 2_500_000,
        "service": "checkout",
        "kind": 4,
        "status_code": 2,
        "status_message": "broker timeout",
        "attributes": {
            "messaging.system": "kafka",
            "retries": 3,
            "ratio": 0.25,
            "whole": 2.0,
            "sync": False,
            "tags": ["a", "b"],
            "order_id": "o-17",
        },
        "resource": {"service.name": "checkout", "host.name": "h1"},
        "events": ({"name": "retry", "time_ns": NOW + 1000, "attributes": {"attempt": 2}},),
        "links": (SpanLink("11" * 16, "22" * 8, {"why": "batch"}),),
        "scope": "checkout.kafka",
        "correlation_id": "corr-9",
        "messaging_system": "kafka",
        "messaging_destination": "orders",
        "messaging_partition": 3,
        "messaging_offset": 42,
        "messaging_operation": "send",
        "business_keys": ("o-17", "cust-5"),
    }
    base.update(kw)
    return Span(**base)


_TRACE_ROW = (
    "SELECT toUnixTimestamp64Nano(Timestamp), TraceId, SpanId, ParentSpanId, SpanName, SpanKind,"
    " ServiceName, ResourceAttributes, ScopeName, SpanAttributes, Duration, StatusCode,"
    " StatusMessage, arrayMap(t -> toUnixTimestamp64Nano(t), Events.Timestamp), Events.Name,"
    " Events.Attributes, Links.TraceId, Links.SpanId, Links.Attributes FROM otel.otel_traces"
)


def test_a_span_is_a_row_as_the_exporter_writes_it(stores: ChdbStores) -> None:
    store = stores.open()
    store.write([_span()])
    (row,) = _one(store, _TRACE_ROW)
    (start, trace, span, parent, name, kind, service, resource, scope, attrs) = row[:10]
    assert (start, trace, span, parent, name) == (NOW, TRACE, SPAN, "", "orders publish")
    assert (kind, service, scope) == ("Producer", "checkout", "checkout.kafka")
    assert resource == {"service.name": "checkout", "host.name": "h1"}
    # pdata's AsString: integers in decimal, doubles as JavaScript prints them, booleans in
    # lower case, lists as JSON; and what the console derived, under the names it resolves.
    assert attrs == {
        "messaging.system": "kafka",
        "retries": "3",
        "ratio": "0.25",
        "whole": "2",
        "sync": "false",
        "tags": '["a","b"]',
        "order_id": "o-17",
        "correlation.id": "corr-9",
        "messaging.destination.name": "orders",
        "messaging.destination.partition.id": "3",
        "messaging.kafka.offset": "42",
        "messaging.operation.type": "send",
        "handoff.business_key.1": "cust-5",  # o-17 is an attribute's value already
    }
    duration, status, message, e_times, e_names, e_attrs, l_traces, l_spans, l_attrs = row[10:]
    assert (duration, status, message) == (2_500_000, "Error", "broker timeout")
    assert (e_times, e_names, e_attrs) == ([NOW + 1000], ["retry"], [{"attempt": "2"}])
    assert (l_traces, l_spans, l_attrs) == (["11" * 16], ["22" * 8], [{"why": "batch"}])
    # The exporter's materialized view fills the trace id lookup table.
    assert _one(store, "SELECT TraceId FROM otel.otel_traces_trace_id_ts") == [(TRACE,)]


def test_a_span_row_from_the_fast_decoder_is_the_same_row(stores: ChdbStores) -> None:
    store = stores.open()
    attrs = {"messaging.system": "kafka", "correlation_id": "corr-9", "n": 7}
    row = SpanRow(
        (
            bytes.fromhex(TRACE),
            bytes.fromhex(SPAN),
            bytes.fromhex("00f067aa0ba902b7"),
            "orders process",
            5,
            NOW,
            NOW + 10,
            0,
            "",
            "billing",
            "billing.kafka",
            "corr-9",
            "kafka",
            "orders",
            None,
            None,
            "process",
            "billing-group",
            orjson.dumps(attrs).decode(),
            orjson.dumps({"service.name": "billing"}).decode(),
            orjson.dumps([{"name": "e", "time_ns": NOW + 5, "attributes": {}}]).decode(),
            [["aa" * 16, "bb" * 8, {"k": 1}]],
        )
    )
    store.write([row])
    (got,) = _one(store, _TRACE_ROW)
    assert got[1:7] == (TRACE, SPAN, "00f067aa0ba902b7", "orders process", "Consumer", "billing")
    assert got[9] == {
        "messaging.system": "kafka",
        "correlation_id": "corr-9",  # found under a name the console resolves: left there
        "n": "7",
        "messaging.destination.name": "orders",
        "messaging.operation.type": "process",
        "messaging.consumer.group.name": "billing-group",
    }
    assert (got[11], got[13], got[14]) == ("Unset", [NOW + 5], ["e"])
    assert (got[16], got[18]) == (["aa" * 16], [{"k": "1"}])


def test_a_correlation_id_from_the_resource_is_kept_on_the_span(stores: ChdbStores) -> None:
    store = stores.open()
    span = _span(
        attributes={},
        resource={"service.name": "checkout", "correlation.id": "corr-r"},
        correlation_id="corr-r",
        business_keys=(),
    )
    store.write([span])
    rows = _one(
        store,
        "SELECT SpanAttributes['correlation.id'] FROM otel.otel_traces"
        " WHERE has(mapValues(SpanAttributes), 'corr-r')",
    )
    assert rows == [("corr-r",)]


def test_logs_and_metrics_go_to_the_exporters_tables(stores: ChdbStores) -> None:
    store = stores.open()
    store.write(
        [
            LogRecord(
                time_ns=NOW,
                service="billing",
                severity_number=17,
                severity_text="ERROR",
                body="card declined",
                trace_id=TRACE,
                span_id=SPAN,
                attributes={"code": 402},
                correlation_id="corr-9",
            ),
            MetricPoint("q.depth", "billing", NOW + 1_500_000_000, "gauge", value=4.5),
            MetricPoint("sent", "billing", NOW, "sum", value=10.0, start_time_ns=NOW - 10**10),
            MetricPoint(
                "latency",
                "billing",
                NOW,
                "histogram",
                count=3,
                sum=0.6,
                bucket_counts=(1, 2),
                explicit_bounds=(0.1,),
                min=0.1,
                unit="s",
            ),
            MetricPoint(
                "size",
                "billing",
                NOW,
                "exponential_histogram",
                count=2,
                sum=3.0,
                scale=1,
                zero_count=1,
                positive_offset=-1,
                positive_bucket_counts=(1,),
            ),
            MetricPoint("rpc", "billing", NOW, "summary", count=5, sum=1.5),
        ]
    )
    assert _one(
        store,
        "SELECT toUnixTimestamp64Nano(Timestamp), TraceId, SpanId, SeverityText, SeverityNumber,"
        " ServiceName, Body, ResourceAttributes, LogAttributes, EventName FROM otel.otel_logs",
    ) == [
        (
            NOW,
            TRACE,
            SPAN,
            "ERROR",
            17,
            "billing",
            "card declined",
            {"service.name": "billing"},
            {"code": "402", "correlation.id": "corr-9"},
            "",
        )
    ]
    # The metrics tables keep whole seconds (DateTime), as the exporter's DDL says.
    assert _one(
        store, "SELECT MetricName, toUnixTimestamp(TimeUnix), Value FROM otel.otel_metrics_gauge"
    ) == [("q.depth", NOW // 10**9 + 1, 4.5)]
    assert _one(
        store,
        "SELECT toUnixTimestamp(StartTimeUnix), Value, IsMonotonic FROM otel.otel_metrics_sum",
    ) == [(NOW // 10**9 - 10, 10.0, False)]
    ((count, total, buckets, bounds, low, high, unit),) = _one(
        store,
        "SELECT Count, Sum, BucketCounts, ExplicitBounds, Min, Max, MetricUnit"
        " FROM otel.otel_metrics_histogram",
    )
    assert (count, total, buckets, bounds, low, unit) == (3, 0.6, [1, 2], [0.1], 0.1, "s")
    assert math.isnan(high)  # not sent: NaN, not the 0 a reader would take for a maximum
    assert _one(
        store,
        "SELECT Count, Scale, ZeroCount, PositiveOffset, PositiveBucketCounts"
        " FROM otel.otel_metrics_exponential_histogram",
    ) == [(2, 1, 1, -1, [1])]
    assert _one(store, "SELECT Count, Sum FROM otel.otel_metrics_summary") == [(5, 1.5)]
    assert store.counts()["per_service"] == {"billing": {"metric_points": 5, "log_records": 1}}


def _hop(offset: int, **kw: Any) -> Hop:
    base: dict[str, Any] = {
        "topic": "orders",
        "partition": 0,
        "offset": offset,
        "timestamp_ms": NOW // 10**6,
        "key": b"\xff\x01",
        "headers": (("traceparent", b"00-x"), ("empty", None)),
        "correlation_id": "corr-9",
        "payload_sha256": "ab" * 32,
        "cluster_id": "c1",
        "seen_ns": NOW,
    }
    base.update(kw)
    return Hop(**base)


def test_a_hop_written_twice_reads_once(stores: ChdbStores) -> None:
    store = stores.open()
    store.write([_hop(7), _hop(8)])
    store.write([_hop(7, seen_ns=NOW + 5)])  # a second tap, after a rebalance
    assert _one(
        store,
        "SELECT Offset, toUnixTimestamp64Nano(SeenAt) FROM otel.handoff_hops FINAL ORDER BY Offset",
    ) == [(7, NOW + 5), (8, NOW)]  # one row each; the newest sighting of 7
    assert store.counts()["hops"] == 2
    # The same offset on another cluster is another message.
    store.write([_hop(7, cluster_id="c2")])
    assert store.counts()["topics"] == {"orders": {"hops": 3}}
    (key, names, values) = store._client.query(
        "SELECT Key, HeaderNames, HeaderValues FROM otel.handoff_hops FINAL WHERE Offset = 8",
        query_formats={"String": "bytes", "Nullable(String)": "bytes"},
    ).result_rows[0]
    assert (key, names, values) == (b"\xff\x01", [b"traceparent", b"empty"], [b"00-x", None])


def test_a_dead_letter_written_twice_reads_once(stores: ChdbStores) -> None:
    store = stores.open()
    letter = DeadLetter("orders-dlt", 0, 3, NOW // 10**6, payload=b"{}", original_topic="orders")
    store.write([letter, SeriesPoint("consumer.lag", "orders", NOW, 4.0, "g/0")])
    store.write([letter])
    assert store.counts()["dead_letters"] == 1
    assert store.counts()["topics"] == {"orders-dlt": {"dead_letters": 1}}
    assert _one(store, "SELECT Name, Subject, Detail, Value FROM otel.handoff_series") == [
        ("consumer.lag", "orders", "g/0", 4.0)
    ]


def _count(store: Any, table: str) -> int:
    return int(_one(store, f"SELECT count() FROM otel.{table}")[0][0])


def test_a_ticket_completes_only_once_its_rows_can_be_read(stores: ChdbStores) -> None:
    store = stores.open()
    writer = stores.keep(store.writer(flush_ms=600_000, batch_size=1_000_000))
    ticket = writer.submit([_hop(i) for i in range(500)])
    # Nobody waits and the flush interval is ten minutes: nothing is written, nothing told.
    assert not ticket.done
    assert _count(store, "handoff_hops") == 0
    ticket.wait(30)  # a waiter makes the writer commit now
    assert ticket.done and ticket.error is None
    assert _count(store, "handoff_hops") == 500  # readable from another client at once
    assert writer.committed == 500
    spans = writer.submit([_span(span_id=f"{i:016x}") for i in range(200)])
    spans.wait(30)
    assert _count(store, "otel_traces") == 200


def test_submits_queued_together_are_one_insert_per_table(stores: ChdbStores) -> None:
    # Each submit becomes columns at once; a batch joins them, table by table.
    store = stores.open()
    writer = stores.keep(store.writer(flush_ms=600_000, batch_size=1_000_000))
    letter = DeadLetter("orders-dlt", 0, 3, NOW // 10**6, payload=b"{}", original_topic="orders")
    tickets = [
        writer.submit([_hop(1), _hop(2, headers=())]),
        writer.submit([_span(span_id="00000000000000a1"), letter]),
        writer.submit([_hop(3, key=None, business_keys=("sku-1", "sku-2"))]),
    ]
    tickets[-1].wait(30)
    assert all(t.done and t.error is None for t in tickets)
    assert writer.batches == 1 and writer.committed == 5
    assert _one(
        store,
        "SELECT Offset, hex(Key), HeaderNames, BusinessKeys FROM otel.handoff_hops ORDER BY Offset",
    ) == [
        (1, "FF01", ["traceparent", "empty"], []),
        (2, "FF01", [], []),
        (3, None, ["traceparent", "empty"], ["sku-1", "sku-2"]),
    ]
    assert _count(store, "otel_traces") == 1
    assert store.counts()["dead_letters"] == 1


def test_a_failing_insert_fails_the_ticket_and_the_writer_recovers(stores: ChdbStores) -> None:
    store = stores.open()
    writer = stores.keep(store.writer(flush_ms=50))
    store._client.command("DROP TABLE otel.handoff_hops")  # the engine refuses the next INSERT
    ticket = writer.submit([_hop(1)])
    with pytest.raises(StoreUnavailable, match=r"the store cannot commit: .*handoff_hops"):
        ticket.wait(30)
    assert writer.failing
    assert writer.committed == 0 and writer.failed_commits == 1
    with pytest.raises(StoreUnavailable):  # refused at once while failing (receivers: 503)
        writer.submit([_hop(2)])
    hops = dict(handoff_schema.render_migration(1, handoff_schema.HandoffDDL()))
    store._client.command(hops[handoff_schema.HOPS])

    def resent() -> bool:
        try:
            writer.submit([_hop(1)]).wait(30)
        except StoreUnavailable:
            return False
        return True

    wait_for(resent, 30, "the writer committing again")
    assert not writer.failing
    assert _count(store, "handoff_hops") == 1


def test_a_record_no_column_holds_fails_only_its_own_submit(stores: ChdbStores) -> None:
    store = stores.open()
    writer = stores.keep(store.writer(flush_ms=600_000))
    bad = writer.submit([_hop(1 << 70)])  # beyond Int64: Kafka never hands one out
    good = writer.submit([_hop(5)])
    good.wait(30)
    with pytest.raises(RecordsRejected, match="1 records not stored: ValueError: offset"):
        bad.wait(30)
    assert writer.rejected == 1 and writer.committed == 1
    assert _one(store, "SELECT Offset FROM otel.handoff_hops") == [(5,)]


def test_one_alert_evaluation_is_written_whole(stores: ChdbStores) -> None:
    store = stores.open()
    firing = AlertRow("lag", '{"topic":"orders"}', "firing", NOW, NOW + 1, None, 12.0, "lag", "{}")
    pending = AlertRow("dlq", '{"topic":"x"}', "pending", NOW, None, None, 1.0, "dlq", "{}")

    def first(states: list[AlertRow]) -> AlertChanges:
        assert states == []
        return AlertChanges([firing, pending], [], [(firing, NOW + 1)])

    store.change_alerts(first)
    from console.store.clickhouse import alerts

    assert alerts.alert_states(store) == [pending, firing]
    (event,) = alerts.alert_events_after(store, Cursor(0))
    assert (event.rule, event.state, event.time_ns) == ("lag", "firing", NOW + 1)
    assert alerts.last_alert_event(store) == event.event_id
    resolved = AlertRow("lag", firing.labels, "resolved", NOW, NOW + 1, NOW + 9, 0.0, "", "{}")

    def second(states: list[AlertRow]) -> AlertChanges:
        assert states == [pending, firing]
        return AlertChanges([resolved], [("dlq", pending.labels)], [(resolved, NOW + 9)])

    store.change_alerts(second)
    assert alerts.alert_states(store) == [resolved]
    later = alerts.alert_events_after(store, event.event_id or Cursor(0))
    assert [(e.state, e.time_ns) for e in later] == [("resolved", NOW + 9)]
    assert [e.state for e in alerts.alert_events(store, NOW)] == ["resolved", "firing"]


def test_size_on_disk_grows_with_what_is_stored(stores: ChdbStores) -> None:
    store = stores.open()
    before = store.size_bytes()
    store.write([_span(span_id=f"{i:016x}", start_ns=NOW + i) for i in range(2000)])
    assert store.size_bytes() > before
    assert store.counts()["spans"] == 2000
