"""Spans sent as Arrow (``span_arrow.py``, the writer's path) are the rows the column path
writes (``rows.trace_columns``, checked against the exporter's in test_clickhouse_writer.py):
the same records go into two copies of the exporter's ``otel_traces``, one each way, and every
row must print the same, byte for byte, map key order included."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.base.model import Span, SpanLink, SpanRow
from console.store.clickhouse import rows, span_arrow
from tests.clickhouse_helpers import ChdbStores, chdb_stores

NOW = 1_765_000_000_000_000_000
TRACE = "0af7651916cd43dd8448eb211c80319c"
SHARED_RESOURCE = {"service.name": "checkout", "host.name": "h1", "pid": 42}


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[ChdbStores]:
    yield from chdb_stores(tmp_path)


def _span(n: int, **kw: Any) -> Span:
    base: dict[str, Any] = {
        "trace_id": TRACE,
        "span_id": f"{n:016x}",
        "name": "orders publish",
        "start_ns": NOW + n,
        "end_ns": NOW + n + 2_500_000,
        "service": "checkout",
        "resource": SHARED_RESOURCE,
    }
    base.update(kw)
    return Span(**base)


def _row(n: int, **kw: Any) -> SpanRow:
    fields: list[Any] = [
        bytes.fromhex(TRACE),
        n.to_bytes(8, "big"),
        bytes.fromhex("00f067aa0ba902b7"),
        "orders process",
        5,
        NOW + n,
        NOW + n + 10,
        1,
        "",
        "billing",
        "billing.kafka",
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        orjson.dumps({"messaging.system": "kafka", "n": 7}).decode(),
        orjson.dumps({"service.name": "billing"}).decode(),
        None,
        None,
    ]
    for index, value in kw.items():
        at = int(index.removeprefix("f"))
        if at == len(fields):
            fields.append(value)
        else:
            fields[at] = value
    return SpanRow(tuple(fields))


def _records() -> list[Span | SpanRow]:
    """Every shape a column can take: full and empty maps, typed attribute values, derived
    fields written back or already there, events and links (none, one, several), ids as bytes,
    as text and absent, kinds and statuses out of pdata's range, an end before the start."""
    return [
        _span(
            1,
            parent_span_id="b7ad6b7169203331",
            kind=4,
            status_code=2,
            status_message="broker timeout",
            attributes={
                "messaging.system": "kafka",
                "retries": 3,
                "ratio": 0.25,
                "whole": 2.0,
                "tiny": 1e-7,
                "huge": 1e21,
                "nan": math.nan,
                "sync": False,
                "tags": ["a", "b"],
                "nested": {"k": [1, None]},
                "raw": b"\x00\xff",
                "none": None,
                "order_id": "o-17",
                "ключ": "значение ✓",
                "": "",
            },
            events=(
                {"name": "retry", "time_ns": NOW + 1000, "attributes": {"attempt": 2}},
                {"name": "", "time_ns": 0, "attributes": {}},
                {"attributes": None},
            ),
            links=(
                SpanLink("11" * 16, "22" * 8, {"why": "batch", "n": 1.5}),
                SpanLink("33" * 16, "44" * 8, {}),
            ),
            scope="checkout.kafka",
            correlation_id="corr-9",
            messaging_system="kafka",
            messaging_destination="orders",
            messaging_partition=3,
            messaging_offset=42,
            messaging_operation="send",
            messaging_consumer_group="g1",
            business_keys=("o-17", "cust-5"),
        ),
        _span(2, attributes={}, resource={}, kind=9, status_code=7),
        _span(3, end_ns=NOW, start_ns=NOW + 5),  # an end before its start wraps, as pdata's
        _span(4, resource={"service.name": "other"}, correlation_id="corr-r"),
        _span(5, attributes={"correlation.id": "corr-x"}, correlation_id="corr-y"),
        _row(6),
        _row(
            7,
            f2=None,
            f11="corr-9",
            f12="kafka",
            f13="orders",
            f14=2,
            f15=99,
            f16="process",
            f17="billing-group",
            f18=orjson.dumps({"correlation_id": "corr-9", "b": True, "f": 0.1}).decode(),
            f20=orjson.dumps(
                [
                    {"name": "e1", "time_ns": NOW + 5, "attributes": {"x": 1}},
                    {"name": "e2", "time_ns": NOW + 6},
                ]
            ).decode(),
            f21=[["aa" * 16, "bb" * 8, {"k": 1}], ["cc" * 16, "dd" * 8, None]],
            f22=["key-1", "7"],
        ),
        _row(8, f0="not-hex-trace", f1="not-hex-span", f18="", f19=None, f20="", f21=[]),
        _row(9, f18="[1, 2]", f19="{}", f4=-1, f7=3),
    ]


