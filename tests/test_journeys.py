"""journey(): stitching, handoffs and statuses on records written as the collectors write them."""

from __future__ import annotations

import time

import pytest

from console.base.errors import InputError
from console.base.model import (
    SPAN_KIND_CLIENT,
    SPAN_KIND_CONSUMER,
    SPAN_KIND_PRODUCER,
    SPAN_KIND_SERVER,
    DeadLetter,
    SeriesPoint,
    Span,
)
from console.journeys import journey, journeys
from console.store import Storage
from tests.journey_fixtures import (
    MS,
    ORDERS,
    ORDERS_DLT,
    SHIPMENTS,
    Flow,
    completed_flow,
    fulfil,
    hexid,
    next_offset,
    order_placed,
    ship,
    write_ledger,
)

S = 1_000_000_000
BACKENDS = ("sqlite", "chdb", "chdb-json")  # every test on each store (tests/conftest.py)


def test_a_journey_is_stitched_across_three_traces_by_links_and_kafka_headers(
    store: Storage,
) -> None:
    t0 = time.time_ns() - 60 * S
    flow = completed_flow("order-7", t0)
    store.write(flow.records)
    store.write(completed_flow("order-8", t0 + 5 * S).records)  # a neighbour, not ours

    j = journey(store, correlation_id="order-7", now_ns=t0 + 60 * S)

    assert j is not None
    assert j.status == "completed"
    assert j.where == "shipping"
    assert len(j.trace_ids) == 3
    assert len(j.spans) == 8
    assert {s.service for s in j.spans} == {"storefront", "payments", "fulfilment", "shipping"}
    assert [h.topic for h in j.hops] == [ORDERS, SHIPMENTS]
    assert [s.start_ns for s in j.spans] == sorted(s.start_ns for s in j.spans)
    sent = [h for h in j.handoffs if h.kind == "async"]
    assert [(h.topic, h.from_service, h.to_service, h.consumer_group) for h in sent] == [
        (ORDERS, "storefront", "fulfilment", "fulfilment"),
        (SHIPMENTS, "fulfilment", "shipping", "shipping"),
    ]
    assert sent[0].gap_ms == 30.0  # publish at 30 ms, processed at 60 ms
    assert sent[1].gap_ms == 40.0
    (call,) = [h for h in j.handoffs if h.kind == "sync"]
    assert (call.from_service, call.to_service, call.gap_ms) == ("storefront", "payments", 2.0)

    # The same journey is found from its last trace (links forward) and from a Kafka coordinate.
    last_trace = next(s.trace_id for s in j.spans if s.service == "shipping")
    by_trace = journey(store, trace_id=last_trace, now_ns=t0 + 60 * S)
    hop = j.hops[1]
    by_message = journey(store, message=f"{hop.topic}:{hop.partition}:{hop.offset}")
    for other in (by_trace, by_message):
        assert other is not None
        assert other.correlation_id == "order-7"
        assert {s.span_id for s in other.spans} == {s.span_id for s in j.spans}


def test_stalled_names_the_topic_and_the_group_that_should_have_taken_it(store: Storage) -> None:
    now = time.time_ns()
    store.write(completed_flow("earlier", now - 3600 * S).records)  # fulfilment reads orders
    flow = Flow("order-stuck", now - 120 * S)
    producer = order_placed(flow)
    flow.hop(ORDERS, 31, producer)
    store.write(flow.records)

    j = journey(store, correlation_id="order-stuck", now_ns=now)

    assert j is not None
    assert j.status == "stalled"
    assert j.where == ORDERS
    assert j.groups == ("fulfilment",)
    assert "group fulfilment" in j.detail
    pending = [h for h in j.handoffs if h.kind == "async"]
    assert len(pending) == 1 and not pending[0].delivered

    young = journey(store, correlation_id="order-stuck", now_ns=now, stall_after_s=600)
    assert young is not None and young.status == "in_flight"


