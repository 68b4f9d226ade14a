"""The tap on the real broker: hops, ids, dead letters, odd messages, restarts, backpressure."""

from __future__ import annotations

import hashlib
import os
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.kafka.tap import KafkaTap
from console.base.errors import Overloaded
from console.base.model import Header, Hop, Record
from console.store import Store, StoreWriter, Ticket
from console.store.sqlite import rows
from tests import stored
from tests.conftest import create_topic
from tests.dlq_headers_fixture import connect_dlq_headers, spring_dlt_headers
from tests.tap_helpers import RecordingSink, committed_total, produce, unique, wait_for


@pytest.fixture
def writer(store: Store) -> Iterator[StoreWriter]:
    w = store.writer(batch_size=2000, flush_ms=50)
    yield w
    w.close()


def _tap(sink: object, bootstrap: str, topics: str, **kw: object) -> KafkaTap:
    kw.setdefault("group_id", unique("tap-test"))
    kw.setdefault("from_beginning", True)
    return KafkaTap(sink, bootstrap=bootstrap, topics=topics, **kw)  # type: ignore[arg-type]  # test knobs


def _hops(store: Store, topic: str) -> list[Hop]:
    return sorted(stored.hops(store, topic), key=lambda h: (h.partition, h.offset))


def _dead(store: Store, topic: str) -> list:
    with store.connect() as conn:
        return [
            rows.dead_letter_from_row(r)
            for r in conn.execute(
                "SELECT * FROM dead_letters WHERE dlq_topic = ? ORDER BY offset", (topic,)
            )
        ]


def _count(store: Store, topic: str) -> int:
    return len(stored.hops(store, topic))


def test_every_message_becomes_one_hop_with_its_ids(
    kafka_bootstrap: str, topic: str, store: Store, writer: StoreWriter
) -> None:
    create_topic(kafka_bootstrap, topic, partitions=4)
    n = 400
    messages = []
    for i in range(n):
        headers = [
            ("x-correlation-id", f"order-{i}".encode()),
            ("traceparent", f"00-{i + 1:032x}-{i + 1:016x}-01".encode()),
        ]
        messages.append((f"k{i}".encode(), f'{{"order": {i}}}'.encode(), headers))
    produce(kafka_bootstrap, topic, messages)
    # A few carry only a traceparent: the trace id stands in for the correlation id.
    produce(
        kafka_bootstrap,
        topic,
        [(None, b"{}", [("traceparent", f"00-{0xABC:032x}-{0xDEF:016x}-01".encode())])] * 3,
    )
    tap = _tap(writer, kafka_bootstrap, topic)
    tap.start()
    try:
        wait_for(lambda: _count(store, topic) == n + 3, what=f"{n + 3} hops")
    finally:
        tap.stop()
    hops = _hops(store, topic)
    assert len(hops) == n + 3
    assert len({h.partition for h in hops}) == 4
    by_corr = {h.correlation_id: h for h in hops}
    for i in range(n):
        h = by_corr[f"order-{i}"]
        assert h.trace_id == f"{i + 1:032x}" and h.span_id == f"{i + 1:016x}"
        assert h.key == f"k{i}".encode()
        value = f'{{"order": {i}}}'.encode()
        assert h.size == len(value)
        assert h.payload_sha256 == hashlib.sha256(value).hexdigest()
        assert h.payload is None  # ordinary topics keep no payload by default
        assert h.timestamp_type == 1 and h.timestamp_ms > 0
    fallback = [h for h in hops if h.trace_id == f"{0xABC:032x}"]
    assert len(fallback) == 3 and all(h.correlation_id == f"{0xABC:032x}" for h in fallback)
    health = tap.health()
    assert health["hops_seen"] == n + 3
    assert health["dead_letters_seen"] == 0
    assert health["running"] is False