def _tsv(store: Any, table: str) -> list[bytes]:
    out = store._client.raw_query(
        f"SELECT * FROM otel.{table} ORDER BY SpanId, Timestamp", fmt="TabSeparated"
    )
    return bytes(out).splitlines()


def test_arrow_rows_are_the_column_paths_rows_byte_for_byte(stores: ChdbStores) -> None:
    store = stores.open()
    records = _records()
    client = store._client
    client.command("CREATE TABLE otel.arrow_traces AS otel.otel_traces")
    client.insert(
        "otel.otel_traces",
        rows.trace_columns(records, store.layout.traces),
        column_names=list(rows.TRACE_COLUMNS),
        column_oriented=True,
    )
    client.insert_arrow("otel.arrow_traces", span_arrow.trace_table(records))
    reference = _tsv(store, "otel_traces")
    assert len(reference) == len(records)
    assert _tsv(store, "arrow_traces") == reference
    # The reference is what it should be where the Arrow path has its own code: a resource
    # shared by many spans, the Nested columns, the wrapped duration, the ids.
    ((res, attrs, e_names, l_spans),) = store.rows(
        "SELECT ResourceAttributes, SpanAttributes, Events.Name, Links.SpanId"
        " FROM otel.arrow_traces WHERE SpanId = '0000000000000001'"
    )
    assert res == {"service.name": "checkout", "host.name": "h1", "pid": "42"}
    assert (attrs["nan"], attrs["raw"], attrs["handoff.business_key.1"]) == (
        "json: unsupported value: NaN",
        "00ff",
        "cust-5",
    )
    assert (e_names, l_spans) == (["retry", "", ""], ["22" * 8, "44" * 8])
    assert store.rows(
        "SELECT Duration, TraceId, SpanKind, StatusCode FROM otel.arrow_traces"
        " WHERE SpanId IN ('0000000000000003', 'not-hex-span') ORDER BY SpanId"
    ) == [(2**64 - 5, TRACE, "Unspecified", "Unset"), (10, "not-hex-trace", "Consumer", "Ok")]


def test_a_span_time_no_column_holds_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="span start 9223372036854775808 is out of range"):
        span_arrow.trace_table([_span(1, start_ns=2**63)])
    late_event = ({"name": "e", "time_ns": 2**64},)
    with pytest.raises(ValueError, match="event time 18446744073709551616 is out of range"):
        span_arrow.trace_table([_span(1, events=late_event)])


def test_spans_submitted_apart_and_inserted_together_are_the_same_rows(
    stores: ChdbStores,
) -> None:
    """The writer joins many submits (an OTLP request each) into one INSERT: the joined Arrow
    table holds every span once, its maps and Nested columns still with their own span."""
    store = stores.open()
    records = _records()
    client = store._client
    client.command("CREATE TABLE otel.reference_traces AS otel.otel_traces")
    client.insert(
        "otel.reference_traces",
        rows.trace_columns(records, store.layout.traces),
        column_names=list(rows.TRACE_COLUMNS),
        column_oriented=True,
    )
    writer = stores.keep(store.writer(flush_ms=600_000))
    tickets = [writer.submit([r]) for r in records]
    writer.flush(60)
    for t in tickets:
        t.wait(30)
    assert writer.committed == len(records)
    assert _tsv(store, "otel_traces") == _tsv(store, "reference_traces")
