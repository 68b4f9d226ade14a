"""Journeys written as the collectors will write them: Span, Hop and DeadLetter records through
``Store.write``, with OTel messaging fields, W3C ``traceparent`` and ``x-correlation-id`` headers,
span links across traces, and replay-ledger rows as the DLQ feature writes them.

The story is CanvasFlow's order path: ``storefront`` takes ``POST /orders``, calls ``payments``
synchronously, publishes to ``orders.placed``; ``fulfilment`` (group ``fulfilment``) consumes it in
a new trace linked to the producer and publishes ``shipments.requested``; ``shipping`` (group
``shipping``) consumes that in a third trace. Its final step is that consumer.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

from console.base.model import (
    SPAN_KIND_CLIENT,
    SPAN_KIND_CONSUMER,
    SPAN_KIND_INTERNAL,
    SPAN_KIND_PRODUCER,
    SPAN_KIND_SERVER,
    STATUS_ERROR,
    DeadLetter,
    Hop,
    Record,
    Span,
    SpanLink,
)
from console.store import Storage, Store
from tests.dlq_headers_fixture import spring_dlt_headers

MS = 1_000_000
ORDERS = "orders.placed"
SHIPMENTS = "shipments.requested"
ORDERS_DLT = "orders.placed-dlt"
_offsets: dict[str, itertools.count[int]] = {}
_rng = random.Random(7)


def hexid(n: int) -> str:
    return "".join(_rng.choice("0123456789abcdef") for _ in range(n))


def next_offset(topic: str) -> int:
    return next(_offsets.setdefault(topic, itertools.count(100)))


@dataclass
class Flow:
    """Builds one journey's records; ``at`` is milliseconds after ``t0_ns``."""

    cid: str
    t0_ns: int
    records: list[Record] = field(default_factory=list)

    def span(
        self,
        service: str,
        name: str,
        trace: str,
        at: float,
        took: float,
        *,
        parent: Span | None = None,
        kind: int = SPAN_KIND_INTERNAL,
        error: str | None = None,
        with_cid: bool = True,
        links: tuple[Span, ...] = (),
        **messaging: object,
    ) -> Span:
        start = self.t0_ns + int(at * MS)
        attrs: dict[str, object] = {}
        if with_cid:
            attrs["app.correlation_id"] = self.cid
        if messaging.get("messaging_destination"):
            attrs["messaging.system"] = "kafka"
            attrs["messaging.destination.name"] = messaging["messaging_destination"]
        s = Span(
            trace_id=trace,
            span_id=hexid(16),
            name=name,
            start_ns=start,
            end_ns=start + int(took * MS),
            service=service,
            parent_span_id=parent.span_id if parent else None,
            kind=kind,
            status_code=STATUS_ERROR if error else 1,
            status_message=error or "",
            attributes=attrs,
            resource={"service.name": service, "deployment.environment": "test"},
            links=tuple(SpanLink(lk.trace_id, lk.span_id) for lk in links),
            scope="canvasflow",
            correlation_id=self.cid if with_cid else None,
            messaging_system="kafka" if messaging.get("messaging_destination") else None,
            **messaging,  # type: ignore[arg-type]  # attribute values
        )
        self.records.append(s)
        return s

    def hop(self, topic: str, at: float, sender: Span | None, replay_id: str | None = None) -> Hop:
        headers: list[tuple[str, bytes | None]] = [("x-correlation-id", self.cid.encode())]
        if sender is not None:
            headers.insert(0, ("traceparent", f"00-{sender.trace_id}-{sender.span_id}-01".encode()))
        if replay_id:
            headers.append(("x-replay-id", replay_id.encode()))
        t = self.t0_ns + int(at * MS)
        h = Hop(
            topic=topic,
            partition=0,
            offset=next_offset(topic),
            timestamp_ms=t // MS,
            timestamp_type=1,
            key=self.cid.encode(),
            size=180,
            headers=tuple(headers),
            correlation_id=self.cid,
            trace_id=sender.trace_id if sender else None,
            span_id=sender.span_id if sender else None,
            payload_sha256=hexid(64),
            seen_ns=t + 3 * MS,
        )
        self.records.append(h)
        return h

    def dead_letter(self, hop: Hop, at: float, group: str, message: str) -> DeadLetter:
        t = self.t0_ns + int(at * MS)
        d = DeadLetter(
            dlq_topic=f"{hop.topic}-dlt",
            partition=0,
            offset=next_offset(f"{hop.topic}-dlt"),
            timestamp_ms=t // MS,
            key=hop.key,
            headers=(
                *hop.headers,
                *spring_dlt_headers(
                    topic=hop.topic,
                    partition=hop.partition,
                    offset=hop.offset,
                    timestamp_ms=hop.timestamp_ms,
                    group=group,
                    exception_fqcn="com.canvasflow.fulfilment.UnknownSkuException",
                    message=message,
                ),
            ),
            payload=b'{"order":"o-1","sku":"X-404"}',
            payload_size=29,
            convention="spring",
            original_topic=hop.topic,
            original_partition=hop.partition,
            original_offset=hop.offset,
            original_timestamp_ms=hop.timestamp_ms,
            consumer_group=group,
            exception_class="com.canvasflow.fulfilment.UnknownSkuException",
            exception_message=message,
            correlation_id=self.cid,
            trace_id=hop.trace_id,
            first_seen_ns=t + 2 * MS,
        )
        self.records.append(d)
        return d