def test_spring_and_connect_dead_letters(
    kafka_bootstrap: str, topic: str, store: Store, writer: StoreWriter
) -> None:
    spring_topic = f"{topic}-dlt"  # matches the default patterns
    connect_topic = f"{topic}.sink-errors"  # matches no pattern: found by its headers
    create_topic(kafka_bootstrap, spring_topic, 1)
    create_topic(kafka_bootstrap, connect_topic, 1)
    spring = spring_dlt_headers(
        topic=topic,
        partition=2,
        offset=41,
        timestamp_ms=1_732_000_000_123,
        group="order-service",
        message="first failure",
    )
    spring += [
        ("kafka_dlt-exception-message", b"Unexpected character ('<')"),  # last one wins
        ("x-correlation-id", b"order-41"),
    ]
    big = os.urandom(300)
    produce(kafka_bootstrap, spring_topic, [(b"k41", b"<not json>", spring), (None, big, spring)])
    connect = connect_dlq_headers(topic=topic, partition=5, offset=77)
    produce(kafka_bootstrap, connect_topic, [(None, b"\x00\x01binary", connect)])

    tap = _tap(writer, kafka_bootstrap, f"{spring_topic},{connect_topic}", dlq_payload_limit=100)
    tap.start()
    try:
        wait_for(
            lambda: len(_dead(store, spring_topic)) == 2 and len(_dead(store, connect_topic)) == 1,
            what="three dead letters",
        )
    finally:
        tap.stop()
    first, second = _dead(store, spring_topic)
    assert first.convention == "spring"
    assert (first.original_topic, first.original_partition, first.original_offset) == (
        topic,
        2,
        41,
    )
    assert first.original_timestamp_ms == 1_732_000_000_123
    assert first.consumer_group == "order-service"
    assert first.exception_class == (
        "org.springframework.kafka.support.serializer.DeserializationException"
    )
    assert first.exception_cause_class == "com.fasterxml.jackson.core.JsonParseException"
    assert first.exception_message == "Unexpected character ('<')"
    assert first.stacktrace and "Example.main" in first.stacktrace
    assert first.correlation_id == "order-41"
    assert (first.payload, first.payload_truncated, first.payload_size) == (
        b"<not json>",
        False,
        10,
    )
    assert first.key == b"k41" and first.status == "pending"
    assert dict(first.headers)["kafka_dlt-original-partition"] == struct.pack(">i", 2)
    assert (second.payload, second.payload_truncated, second.payload_size) == (big[:100], True, 300)

    (c,) = _dead(store, connect_topic)
    assert c.convention == "connect"
    assert (c.original_topic, c.original_partition, c.original_offset) == (topic, 5, 77)
    assert c.exception_class == "org.apache.kafka.connect.errors.DataException"
    assert c.consumer_group == "connect-jdbc-sink"
    assert c.payload == b"\x00\x01binary"
    # Every dead letter is also a hop.
    assert len(_hops(store, spring_topic)) == 2 and len(_hops(store, connect_topic)) == 1
    assert tap.health()["dead_letters_seen"] == 3


