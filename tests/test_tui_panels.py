"""The overview's queries over a real store: throughput, percentiles, errors, topics, health."""

from __future__ import annotations

import random

from console.base.model import SeriesPoint, Span
from console.readers.panels import ServiceAggregator, health, topic_panels
from console.readers.tail import tail
from console.store import Storage
from tests.tui_data import MS, NOW, S, demo_records

BACKENDS = ("sqlite", "chdb", "chdb-json")  # every test on each store (tests/conftest.py)


def test_services_percentiles_and_errors(store: Storage) -> None:
    spans = [
        Span(
            trace_id=f"{i:032x}",
            span_id=f"{i:016x}",
            name="GET /x",
            kind=2,
            start_ns=NOW - 100 * S + i * 10 * MS,
            end_ns=NOW - 100 * S + i * 10 * MS + (i + 1) * MS,  # 1..100 ms
            service="api",
            status_code=2 if i < 5 else 0,
        )
        for i in range(100)
    ]
    # An internal child span does not count as the service's work.
    spans.append(
        Span("f" * 32, "e" * 16, "inner", NOW - S, NOW, "api", parent_span_id="0" * 16, kind=1)
    )
    store.write(spans)
    reader = store.reader()
    [api] = ServiceAggregator().refresh(reader, NOW)
    assert api.service == "api"
    assert api.spans == 100
    assert api.error_rate == 0.05
    assert api.p50_ms is not None and api.p95_ms is not None and api.p99_ms is not None
    assert 49 <= api.p50_ms <= 51
    assert 94 <= api.p95_ms <= 96
    assert 98 <= api.p99_ms <= 100
    assert len(api.throughput) == 30 and sum(api.throughput) > 0


def test_incremental_refresh_reads_only_new_rows(store: Storage) -> None:
    agg = ServiceAggregator()
    reader = store.reader()
    assert agg.refresh(reader, NOW) == []
    store.write(demo_records())
    first = {p.service: p.spans for p in agg.refresh(reader, NOW)}
    assert first == dict.fromkeys(first, 120) and len(first) == 4
    again = {p.service: p.spans for p in agg.refresh(reader, NOW)}
    assert again == first  # nothing counted twice
    # Fifteen minutes later everything has slid out of the window.
    assert agg.refresh(reader, NOW + 16 * 60 * S) == []


def test_topics_lag_dlq_and_health(store: Storage) -> None:
    store.write(demo_records())
    reader = store.reader()
    topics = {t.topic: t for t in topic_panels(reader, NOW)}
    uploads = topics["canvasflow.uploads"]
    assert uploads.messages_per_s == 4
    assert uploads.lag == (("image-processor", 9.0),)
    assert topics["canvasflow.uploads.dlq"].dlq_depth == 3
    h = health(reader, NOW)
    assert h.services == 4 and h.collector in {"up", "idle"} and h.tap == "up"
    batch = tail(reader, 0, 0, limit=50)
    assert len(batch.spans) == 50 and len(batch.hops) == 50
    assert tail(reader, batch.last_span_id, batch.last_hop_id).spans == ()


def test_two_taps_rates_of_one_topic_add_up(store: Storage) -> None:
    # Two taps of one group each read half the partitions and rate what they read.
    points = [
        SeriesPoint("topic.messages_per_s", "orders", NOW - k * 5 * S, rate, tap)
        for k in range(6)
        for tap, rate in (("host-a/1", 300.0), ("host-b/2", 100.0))
    ]
    store.write(points)
    reader = store.reader()
    [orders] = topic_panels(reader, NOW)
    assert orders.messages_per_s == 400.0
    assert max(orders.rate) == 400.0  # each bucket: the taps' means, added up
    # A tap that stops says 0 for itself: the other one's rate is what is left.
    store.write([SeriesPoint("topic.messages_per_s", "orders", NOW + S, 0.0, "host-a/1")])
    [orders] = topic_panels(reader, NOW + 2 * S)
    assert orders.messages_per_s == 100.0


def test_sampled_history_stays_close_to_exact(store: Storage) -> None:
    """A busy bucket is read as ten slices and scaled: totals and p95 stay close to exact."""
    services = ("a", "b", "c")
    rnd = random.Random(7)  # real traffic interleaves services irregularly
    store.write(
        [
            Span(
                f"{i:032x}",
                f"{i:016x}",
                "op",
                NOW - 600 * S + i * 200 * MS,
                NOW - 600 * S + i * 200 * MS + rnd.randint(1, 100) * MS,
                rnd.choice(services),
                kind=2,
            )
            for i in range(3000)
        ]
    )
    reader = store.reader()
    exact = {p.service: p for p in ServiceAggregator().refresh(reader, NOW)}
    sampled = {p.service: p for p in ServiceAggregator(sample=100).refresh(reader, NOW)}
    assert exact.keys() == sampled.keys() == set(services)
    for name, p in exact.items():
        assert abs(sampled[name].spans - p.spans) <= 0.15 * p.spans
        got, want = sampled[name].p95_ms, p.p95_ms
        assert got is not None and want is not None
        assert abs(got - want) <= 0.15 * want