def test_stalled_group_comes_from_consumer_lag_when_no_consumer_span_exists(store: Storage) -> None:
    now = time.time_ns()
    flow = Flow("invoice-1", now - 90 * S)
    trace = hexid(32)
    p = flow.span(
        "billing-api", "invoices.requested publish", trace, 0, 2,
        kind=4, messaging_destination="invoices.requested", messaging_operation="publish",
    )  # fmt: skip
    flow.hop("invoices.requested", 1, p)
    store.write(
        [
            *flow.records,
            SeriesPoint("consumer.lag", "invoices.requested", now - 10 * S, 12.0, "invoicer/0"),
        ]
    )
    j = journey(store, correlation_id="invoice-1", now_ns=now)
    assert j is not None and j.status == "stalled"
    assert (j.where, j.groups) == ("invoices.requested", ("invoicer",))


def _dead_lettered(store: Storage, cid: str, t0: int) -> tuple[Flow, DeadLetter]:
    flow = Flow(cid, t0)
    producer = order_placed(flow)
    hop = flow.hop(ORDERS, 31, producer)
    fulfil(flow, hop, producer, 60, error="UnknownSkuException: sku X-404")
    dead = flow.dead_letter(hop, 90, "fulfilment", "no such sku X-404")
    store.write(flow.records)
    return flow, dead


def test_dead_lettered_then_replayed_then_completed(store: Storage) -> None:
    t0 = time.time_ns() - 600 * S
    flow, dead = _dead_lettered(store, "order-dlq", t0)

    j = journey(store, correlation_id="order-dlq", now_ns=t0 + 300 * S)
    assert j is not None
    assert j.status == "dead_lettered"
    assert j.where == ORDERS_DLT
    assert j.reason == "com.canvasflow.fulfilment.UnknownSkuException: no such sku X-404"
    assert len(j.dead_letters) == 1

    # The operator replays it; the ledger says acked but the tap has not seen it yet.
    replay_at = t0 + 400 * S
    target = next_offset(ORDERS)
    write_ledger(
        store, replay_id="r-1", dead=dead, state="acked", created_ns=replay_at, target_offset=target
    )
    j = journey(store, correlation_id="order-dlq", now_ns=replay_at + 2 * S)
    assert j is not None
    assert (j.status, j.after, j.where) == ("replayed", "in_flight", ORDERS)
    assert [r.replay_id for r in j.replays] == ["r-1"]

    # It comes back on orders.placed with x-replay-id, and this time it goes all the way.
    again = Flow("order-dlq", replay_at + 10 * MS)
    from console.base.model import Hop

    hop = Hop(
        topic=ORDERS, partition=0, offset=target, timestamp_ms=(replay_at + 10 * MS) // MS,
        timestamp_type=1, key=b"order-dlq", size=29,
        headers=(("x-correlation-id", b"order-dlq"), ("x-replay-id", b"r-1")),
        correlation_id="order-dlq", seen_ns=replay_at + 12 * MS,
    )  # fmt: skip
    again.records.append(hop)
    first_producer = next(s for s in flow.records if isinstance(s, Span) and s.kind == 4)
    p2 = fulfil(again, hop, first_producer, 40)
    h2 = again.hop(SHIPMENTS, 65, p2)
    ship(again, h2, p2, 90)
    store.write(again.records)

    j = journey(store, correlation_id="order-dlq", now_ns=replay_at + 60 * S)
    assert j is not None
    assert (j.status, j.after, j.where) == ("replayed", "completed", "shipping")
    replayed = [h for h in j.handoffs if h.replay_id == "r-1"]
    assert len(replayed) == 1 and replayed[0].delivered
    assert replayed[0].from_service == "replay"
    assert "then completed" in j.detail


