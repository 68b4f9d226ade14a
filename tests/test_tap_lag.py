"""Consumer lag, DLQ depth and rates as series, against real groups with known commits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, TopicPartition

from collectors.kafka.metrics import KafkaMetrics, RateTracker
from collectors.kafka.tap import KafkaTap
from collectors.kafka.topics import TopicSelector
from console.base.dlq_headers import DlqMatcher
from console.base.model import SeriesPoint
from console.runtime.kafka_release import default_kafka_version, release
from console.store import Store, StoreWriter
from tests.conftest import create_topic
from tests.tap_helpers import produce, unique, wait_for


@pytest.fixture
def writer(store: Store) -> Iterator[StoreWriter]:
    w = store.writer(batch_size=500, flush_ms=50)
    yield w
    w.close()


def _commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """A real group commits known offsets (as a service's consumer would)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        c.assign(tps)
        result = c.commit(offsets=tps, asynchronous=False)
        assert all(tp.error is None for tp in result)
    finally:
        c.close()


def _series(store: Store, name: str, subject: str) -> dict[str, float]:
    """The latest value of a series per detail, as the panels read it."""
    reader = store.reader()
    try:
        found = reader.latest_values((name,), 0)
    finally:
        reader.close()
    return {v.detail: v.value for v in found if v.subject == subject}


def _samples(store: Store, name: str, subject: str) -> list[float]:
    """Every value of a series, oldest first."""
    with store.connect() as conn:
        found = conn.execute(
            "SELECT value FROM series WHERE name = ? AND subject = ? ORDER BY time_ns",
            (name, subject),
        ).fetchall()
    return [value for (value,) in found]


def test_lag_is_high_watermark_minus_committed_offset(
    kafka_bootstrap: str, topic: str, store: Store, writer: StoreWriter
) -> None:
    create_topic(kafka_bootstrap, topic, partitions=2)
    produce(kafka_bootstrap, topic, [(None, b"p0", [])] * 10, partition=0)
    produce(kafka_bootstrap, topic, [(None, b"p1", [])] * 7, partition=1)
    group = unique("orders-service")
    _commit(kafka_bootstrap, group, {(topic, 0): 4, (topic, 1): 2})
    tap_group = unique("tap-lag")

    tap = KafkaTap(
        writer,
        bootstrap=kafka_bootstrap,
        topics=topic,
        group_id=tap_group,
        from_beginning=True,
        metrics_interval_s=1.0,
    )
    tap.start()
    try:
        wait_for(
            lambda: (
                len(_series(store, "consumer.lag", topic)) >= 2 and tap.health()["hops_seen"] == 17
            ),
            what="lag samples",
        )
        # The group moves on: lag follows its new commit.
        _commit(kafka_bootstrap, group, {(topic, 0): 9})
        wait_for(
            lambda: _series(store, "consumer.lag", topic).get(f"{group}/0") == 1,
            what="lag after a new commit",
        )
    finally:
        tap.stop()
    lag = _series(store, "consumer.lag", topic)
    assert lag[f"{group}/0"] == 10 - 9
    assert lag[f"{group}/1"] == 7 - 2
    assert _series(store, "consumer.lag_total", topic)[group] == 1 + 5
    assert not any(d.startswith(tap_group) for d in lag), "the tap's own group is left out"
    # The tap read the 17 messages from the beginning: some sample saw them at a positive rate
    # (later ones, with nothing new, may be 0; none is negative).
    assert set(_series(store, "topic.messages_per_s", topic)) == {tap.rate_source}
    rates = _samples(store, "topic.messages_per_s", topic)
    assert min(rates) >= 0 and max(rates) > 0, rates
    byte_rates = _samples(store, "topic.bytes_per_s", topic)
    assert min(byte_rates) >= 0 and max(byte_rates) > 0, byte_rates


@pytest.mark.parametrize("protocol", release(default_kafka_version()).group_protocols)
def test_lag_of_a_subscribed_group_under_each_group_protocol(
    kafka_bootstrap: str, topic: str, store: Store, writer: StoreWriter, protocol: str
) -> None:
    """A service consuming with the classic protocol, or with KIP-848's ``consumer`` protocol
    (4.x brokers; the harness's 3.9 does not offer it), is a group whose lag the tap reports,
    while it is a live member and after it leaves."""
    produce(kafka_bootstrap, topic, [(None, b"m", [])] * 10)
    group = unique(f"svc-{protocol}")
    service = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": group,
            "group.protocol": protocol,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    service.subscribe([topic])
    tap = KafkaTap(
        writer,
        bootstrap=kafka_bootstrap,
        topics=topic,
        group_id=unique("tap-proto"),
        from_beginning=True,
        metrics_interval_s=1.0,
    )
    closed = False
    try:
        seen = 0

        def consumed_four() -> bool:
            nonlocal seen
            msg = service.poll(0.5)
            if msg is not None and msg.error() is None:
                seen += 1
                if seen == 4:
                    service.commit(message=msg, asynchronous=False)
            return seen >= 4

        wait_for(consumed_four, what=f"the {protocol} group to consume four messages")
        tap.start()
        wait_for(
            lambda: _series(store, "consumer.lag", topic).get(f"{group}/0") == 6,
            what=f"lag of the live {protocol} group",
        )
        service.close()
        closed = True
        produce(kafka_bootstrap, topic, [(None, b"m", [])] * 2)
        wait_for(
            lambda: _series(store, "consumer.lag", topic).get(f"{group}/0") == 8,
            what=f"lag of the {protocol} group after it left",
        )
    finally:
        tap.stop()
        if not closed:
            service.close()
    assert _series(store, "consumer.lag_total", topic)[group] == 8


def test_dlq_depth_and_inflow(kafka_bootstrap: str, topic: str) -> None:
    dlq = f"{topic}.dlq"
    create_topic(kafka_bootstrap, dlq, partitions=2)
    produce(kafka_bootstrap, dlq, [(None, b"dead", [])] * 3, partition=0)
    produce(kafka_bootstrap, dlq, [(None, b"dead", [])] * 2, partition=1)
    metrics = KafkaMetrics(
        {"bootstrap.servers": kafka_bootstrap},
        selector=TopicSelector([f"^{topic}\\..*"]),
        own_group="unused",
        dlq_matcher=DlqMatcher(),
        start_ns=0,
    )

    def sample(now_ns: int) -> dict[str, float]:
        points = metrics.collect({}, now_ns)
        assert metrics.last_error is None
        return {p.name: p.value for p in points if p.subject == dlq}

    first = sample(1_000_000_000)
    assert first == {"dlq.depth": 5}  # no inflow rate before a second sample
    produce(kafka_bootstrap, dlq, [(None, b"dead", [])] * 4, partition=1)
    second = sample(3_000_000_000)
    assert second == {"dlq.depth": 9, "dlq.inflow_per_s": 4 / 2}


def test_rates_from_cumulative_counts() -> None:
    rates = RateTracker(start_ns=0)
    first = rates.points({"orders": (100, 30_000)}, 2_000_000_000)
    assert first == [
        SeriesPoint("topic.messages_per_s", "orders", 2_000_000_000, 50.0),
        SeriesPoint("topic.bytes_per_s", "orders", 2_000_000_000, 15_000.0),
    ]
    second = rates.points({"orders": (100, 30_000)}, 4_000_000_000)
    assert [p.value for p in second] == [0.0, 0.0]  # a quiet topic shows zero, not nothing
