"""The ``trace`` and ``journeys`` commands as an operator runs them, the render, and OTLP JSON."""

from __future__ import annotations

import base64
import json
import time
from io import StringIO
from pathlib import Path

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from rich.console import Console

from console.journeys import journey
from console.journeys.render import render_journey
from console.store import Storage
from tests.conftest import run_cli
from tests.journey_fixtures import ORDERS, ORDERS_DLT, Flow, completed_flow, fulfil, order_placed

S = 1_000_000_000
BACKENDS = ("sqlite", "chdb", "chdb-json")  # every test on each store (tests/conftest.py)
JSON_KEYS = {
    "correlation_id", "status", "where", "detail", "groups", "reason", "after", "trace_ids",
    "started_ns", "ended_ns", "duration_ms", "services", "spans", "hops", "dead_letters",
    "replays", "handoffs", "logs",
}  # fmt: skip


def _render(store: Storage, cid: str, now_ns: int) -> str:
    j = journey(store, correlation_id=cid, now_ns=now_ns)
    assert j is not None
    out = StringIO()
    Console(width=160, file=out, color_system=None).print(render_journey(j))
    return out.getvalue()


def _stalled(store: Storage, cid: str, t0: int) -> None:
    store.write(completed_flow(f"{cid}-before", t0 - 600 * S).records)
    flow = Flow(cid, t0)
    flow.hop(ORDERS, 31, order_placed(flow))
    store.write(flow.records)


def _dead(store: Storage, cid: str, t0: int) -> None:
    flow = Flow(cid, t0)
    producer = order_placed(flow)
    hop = flow.hop(ORDERS, 31, producer)
    fulfil(flow, hop, producer, 60, error="UnknownSkuException: sku X-404")
    flow.dead_letter(hop, 90, "fulfilment", "no such sku X-404")
    store.write(flow.records)


def test_render_shows_the_status_on_top_the_gaps_and_the_services(store: Storage) -> None:
    t0 = time.time_ns() - 60 * S
    store.write(completed_flow("order-r", t0).records)
    text = _render(store, "order-r", t0 + 60 * S)
    lines = text.splitlines()
    assert lines[0].startswith(" COMPLETED  at shipping")
    assert "correlation order-r · 3 trace(s)" in lines[1]
    assert "⇢ orders.placed [0]@" in text and "storefront → fulfilment (fulfilment)" in text
    assert "gap 30.0 ms" in text and "gap 40.0 ms" in text
    assert "(call +2.0 ms)" in text  # storefront -> payments, synchronous
    assert "  reserve stock" in text  # indented under its parent


def test_render_marks_a_stall_and_a_dead_letter(store: Storage) -> None:
    now = time.time_ns()
    _stalled(store, "order-s", now - 120 * S)
    stalled = _render(store, "order-s", now)
    assert stalled.splitlines()[0].startswith(" STALLED  at orders.placed")
    assert "not taken by group fulfilment" in stalled.splitlines()[0]
    assert "storefront → …  not taken" in stalled

    _dead(store, "order-d", now - 300 * S)
    dead = _render(store, "order-d", now)
    assert dead.splitlines()[0].startswith(f" DEAD LETTERED  at {ORDERS_DLT}")
    assert f"✖ DLQ {ORDERS_DLT}:0:" in dead
    assert "UnknownSkuException: no such sku X-404" in dead
    assert "✖ UnknownSkuException: sku X-404" in dead  # the failing consumer span