def test_a_failed_replay_is_reported_as_such(store: Storage) -> None:
    t0 = time.time_ns() - 600 * S
    _, dead = _dead_lettered(store, "order-bad-replay", t0)
    write_ledger(
        store,
        replay_id="r-9",
        dead=dead,
        state="failed",
        created_ns=t0 + 100 * S,
        target_offset=None,
    )
    j = journey(store, correlation_id="order-bad-replay", now_ns=t0 + 200 * S)
    assert j is not None
    assert (j.status, j.after) == ("replayed", "replay_failed")
    assert "broker said no" in j.detail


def test_failed_is_an_error_span_without_a_dead_letter(store: Storage) -> None:
    t0 = time.time_ns() - 60 * S
    flow = Flow("order-declined", t0)
    trace = hexid(32)
    root = flow.span("storefront", "POST /orders", trace, 0, 30, kind=SPAN_KIND_SERVER, error="402")
    call = flow.span(
        "storefront", "POST /payments", trace, 5, 20,
        parent=root, kind=SPAN_KIND_CLIENT, error="402",
    )  # fmt: skip
    flow.span(
        "payments", "POST /payments", trace, 7, 15,
        parent=call, kind=SPAN_KIND_SERVER, error="card declined",
    )  # fmt: skip
    store.write(flow.records)
    j = journey(store, correlation_id="order-declined", now_ns=t0 + 60 * S)
    assert j is not None
    assert j.status == "failed"
    assert (j.where, j.reason) == ("payments", "card declined")  # the deepest, latest error


def test_an_error_followed_by_a_successful_retry_is_not_failed(store: Storage) -> None:
    t0 = time.time_ns() - 60 * S
    flow = Flow("order-retried", t0)
    trace = hexid(32)
    flow.span("payments", "charge", trace, 0, 5, error="timeout")
    flow.span("payments", "charge", trace, 10, 5)
    store.write(flow.records)
    j = journey(store, correlation_id="order-retried", now_ns=t0 + 60 * S)
    assert j is not None and j.status == "completed"


def test_unknown_ids_are_not_found_and_selectors_are_checked(store: Storage) -> None:
    store.write(completed_flow("order-1", time.time_ns()).records)
    assert journey(store, correlation_id="nope") is None
    assert journey(store, trace_id="0" * 32) is None
    assert journey(store, message=f"{ORDERS}:0:999999") is None
    with pytest.raises(InputError):
        journey(store, correlation_id="a", trace_id="b" * 32)
    with pytest.raises(InputError):
        journey(store)
    with pytest.raises(InputError):
        journey(store, message="orders.placed:zero:1")


def test_journeys_lists_recent_ones_with_status_and_filters(store: Storage) -> None:
    now = time.time_ns()
    store.write(completed_flow("ok-1", now - 300 * S).records)
    stuck = Flow("stuck-1", now - 200 * S)
    stuck.hop(ORDERS, 31, order_placed(stuck))
    store.write(stuck.records)
    _dead_lettered(store, "dead-1", now - 100 * S)
    store.write(completed_flow("old-1", now - 7200 * S).records)  # outside the window

    items = journeys(store, since_s=3600, now_ns=now)
    assert {(s.correlation_id, s.status) for s in items} == {
        ("ok-1", "completed"),
        ("stuck-1", "stalled"),
        ("dead-1", "dead_lettered"),
    }
    assert items[0].correlation_id == "dead-1"  # most recent first
    stalled = journeys(store, status="stalled", since_s=900, now_ns=now)
    assert [(s.correlation_id, s.where) for s in stalled] == [("stuck-1", ORDERS)]
    shipping = journeys(store, service="shipping", since_s=3600, now_ns=now)
    assert [s.correlation_id for s in shipping] == ["ok-1"]
    with pytest.raises(InputError):
        journeys(store, status="lost")


