"""The console writes into the exporter's tables as it finds them: the newer logs table, the
older one with ``TimestampTime`` and without ``EventName``, and the ``json: true`` tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.base.model import LogRecord, Span
from tests.clickhouse_helpers import ChdbStores, chdb_stores, exporter_table_ddl

NOW = 1_765_000_000_123_456_789


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[ChdbStores]:
    yield from chdb_stores(tmp_path)


# The logs table an older exporter made (internal/sqltemplates/logs_table.sql before EventName
# and the five-minute key, about v0.116): TimestampTime, partitioned and sorted by it.
OLDER_LOGS = """CREATE TABLE IF NOT EXISTS "otel"."otel_logs" (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime DateTime DEFAULT toDateTime(Timestamp),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8,
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
) ENGINE = MergeTree()
PARTITION BY toDate(TimestampTime)
PRIMARY KEY (ServiceName, TimestampTime)
ORDER BY (ServiceName, TimestampTime, Timestamp)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1"""

LOG = LogRecord(
    time_ns=NOW,
    service="billing",
    severity_number=9,
    severity_text="INFO",
    body="charged",
    attributes={"amount": 12.5},
    correlation_id="corr-1",
)


def _collector_made(stores: ChdbStores, *statements: str) -> None:
    """Tables a team's Collector made before the console first opened the store."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=stores.url())
    try:
        client.command("CREATE DATABASE IF NOT EXISTS otel")
        for statement in statements:
            client.command(statement)
    finally:
        client.close()


def _rows(store: Any, sql: str) -> list[Any]:
    return list(store._client.query(sql).result_rows)


def test_the_newer_logs_table_gets_event_name_and_no_timestamp_time(stores: ChdbStores) -> None:
    store = stores.open()
    assert not store.layout.logs_timestamp_time
    assert store.layout.logs.has("EventName")
    store.write([LOG])
    assert _rows(store, "SELECT Body, EventName, LogAttributes FROM otel.otel_logs") == [
        ("charged", "", {"amount": "12.5", "correlation.id": "corr-1"})
    ]


def test_an_older_logs_table_is_written_as_it_is(stores: ChdbStores) -> None:
    _collector_made(stores, OLDER_LOGS)
    store = stores.open()
    assert store.layout.logs_timestamp_time
    assert not store.layout.logs.has("EventName")
    store.write([LOG])
    assert _rows(
        store,
        "SELECT toUnixTimestamp64Nano(Timestamp), toUnixTimestamp(TimestampTime), Body,"
        " LogAttributes['correlation.id'] FROM otel.otel_logs",
    ) == [(NOW, NOW // 10**9, "charged", "corr-1")]
    # The table is the Collector's still: not altered, no EventName added.
    names = [
        r[0] for r in _rows(store, "SELECT name FROM system.columns WHERE table = 'otel_logs'")
    ]
    assert "EventName" not in names and "TimestampTime" in names


def test_json_attribute_tables_get_typed_attributes_and_their_keys(stores: ChdbStores) -> None:
    ddl = exporter_table_ddl("otel", json_tables=True)
    _collector_made(stores, ddl["otel_traces"], ddl["otel_logs"])
    store = stores.open()
    assert store.layout.traces_json and store.layout.logs_json
    span = Span(
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id="b7ad6b7169203331",
        name="charge",
        start_ns=NOW,
        end_ns=NOW + 5,
        service="billing",
        attributes={"http": {"status_code": 200}, "order_id": "o-1"},
        resource={"service.name": "billing"},
        correlation_id="corr-1",
    )
    store.write([span, LOG])
    ((attrs, keys, res_keys),) = _rows(
        store,
        "SELECT toJSONString(SpanAttributes), SpanAttributesKeys, ResourceAttributesKeys"
        " FROM otel.otel_traces",
    )
    assert attrs == ('{"correlation":{"id":"corr-1"},"http":{"status_code":200},"order_id":"o-1"}')
    # internal/util.go UniqueFlattenedAttributes: every path, sorted.
    assert keys == ["correlation.id", "http.status_code", "order_id"]
    assert res_keys == ["service.name"]
    ((log_attrs, log_keys),) = _rows(
        store, "SELECT toJSONString(LogAttributes), LogAttributesKeys FROM otel.otel_logs"
    )
    assert log_attrs == '{"amount":12.5,"correlation":{"id":"corr-1"}}'
    assert log_keys == ["amount", "correlation.id"]