def test_trace_prints_the_journey_and_exits_0(store: Storage, store_args: list[str]) -> None:
    now = time.time_ns()
    _stalled(store, "order-cli", now - 120 * S)
    r = run_cli("trace", "--correlation-id", "order-cli", *store_args)
    assert r.returncode == 0, r.stderr
    assert "STALLED" in r.stdout and "fulfilment" in r.stdout
    hop_offset = json.loads(
        run_cli("trace", "--correlation-id", "order-cli", *store_args, "--json").stdout
    )["hops"][0]["offset"]
    r = run_cli("trace", "--message", f"{ORDERS}:0:{hop_offset}", *store_args, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["correlation_id"] == "order-cli"
    r = run_cli(
        "trace", "--correlation-id", "order-cli", *store_args, "--stall-after", "10m",
        "--json",
    )  # fmt: skip
    assert json.loads(r.stdout)["status"] == "in_flight"


def test_trace_json_has_the_documented_shape(store: Storage, store_args: list[str]) -> None:
    _dead(store, "order-json", time.time_ns() - 300 * S)
    r = run_cli("trace", "--correlation-id", "order-json", *store_args, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc) == JSON_KEYS
    assert doc["status"] == "dead_lettered" and doc["where"] == ORDERS_DLT
    assert len(doc["trace_ids"]) == 2 and doc["duration_ms"] > 0
    span = doc["spans"][0]
    assert {"trace_id", "span_id", "name", "service", "start_ns", "duration_ms", "error"} <= set(
        span
    )
    hop = doc["hops"][0]
    assert hop["topic"] == ORDERS and hop["headers"]["x-correlation-id"] == "order-json"
    assert hop["key"] == "order-json"  # the message key, as text
    assert doc["logs"] == []
    (dead,) = doc["dead_letters"]
    assert (dead["dlq_topic"], dead["original_topic"]) == (ORDERS_DLT, ORDERS)
    assert dead["exception_message"] == "no such sku X-404"
    async_ = [h for h in doc["handoffs"] if h["kind"] == "async"]
    assert async_[0]["topic"] == ORDERS and async_[0]["gap_ms"] == 30.0


def test_otlp_json_export_loads_as_an_export_trace_service_request(
    store: Storage, store_args: list[str], tmp_path: Path
) -> None:
    store.write(completed_flow("order-otlp", time.time_ns() - 60 * S).records)
    out = tmp_path / "journey.otlp.json"
    r = run_cli("trace", "--correlation-id", "order-otlp", *store_args, "--otlp-json", str(out))
    assert r.returncode == 0, r.stderr
    assert f"wrote 8 spans as OTLP JSON to {out}" in r.stdout
    doc = json.loads(out.read_text())
    # OTLP JSON carries hex ids; protobuf's JSON mapping expects base64 for bytes fields.
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for sp in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in sp:
                        sp[key] = base64.b64encode(bytes.fromhex(sp[key])).decode()
                for lk in sp.get("links", []):
                    lk["traceId"] = base64.b64encode(bytes.fromhex(lk["traceId"])).decode()
                    lk["spanId"] = base64.b64encode(bytes.fromhex(lk["spanId"])).decode()
    req = json_format.Parse(json.dumps(doc), ExportTraceServiceRequest())
    services = {
        a.value.string_value
        for rs in req.resource_spans
        for a in rs.resource.attributes
        if a.key == "service.name"
    }
    assert services == {"storefront", "payments", "fulfilment", "shipping"}
    spans = [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert len(spans) == 8
    consumer = next(s for s in spans if s.name == "orders.placed process")
    assert consumer.kind == 5 and len(consumer.links) == 1 and len(consumer.trace_id) == 16
    assert any(a.key == "messaging.destination.name" for a in consumer.attributes)


@pytest.mark.backends("sqlite")  # the message names the SQLite file
def test_not_found_exits_1_with_one_line(store: Storage, db_path: Path) -> None:
    store.write(completed_flow("order-x", time.time_ns()).records)
    r = run_cli("trace", "--correlation-id", "no-such-order", "--db", str(db_path))
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"error: no journey for --correlation-id no-such-order in {db_path}"
    ]
    r = run_cli("trace", "--correlation-id", "x", "--db", str(db_path.parent / "missing.db"))
    assert r.returncode == 1 and "no handoff-console database" in r.stderr


def test_bad_input_exits_2(store: Storage, store_args: list[str]) -> None:
    db = store_args
    cases = [
        (("trace", *db), "given: none"),
        (("trace", "--correlation-id", "a", "--trace-id", "b" * 32, *db), "exactly one"),
        (("trace", "--message", "orders.placed:0", *db), "TOPIC:PARTITION:OFFSET"),
        (("trace", "--message", "orders.placed:x:1", *db), "TOPIC:PARTITION:OFFSET"),
        (("trace", "--trace-id", "xyz", *db), "32 hex digits"),
        (("trace", "--correlation-id", "a", "--stall-after", "soon", *db), "not a duration"),
        (("journeys", "--status", "lost", *db), "--status must be one of"),
        (("journeys", "--since", "10 parsecs", *db), "not a duration"),
    ]
    for args, message in cases:
        r = run_cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert message in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1


def test_journeys_lists_status_where_and_services(store: Storage, store_args: list[str]) -> None:
    now = time.time_ns()
    _stalled(store, "order-j1", now - 120 * S)
    _dead(store, "order-j2", now - 60 * S)
    r = run_cli("journeys", *store_args, "--since", "10m", "--json")
    assert r.returncode == 0, r.stderr
    items = {i["correlation_id"]: i for i in json.loads(r.stdout)}
    assert items["order-j1"]["status"] == "stalled" and items["order-j1"]["where"] == ORDERS
    assert items["order-j2"]["status"] == "dead_lettered"
    assert "fulfilment" in items["order-j2"]["services"]
    assert {"correlation_id", "status", "where", "started", "duration_ms", "services"} <= set(
        items["order-j1"]
    )
    r = run_cli("journeys", *store_args, "--status", "stalled", "--since", "15m")
    assert r.returncode == 0
    assert "order-j1" in r.stdout and "order-j2" not in r.stdout and "stalled" in r.stdout
    r = run_cli("journeys", *store_args, "--status", "failed")
    assert r.returncode == 0 and "no journeys with status failed in the last 1h" in r.stdout