def test_a_dead_letter_coordinate_finds_its_journey_and_a_pending_replay_is_named(
    store: Storage,
) -> None:
    t0 = time.time_ns() - 600 * S
    _, dead = _dead_lettered(store, "order-coord", t0)
    j = journey(store, message=dead.coordinates, now_ns=t0 + 300 * S)
    assert j is not None and j.correlation_id == "order-coord" and j.status == "dead_lettered"
    write_ledger(
        store, replay_id="r-5", dead=dead, state="pending", created_ns=t0 + 400 * S,
        target_offset=None,
    )  # fmt: skip
    j = journey(store, correlation_id="order-coord", now_ns=t0 + 401 * S)
    assert j is not None and (j.status, j.after) == ("replayed", "replay_pending")


def test_durations_parse_as_operators_write_them() -> None:
    from console.base.config import parse_duration

    assert [parse_duration(t) for t in ("10m", "30s", "24h", "1h30m", "250ms", "45")] == [
        600.0, 30.0, 86400.0, 5400.0, 0.25, 45.0,
    ]  # fmt: skip
    for bad in ("", "soon", "10q", "-5", "1h x"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def _retried_order(cid: str, t0: int, *, retry_consumer_names_it: bool) -> Flow:
    """fulfilment fails on orders.placed and forwards the record, headers kept, to
    ``orders.placed-retry``; its retry consumer succeeds a second later and ships."""
    flow = Flow(cid, t0)
    p1 = order_placed(flow)
    h1 = flow.hop(ORDERS, 31, p1)
    failed = fulfil(flow, h1, p1, 60, error="print shop timed out")
    retry = flow.hop(f"{ORDERS}-retry", 86, p1)  # forwarded as is: the traceparent of p1
    named = (
        {"messaging_destination": retry.topic, "messaging_offset": retry.offset}
        if retry_consumer_names_it
        else {"messaging_destination": ORDERS}  # an instrumentation that names nothing useful
    )
    trace = failed.trace_id
    consumer = flow.span(
        "fulfilment", f"{retry.topic} process", trace, 1090, 25,
        kind=SPAN_KIND_CONSUMER, with_cid=False, parent=p1,
        messaging_partition=0, messaging_operation="process",
        messaging_consumer_group="fulfilment", **named,
    )  # fmt: skip
    p2 = flow.span(
        "fulfilment", f"{SHIPMENTS} publish", trace, 1100, 2,
        parent=consumer, kind=SPAN_KIND_PRODUCER, with_cid=False,
        messaging_destination=SHIPMENTS, messaging_operation="publish",
    )  # fmt: skip
    h2 = flow.hop(SHIPMENTS, 1101, p2)
    ship(flow, h2, p2, 1140)
    return flow


@pytest.mark.parametrize("names_it", [True, False])
def test_a_journey_through_a_retry_topic_is_completed(store: Storage, names_it: bool) -> None:
    t0 = time.time_ns() - 600 * S
    store.write(_retried_order("order-retry", t0, retry_consumer_names_it=names_it).records)
    j = journey(store, correlation_id="order-retry", now_ns=t0 + 600 * S)
    assert j is not None
    assert (j.status, j.detail) == ("completed", "completed in shipping")
    retry = next(h for h in j.handoffs if h.topic == f"{ORDERS}-retry")
    assert retry.taken and retry.delivered == names_it
    listed = journeys(store, status="completed", since_s=3600, now_ns=t0 + 600 * S)
    assert [s.correlation_id for s in listed] == ["order-retry"]
    assert journeys(store, status="stalled", since_s=3600, now_ns=t0 + 600 * S) == []


def test_a_retry_nobody_took_still_stalls(store: Storage) -> None:
    """The span that forwarded the record to the retry topic is not later activity."""
    t0 = time.time_ns() - 600 * S
    flow = Flow("order-retry-lost", t0)
    p1 = order_placed(flow)
    h1 = flow.hop(ORDERS, 31, p1)
    fulfil(flow, h1, p1, 60, error="print shop timed out")
    flow.hop(f"{ORDERS}-retry", 84.5, p1)
    store.write(flow.records)
    j = journey(store, correlation_id="order-retry-lost", now_ns=t0 + 600 * S)
    assert j is not None
    assert (j.status, j.where) == ("stalled", f"{ORDERS}-retry")
