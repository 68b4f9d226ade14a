"""What the store's state machine (``test_store_machine.py``) writes: records that look alike
(resent spans, hops re-read at one coordinate, log records and metric points one field apart),
stamped near now or by hosts 3 h fast or slow, and records no column holds."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from hypothesis import strategies as st

from console.base.model import DeadLetter, Hop, LogRecord, MetricPoint, Record, Span
from tests.store_model import trace_of

__all__ = ["BASE", "CIDS", "HOUR_NS", "arrived", "bad_record", "own", "records"]

HOUR_NS = 3600 * 10**9
BASE = time.time_ns() // 10**6 * 10**6  # records are stamped near now ...
SKEWS = (0, HOUR_NS * 3, -HOUR_NS * 3)  # ... or by a host hours fast or slow
TOO_BIG = 2**63  # a legal OTLP fixed64 no SQLite integer holds
CIDS = tuple(f"c{i}" for i in range(4))

cids = st.sampled_from(CIDS)


@st.composite
def _attributes(draw: st.DrawFn, name: str) -> dict[str, Any]:
    """Attributes of a record: one that tells records apart, one that does not, in either order
    (a resend re-encoded by another SDK need not keep the order; a dict does not care)."""
    pairs = [(name, draw(st.integers(0, 1))), ("region", "eu")]
    return dict(pairs if draw(st.booleans()) else pairs[::-1])


@st.composite
def spans(draw: st.DrawFn) -> Span:
    """A span; the same (trace, span id) again is a resend (same start: a resend is the same
    span), perhaps with other attributes (the first one stored wins)."""
    cid, n = draw(cids), draw(st.integers(1, 9))
    start = BASE + n * 1000 + SKEWS[n % 3]
    return Span(
        trace_id=trace_of(cid),
        span_id=f"{n:016x}",
        name=f"op-{n:016x}",
        start_ns=start,
        end_ns=start + 10**6,
        service="svc-a",
        attributes={"v": draw(st.integers(0, 2))},
        correlation_id=cid,
    )


@st.composite
def hops(draw: st.DrawFn) -> Hop:
    """A hop; the same coordinate again is a re-read (a restart, a second tap)."""
    partition, offset = draw(st.integers(0, 1)), draw(st.integers(0, 11))
    cid = CIDS[offset % len(CIDS)]
    return Hop(
        topic="orders",
        partition=partition,
        offset=offset,
        timestamp_ms=(BASE + SKEWS[offset % 3]) // 10**6,
        correlation_id=cid,
        trace_id=trace_of(cid),
        payload=b"p" * draw(st.integers(0, 3)),
        seen_ns=time.time_ns(),
    )


@st.composite
def logs(draw: st.DrawFn) -> LogRecord:
    """Log records that look alike: one millisecond, one body, another attribute or text."""
    cid = draw(cids)
    return LogRecord(
        time_ns=BASE + draw(st.integers(0, 1)) * 10**6 + draw(st.sampled_from(SKEWS)),
        service="svc-a",
        severity_text=draw(st.sampled_from(("WARN", "ERROR"))),  # the text alone: number 0
        body="order placed",
        trace_id=trace_of(cid),
        attributes=draw(_attributes("order_id")),
        correlation_id=cid,
    )


@st.composite
def points(draw: st.DrawFn) -> MetricPoint:
    """Gauge points of one series: one time, another value, are two points."""
    return MetricPoint(
        name="queue.depth",
        service="svc-a",
        time_ns=BASE + draw(st.integers(0, 1)) * 10**9 + draw(st.sampled_from(SKEWS)),
        kind="gauge",
        value=draw(st.sampled_from((3.0, 7.0))),
        attributes=draw(_attributes("queue")),
    )


@st.composite
def dead_letters(draw: st.DrawFn) -> DeadLetter:
    return DeadLetter(
        dlq_topic="orders-dlt",
        partition=0,
        offset=draw(st.integers(0, 5)),
        timestamp_ms=BASE // 10**6,
        payload=b"{}",
        correlation_id=draw(cids),
    )


records = st.lists(
    st.one_of(spans(), hops(), logs(), points(), dead_letters()), min_size=1, max_size=12
)


def bad_record(which: int, cid: str) -> Record:
    """A record no column holds: a time or offset past a signed 64-bit integer."""
    if which == 0:
        return Span(trace_of(cid), "00000000000000ff", "bad", TOO_BIG, TOO_BIG + 1, "svc-a")
    if which == 1:
        return Hop("orders", 0, TOO_BIG, 0, correlation_id=cid, seen_ns=time.time_ns())
    if which == 2:
        return LogRecord(TOO_BIG, "svc-a", body="bad", correlation_id=cid)
    return MetricPoint("queue.depth", "svc-a", TOO_BIG, "gauge", value=1.0)


def arrived(records: list[Record]) -> list[Record]:
    """Dead letters stamped first seen now, as the tap stamps them."""
    now = time.time_ns()
    return [
        dataclasses.replace(r, first_seen_ns=now) if isinstance(r, DeadLetter) else r
        for r in records
    ]


def own(r: Record, cid: str) -> Record:
    """``r`` as a record of correlation id ``cid`` alone (so it is not the model's already)."""
    if isinstance(r, Span | LogRecord):
        return dataclasses.replace(r, correlation_id=cid, trace_id=trace_of(cid))
    if isinstance(r, Hop):
        return dataclasses.replace(r, topic=cid, correlation_id=cid, trace_id=trace_of(cid))
    if isinstance(r, MetricPoint):
        return dataclasses.replace(r, name=cid)
    assert isinstance(r, DeadLetter)
    return dataclasses.replace(r, dlq_topic=cid)