def order_placed(flow: Flow, *, payments_error: str | None = None) -> Span:
    """storefront POST /orders -> payments (sync) -> publish orders.placed. Returns the producer."""
    trace = hexid(32)
    root = flow.span("storefront", "POST /orders", trace, 0, 40, kind=SPAN_KIND_SERVER)
    call = flow.span(
        "storefront",
        "POST /payments",
        trace,
        5,
        20,
        parent=root,
        kind=SPAN_KIND_CLIENT,
        error=payments_error,
    )
    flow.span(
        "payments",
        "POST /payments",
        trace,
        7,
        15,
        parent=call,
        kind=SPAN_KIND_SERVER,
        error=payments_error,
    )
    return flow.span(
        "storefront",
        f"{ORDERS} publish",
        trace,
        30,
        2,
        parent=root,
        kind=SPAN_KIND_PRODUCER,
        messaging_destination=ORDERS,
        messaging_operation="publish",
    )


def fulfil(flow: Flow, hop: Hop, producer: Span, at: float, *, error: str | None = None) -> Span:
    """fulfilment consumes orders.placed in a new trace linked to the producer (no correlation id
    on its spans: only the link and the hop join it). Returns its producer span or consumer."""
    trace = hexid(32)
    consumer = flow.span(
        "fulfilment",
        f"{ORDERS} process",
        trace,
        at,
        25,
        kind=SPAN_KIND_CONSUMER,
        error=error,
        with_cid=False,
        links=(producer,),
        messaging_destination=ORDERS,
        messaging_partition=hop.partition,
        messaging_offset=hop.offset,
        messaging_operation="process",
        messaging_consumer_group="fulfilment",
    )
    if error:
        return consumer
    flow.span("fulfilment", "reserve stock", trace, at + 2, 10, parent=consumer, with_cid=False)
    return flow.span(
        "fulfilment",
        f"{SHIPMENTS} publish",
        trace,
        at + 20,
        2,
        parent=consumer,
        kind=SPAN_KIND_PRODUCER,
        with_cid=False,
        messaging_destination=SHIPMENTS,
        messaging_operation="publish",
    )


def ship(flow: Flow, hop: Hop, producer: Span, at: float) -> Span:
    """shipping consumes shipments.requested in a third trace linked to fulfilment's send."""
    trace = hexid(32)
    return flow.span(
        "shipping",
        f"{SHIPMENTS} process",
        trace,
        at,
        30,
        kind=SPAN_KIND_CONSUMER,
        with_cid=False,
        links=(producer,),
        messaging_destination=SHIPMENTS,
        messaging_partition=hop.partition,
        messaging_offset=hop.offset,
        messaging_operation="process",
        messaging_consumer_group="shipping",
    )


def completed_flow(cid: str, t0_ns: int) -> Flow:
    f = Flow(cid, t0_ns)
    p1 = order_placed(f)
    h1 = f.hop(ORDERS, 31, p1)
    p2 = fulfil(f, h1, p1, 60)
    h2 = f.hop(SHIPMENTS, 81, p2)
    ship(f, h2, p2, 120)
    return f


def write_ledger(
    store: Storage,
    *,
    replay_id: str,
    dead: DeadLetter,
    state: str,
    created_ns: int,
    target_offset: int | None,
) -> None:
    """A replay-ledger row as the DLQ feature writes it (SQLite's ``replay_ledger``, ClickHouse's
    ``handoff_replays``)."""
    row = (
        replay_id,
        dead.dlq_topic,
        dead.partition,
        dead.offset,
        dead.original_topic,
        "ab" * 32,
        state,
        1,
        created_ns,
        created_ns + 5 * MS if state == "acked" else None,
        0 if target_offset is not None else None,
        target_offset,
        "broker said no" if state == "failed" else None,
        "operator",
    )
    if not isinstance(store, Store):
        _write_ledger_clickhouse(store, row)
        return
    conn = store.connect()
    try:
        conn.execute(
            "INSERT INTO replay_ledger (replay_id, dlq_topic, partition, offset, target_topic, "
            "payload_sha256, state, replay_count, created_ns, acked_ns, target_partition, "
            "target_offset, error, os_user) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            row,
        )
    finally:
        conn.close()


def _write_ledger_clickhouse(store: Storage, row: tuple[object, ...]) -> None:
    from console.store.clickhouse.handoff_schema import REPLAYS
    from console.store.clickhouse.storage import ClickHouseStorage

    assert isinstance(store, ClickHouseStorage)
    columns = (
        "ReplayId, DlqTopic, Partition, Offset, TargetTopic, PayloadSha256, State, ReplayCount,"
        " Created, Acked, TargetPartition, TargetOffset, Error, OsUser, Version"
    )
    client = store.new_client()
    try:
        client.insert(
            store.table(REPLAYS),
            [[*row, row[8]]],  # Version: when it was written
            column_names=[c.strip() for c in columns.split(",")],
        )
    finally:
        client.close()
