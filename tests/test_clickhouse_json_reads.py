"""A store whose Collector runs with ``json: true`` (the exporter's JSON attribute tables) reads
as one with the default Map tables: the same records written into each give the same journey,
the same ``trace --correlation-id``, ``trace --key`` and ``logs`` output, and the same panels."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.base.model import (
    SPAN_KIND_CONSUMER,
    SPAN_KIND_PRODUCER,
    STATUS_ERROR,
    Hop,
    LogRecord,
    Record,
    Span,
    SpanLink,
)
from console.journeys import journey, journeys
from console.store.api import Cursor
from tests.clickhouse_helpers import ChdbStores, chdb_stores, exporter_table_ddl
from tests.conftest import run_cli

SECOND = 10**9
T1, T2, T3 = "a" * 32, "b" * 32, "c" * 32
NOTE = 'a/b "quoted" é\\'


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[ChdbStores]:
    yield from chdb_stores(tmp_path)


def _records(now: int) -> list[Record]:
    """One order's journey (a producer span, a consumer span, logs, the send the consumer took
    and one nobody took yet), another order that failed, with attributes of every kind."""
    sent = now - 30 * SECOND
    shop = {"service.name": "shop", "deployment.environment": "prod", "host.cores": 8}
    billing = {"service.name": "billing", "correlation_id": "order-3"}  # the resource's id
    return [
        Span(
            trace_id=T1,
            span_id="1" * 16,
            name="send orders",
            start_ns=sent,
            end_ns=sent + 2_000_000,
            service="shop",
            kind=SPAN_KIND_PRODUCER,
            attributes={
                "correlation.id": "order-1",
                "messaging.system": "kafka",
                "messaging.destination.name": "orders",
                "messaging.destination.partition.id": "0",
                "messaging.kafka.message.key": "ord-42",
                "http.response.status_code": 201,
                "retry": True,
                "ratio": 0.25,
                "tags": ["a", "b"],
                "note": NOTE,
            },
            resource=shop,
            events=({"name": "enqueued", "time_ns": sent + 1000, "attributes": {"attempt": 2}},),
        ),
        Span(
            trace_id=T2,
            span_id="2" * 16,
            name="process orders",
            start_ns=sent + 5 * SECOND,
            end_ns=sent + 6 * SECOND,
            service="billing",
            kind=SPAN_KIND_CONSUMER,
            attributes={
                "correlation.id": "order-1",
                "messaging.system": "kafka",
                "messaging.destination.name": "orders",
                "messaging.destination.partition.id": "0",
                "messaging.kafka.offset": 4,
                "messaging.operation.type": "process",
                "messaging.consumer.group.name": "billing-group",
            },
            resource=billing,
            links=(SpanLink(T1, "1" * 16, {"link.kind": "follows", "hops": 1}),),
        ),
        Span(
            trace_id=T3,
            span_id="3" * 16,
            name="charge card",
            start_ns=sent + 7 * SECOND,
            end_ns=sent + 9 * SECOND,
            service="billing",
            status_code=STATUS_ERROR,
            status_message="card declined",
            attributes={"order.total": 12.5},  # its correlation id is its resource's
            resource=billing,
        ),
        LogRecord(
            time_ns=sent + 5 * SECOND + 10,
            service="billing",
            severity_number=9,
            severity_text="INFO",
            body="charging",
            trace_id=T2,
            span_id="2" * 16,
            attributes={"correlation.id": "order-1", "amount": 12.5, "card.last4": "4242"},
        ),
        LogRecord(
            time_ns=sent + 8 * SECOND,
            service="billing",
            severity_number=17,
            severity_text="ERROR",
            body="declined",
            attributes={"app.correlation_id": "order-3", "attempts": 3},
        ),
        *(
            Hop(
                "orders",
                0,
                offset,
                (sent + offset) // 10**6,
                key=b"ord-42",
                size=10,
                correlation_id=cid,
                trace_id=trace,
                seen_ns=sent + offset,
            )
            for offset, cid, trace in ((4, "order-1", T1), (5, "order-5", None))
        ),
    ]


def _reads(stores: ChdbStores, name: str, *, json_tables: bool, now: int) -> dict[str, Any]:
    """Write the records into a new store (its tables made first by a Collector with ``json:
    true`` when ``json_tables``), then everything the readers answer of them."""
    if json_tables:
        import clickhouse_connect

        client = clickhouse_connect.get_client(dsn=stores.url(name))
        try:
            client.command("CREATE DATABASE IF NOT EXISTS otel")
            for statement in exporter_table_ddl("otel", json_tables=True).values():
                client.command(statement)
        finally:
            client.close()
    store = stores.open(name)
    assert store.layout.traces_json is json_tables and store.layout.logs_json is json_tables
    store.write(_records(now), now_ns=now)
    found: dict[str, Any] = {}
    with store.reader() as reader:
        j = journey(reader, correlation_id="order-1", now_ns=now)
        assert j is not None
        found["journey"] = j
        found["journey-3"] = journey(reader, correlation_id="order-3", now_ns=now)
        found["list"] = journeys(reader, now_ns=now)
        found["by-key"] = reader.by_key("ord-42")
        found["by-number"] = reader.by_key("201")
        found["by-text"] = reader.by_key(NOTE)  # escaped in JSON text: / " and UTF-8
        found["logs"] = reader.logs(cids=["order-1", "order-3"])
        found["groups"] = reader.consumer_groups("orders")
        found["candidates"] = reader.candidates(now - 3600 * SECOND)
        found["waiting"] = reader.waiting_sends(now - 3600 * SECOND, now, 5)
        found["rollups"] = reader.service_rollups(now - 3600 * SECOND, now)
        found["freshness"] = reader.freshness()
        found["tail"] = reader.tail((Cursor(0), Cursor(0), Cursor(0)), 10)
        found["logs-between"] = reader.logs_between(now - 3600 * SECOND)
    stores.close()
    url = ["--store", stores.url(name)]
    for cli in (
        ("trace", "--correlation-id", "order-1", "--json"),
        ("trace", "--correlation-id", "order-3", "--json"),
        ("trace", "--key", "ord-42", "--json"),
        ("logs", "--correlation-id", "order-1", "--since", "1h", "--json"),
        ("logs", "--correlation-id", "order-3", "--since", "1h", "--json"),
    ):
        out = run_cli(*cli, *url)
        assert out.returncode == 0, out.stderr
        found[" ".join(cli)] = json.loads(_timeless(out.stdout))
    return found


def _timeless(text: str) -> str:
    """A command's output without how long ago things were (it runs at its own time)."""
    return re.sub(r"\b\d+(\.\d+)?(ms|s|m|h)\b", "N", text)