def test_odd_messages_never_crash(
    kafka_bootstrap: str, topic: str, store: Store, writer: StoreWriter
) -> None:
    create_topic(kafka_bootstrap, topic, 1)
    dlq = f"{topic}.dlq"
    create_topic(kafka_bootstrap, dlq, 1)
    binary = bytes(range(256))
    produce(
        kafka_bootstrap,
        topic,
        [
            (b"bad-headers", b"{}", [("x-correlation-id", b"\xff\xfe"), ("bin", b"\x00\xff")]),
            (b"binary", binary, []),
            (b"empty", b"", [("null-header", None)]),
            (b"tombstone", None, [("x-correlation-id", b"gone-1")]),
            (b"\xff\xfe", b"\xc3\x28", [("traceparent", b"\xff" * 55)]),
        ],
    )
    garbage = [
        ("kafka_dlt-original-partition", b"\x01\x02\x03"),
        ("kafka_dlt-original-topic", b"\xff\xfe"),
    ]
    produce(kafka_bootstrap, dlq, [(None, None, garbage), (None, b"\xff" * 10, [])])
    tap = _tap(writer, kafka_bootstrap, f"{topic},{dlq}")
    tap.start()
    try:
        wait_for(lambda: _count(store, topic) == 5 and _count(store, dlq) == 2, what="7 hops")
    finally:
        tap.stop()
    assert tap.health()["last_error"] is None
    hops = {h.key: h for h in _hops(store, topic)}
    bad = hops[b"bad-headers"]
    assert bad.correlation_id is None
    assert bad.headers == (("x-correlation-id", b"\xff\xfe"), ("bin", b"\x00\xff"))
    assert hops[b"binary"].size == 256
    assert hops[b"binary"].payload_sha256 == hashlib.sha256(binary).hexdigest()
    empty = hops[b"empty"]
    assert (empty.size, empty.payload_sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert empty.headers == (("null-header", None),)
    tomb = hops[b"tombstone"]
    assert (tomb.size, tomb.payload_sha256, tomb.correlation_id) == (0, None, "gone-1")
    assert hops[b"\xff\xfe"].trace_id is None
    tombstone_dl, bytes_dl = _dead(store, dlq)
    assert tombstone_dl.convention == "spring"
    assert tombstone_dl.original_partition is None and tombstone_dl.original_topic is None
    assert tombstone_dl.headers == tuple(garbage)  # the bytes are kept as they came
    assert (tombstone_dl.payload, tombstone_dl.payload_size) == (None, 0)
    assert bytes_dl.convention == "none" and bytes_dl.payload == b"\xff" * 10


def test_stop_and_restart_mid_stream_loses_and_doubles_nothing(
    kafka_bootstrap: str, topic: str, store: Store, writer: StoreWriter
) -> None:
    create_topic(kafka_bootstrap, topic, partitions=3)
    group = unique("tap-restart")
    sink = RecordingSink(writer, delay_s=0.02)  # slow enough to stop with a backlog unread
    n = 2000

    def stream() -> None:  # the producers keep going while the tap restarts
        for chunk in range(10):
            batch: list[tuple[bytes | None, bytes | None, list[Header]]] = [
                (None, f"m{chunk}-{i}".encode(), []) for i in range(n // 10)
            ]
            produce(kafka_bootstrap, topic, batch)
            time.sleep(0.3)

    producer = threading.Thread(target=stream)
    producer.start()
    tap1 = _tap(sink, kafka_bootstrap, topic, group_id=group, batch_size=50)
    tap1.start()
    wait_for(lambda: sink.hops() >= 300, what="the first hops")
    tap1.stop()
    stopped_at = sink.hops()
    tap2 = _tap(sink, kafka_bootstrap, topic, group_id=group, from_beginning=False)
    tap2.start()
    try:
        producer.join(120)
        wait_for(lambda: sink.hops() >= n, what=f"all {n} hops")
        # The tap commits an offset only after the store took what is below it: once its group
        # has committed the end of every partition, it has read everything it ever will, and
        # anything handed over twice is in the sink already.
        wait_for(
            lambda: committed_total(kafka_bootstrap, group, topic, 3) == n,
            what=f"the tap's group committed all {n} offsets",
        )
        writer.flush()
    finally:
        tap2.stop()
    assert stopped_at < n
    assert len(set(sink.hop_coordinates)) == n
    assert len(sink.hop_coordinates) == n, "a hop was handed over twice"
    per_partition: dict[int, list[int]] = {}
    for hop in stored.hops(store, topic):
        per_partition.setdefault(hop.partition, []).append(hop.offset)
    assert sum(len(offsets) for offsets in per_partition.values()) == n
    for offsets in per_partition.values():
        assert (min(offsets), max(offsets)) == (0, len(offsets) - 1)  # no gap


class _FlakySink:
    """Overloaded on every other submit: the tap must pause, retry, and keep every record."""

    def __init__(self, writer: StoreWriter) -> None:
        self.writer = writer
        self.calls = 0
        self.refused = 0

    def submit(self, records: list[Record]) -> Ticket:
        self.calls += 1
        if self.calls % 2:
            self.refused += 1
            raise Overloaded("busy", retry_after_s=0.05)
        return self.writer.submit(records)

    def flush(self) -> None:
        self.writer.flush()


def test_a_quiet_partition_keeps_its_place_when_the_tap_starts_again(
    kafka_bootstrap: str, topic: str, store: Store, writer: StoreWriter
) -> None:
    """The tap starts a new group at the end of its topics. A partition it read nothing from (a
    dead-letter topic is quiet for days) had no committed offset, so a tap started again, or
    the next owner after a rebalance, began at the end once more, past what arrived between."""
    create_topic(kafka_bootstrap, topic, 1)
    produce(kafka_bootstrap, topic, [(None, b"{}", [])] * 3)  # before the group: not read
    group = unique("tap-quiet")
    first = _tap(writer, kafka_bootstrap, topic, group_id=group, from_beginning=False)
    first.start()
    try:
        wait_for(lambda: committed_total(kafka_bootstrap, group, topic, 1) == 3,
                 what="the starting offset committed")  # fmt: skip
    finally:
        first.stop()
    produce(kafka_bootstrap, topic, [(None, b"{}", [])] * 2)  # while no tap runs
    second = _tap(writer, kafka_bootstrap, topic, group_id=group, from_beginning=False)
    second.start()
    try:
        wait_for(lambda: _count(store, topic) == 2, what="the 2 messages sent meanwhile")
    finally:
        second.stop()
    assert [h.offset for h in _hops(store, topic)] == [3, 4]


def test_overloaded_sink_pauses_and_retries_without_dropping(
    kafka_bootstrap: str, topic: str, store: Store, writer: StoreWriter
) -> None:
    create_topic(kafka_bootstrap, topic, partitions=2)
    produce(kafka_bootstrap, topic, [(None, b"x" * 50, []) for _ in range(3000)])
    sink = _FlakySink(writer)
    tap = _tap(sink, kafka_bootstrap, topic, batch_size=200)
    tap.start()
    try:
        wait_for(lambda: _count(store, topic) == 3000, what="3000 hops through a flaky sink")
    finally:
        tap.stop()
    assert sink.refused > 0
    assert tap.health()["overloaded_waits"] > 0
    assert tap.health()["hops_seen"] == 3000


def test_bad_configuration_is_reported_at_start(kafka_bootstrap: str, db_path: Path) -> None:
    from console.base.errors import InputError

    tap = KafkaTap(
        Store.open(db_path).writer(),
        bootstrap=kafka_bootstrap,
        topics="t",
        extra_config={"no.such.property": "1"},
    )
    with pytest.raises(InputError, match=r"no\.such\.property"):
        tap.start()
