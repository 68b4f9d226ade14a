"""An in-memory ``DlqCluster`` (console/dlq/cluster.py) for the fast tier's replay tests.

Topics are lists of partitions, each a list of ``FakeMessage``; offsets are list indexes. The
producer queues deliveries and reports them on ``poll``/``flush`` as librdkafka does; a keyed
message without a partition goes to ``murmur2(key) % partitions`` (Java's placement, which the real
producer gets from ``partitioner=murmur2_random``). ``on_produce`` lets a test look at the store
at the moment a message leaves, and ``crash_after`` stops delivery reports after N messages (the
broker has them, the console never heard back: a ``kill -9`` between produce and ack).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from console.base.model import Header
from console.dlq.cluster import REPLAY_ID, Delivered, ProduceRefused
from console.dlq.target import Target


def murmur2(data: bytes) -> int:
    """Kafka's Java ``Utils.murmur2`` (what the default Java partitioner hashes keys with)."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = data[length - length % 4 :]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def java_partition(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass
class FakeMessage:
    value: bytes | None
    key: bytes | None
    headers: tuple[Header, ...]
    timestamp_ms: int = 0

    def header(self, name: str) -> bytes | None:
        found = [v for n, v in self.headers if n == name]
        return found[-1] if found else None


@dataclass
class FakeCluster:
    cluster_id: str | None
    topics: dict[str, list[list[FakeMessage]]] = field(default_factory=dict)
    bootstrap: str = "fake:9092"
    down: bool = False
    on_produce: Callable[[str, FakeMessage], None] | None = None
    crash_after: int | None = None  # delivery reports stop after this many messages
    refuse: set[str] = field(default_factory=set)  # topics whose messages the producer refuses
    produced: list[tuple[str, int | None, FakeMessage]] = field(default_factory=list)

    def create(self, topic: str, partitions: int = 1) -> None:
        self.topics[topic] = [[] for _ in range(partitions)]

    def append(self, topic: str, partition: int, msg: FakeMessage) -> int:
        self.topics[topic][partition].append(msg)
        return len(self.topics[topic][partition]) - 1

    def probe(self, timeout: float = 5.0) -> Target:
        from console.dlq.target import BrokerUnreachable

        if self.down:
            raise BrokerUnreachable(f"cannot reach Kafka at {self.bootstrap}: connection refused")
        return Target(self.bootstrap, self.cluster_id, {t: len(p) for t, p in self.topics.items()})

    def scan(
        self, topic: str, wanted: set[str], since_ms: int, timeout: float
    ) -> dict[str, tuple[int, int]]:
        found: dict[str, tuple[int, int]] = {}
        for p, msgs in enumerate(self.topics.get(topic, [])):
            for offset, msg in enumerate(msgs):
                rid = msg.header(REPLAY_ID)
                if msg.timestamp_ms >= since_ms and rid is not None and rid.decode() in wanted:
                    found[rid.decode()] = (p, offset)
        return found

    def fetch(
        self, coords: Sequence[tuple[str, int, int]], timeout: float
    ) -> dict[tuple[str, int, int], bytes]:
        out: dict[tuple[str, int, int], bytes] = {}
        for topic, p, offset in coords:
            msgs = self.topics.get(topic, [])
            if p < len(msgs) and offset < len(msgs[p]) and msgs[p][offset].value is not None:
                out[(topic, p, offset)] = msgs[p][offset].value  # type: ignore[assignment]
        return out

    def producer(self) -> FakeProducer:
        return FakeProducer(self)


class FakeProducer:
    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        self._reports: list[Callable[[], None]] = []
        self.sent = 0
        self.lost = 0  # messages the broker has whose delivery report never comes

    def produce(
        self,
        topic: str,
        *,
        value: bytes | None,
        key: bytes | None,
        headers: Sequence[Header],
        partition: int | None,
        on_delivery: Delivered,
    ) -> None:
        c = self.cluster
        if topic in c.refuse:
            raise ProduceRefused(f"Broker: topic {topic} refused")
        if topic not in c.topics:  # a replay never creates a topic: the report says so
            self._reports.append(lambda: on_delivery("Broker: Unknown topic or partition", None))
            return
        msg = FakeMessage(value, key, tuple(headers), timestamp_ms=time.time_ns() // 1_000_000)
        if c.on_produce is not None:
            c.on_produce(topic, msg)
        count = len(c.topics[topic])
        p = partition if partition is not None else java_partition(key or b"", count)
        offset = c.append(topic, p, msg)
        c.produced.append((topic, partition, msg))
        self.sent += 1
        if c.crash_after is None or self.sent <= c.crash_after:
            self._reports.append(lambda: on_delivery(None, (topic, p, offset)))
        else:
            self.lost += 1

    def poll(self, timeout: float) -> None:
        reports, self._reports = self._reports, []
        for report in reports:
            report()

    def flush(self, timeout: float) -> int:
        self.poll(0)
        return self.lost