def test_json_attribute_tables_read_as_the_map_tables(stores: ChdbStores) -> None:
    now = time.time_ns()
    on_map = _reads(stores, "map", json_tables=False, now=now)
    on_json = _reads(stores, "json", json_tables=True, now=now)
    assert on_json.keys() == on_map.keys()
    for what, answer in on_map.items():
        assert on_json[what] == answer, what
    # The answers are the journey's, not two empty ones: both orders found, every record.
    j = on_json["journey"]
    assert sorted(s.name for s in j.spans) == ["process orders", "send orders"]
    assert [r.body for r in j.logs] == ["charging"]
    assert [h.offset for h in j.hops] == [4]
    assert [s.name for s in on_json["journey-3"].spans] == ["charge card"]
    assert on_json["journey-3"].status == "failed"
    # Attributes as the Map layout holds them: dotted keys, values as text.
    sent = next(s for s in j.spans if s.name == "send orders")
    assert sent.attributes["http.response.status_code"] == "201"
    assert sent.attributes["retry"] == "true"
    assert sent.attributes["tags"] == '["a","b"]'
    assert sent.attributes["note"] == NOTE
    assert sent.resource["host.cores"] == "8"
    assert sent.events[0]["attributes"] == {"attempt": "2"}
    assert sent.business_keys == ("ord-42",)
    taken = next(s for s in j.spans if s.name == "process orders")
    assert (taken.messaging_offset, taken.messaging_consumer_group) == (4, "billing-group")
    assert taken.links[0].attributes == {"link.kind": "follows", "hops": "1"}
    spans, hops = on_json["by-key"]
    assert [s.name for s in spans] == ["send orders"] and len(hops) == 2
    assert [s.name for s in on_json["by-number"][0]] == ["send orders"]
    assert [s.name for s in on_json["by-text"][0]] == ["send orders"]
    assert on_json["groups"] == ["billing-group"]
    assert sorted(on_json["candidates"]) == ["order-1", "order-3", "order-5"]
    assert on_json["waiting"] == [("orders", 1, ["order-5"])]
    assert {c.service for c in on_json["rollups"]} == {"billing", "shop"}  # roots: entries
    assert [r["body"] for r in on_json["logs --correlation-id order-3 --since 1h --json"]] == [
        "declined"
    ]
