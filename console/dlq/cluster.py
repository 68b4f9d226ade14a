"""The DLQ room's one seam to Kafka: what a replay asks of a cluster, and confluent-kafka behind it.

A replay asks four things of the cluster it sends to, and nothing else:

- ``probe``: its id and every topic's partition count (``Target``), within a few seconds;
- ``scan``: where in a topic the messages carrying given ``x-replay-id`` headers landed, reading
  from a time up to the high watermark (reconciliation after a crash);
- ``fetch``: the whole value of messages at DLQ coordinates (payloads the store kept truncated);
- ``producer``: an idempotent producer that never creates a topic and places keys with murmur2.

``KafkaCluster`` is the confluent-kafka implementation. Planning, reconciliation, the cluster
guard and the partition choice take a ``DlqCluster``, so they are unit-tested with a fake
(tests/dlq_fake_cluster.py) and a second cluster kind plugs in here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, cast

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from console.base.errors import InputError
from console.base.model import Header
from console.dlq.target import (
    BrokerUnreachable,
    Target,
    quiet,
    replay_producer_config,
)

__all__ = [
    "REPLAY_ID",
    "Delivered",
    "DlqCluster",
    "DlqProducer",
    "KafkaCluster",
    "ProduceRefused",
    "ScanError",
]

REPLAY_ID = "x-replay-id"

Coord = tuple[str, int, int]  # topic, partition, offset
# The broker's answer for one produced message: (error, None) or (None, where it landed).
Delivered = Callable[[str | None, Coord | None], None]


class ProduceRefused(Exception):
    """The producer refused a message outright (not queued; no delivery report follows)."""


class ScanError(Exception):
    """A topic could not be read to its end (the reconcile fails; nothing is marked)."""


class DlqProducer(Protocol):
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
        """Queue one message; ``BufferError`` when the queue is full, ``ProduceRefused`` when
        the producer refuses it. ``on_delivery`` is called from ``poll`` or ``flush``."""
        ...

    def poll(self, timeout: float) -> None: ...

    def flush(self, timeout: float) -> int:
        """Wait for every delivery report; returns how many are still outstanding."""
        ...


class DlqCluster(Protocol):
    @property
    def bootstrap(self) -> str: ...

    def probe(self, timeout: float = 5.0) -> Target: ...

    def scan(
        self, topic: str, wanted: set[str], since_ms: int, timeout: float
    ) -> dict[str, tuple[int, int]]:
        """The messages in ``topic`` from ``since_ms`` whose ``x-replay-id`` is in ``wanted``:
        replay id -> (partition, offset). A topic that does not exist holds none."""
        ...

    def fetch(self, coords: Sequence[Coord], timeout: float) -> dict[Coord, bytes]:
        """The whole value at each of ``coords`` still in its topic (absent when gone)."""
        ...

    def producer(self) -> DlqProducer: ...


class _KafkaProducer:
    def __init__(self, producer: Producer) -> None:
        self._p = producer

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
        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                on_delivery(err.str(), None)
            else:  # a delivered message has its topic, partition and offset (stubs allow None)
                topic_, part = cast(str, msg.topic()), cast(int, msg.partition())
                on_delivery(None, (topic_, part, cast(int, msg.offset())))

        kwargs: dict[str, Any] = {} if partition is None else {"partition": partition}
        try:
            self._p.produce(
                topic, value=value, key=key, headers=list(headers), on_delivery=delivered, **kwargs
            )
        except KafkaException as exc:
            raise ProduceRefused(str(exc)) from exc

    def poll(self, timeout: float) -> None:
        self._p.poll(timeout)

    def flush(self, timeout: float) -> int:
        return self._p.flush(timeout)


class KafkaCluster:
    """A Kafka cluster through confluent-kafka, configured as the librdkafka ``conf`` says."""

    def __init__(self, conf: Mapping[str, Any]) -> None:
        self.conf = dict(conf)

    @property
    def bootstrap(self) -> str:
        return str(self.conf.get("bootstrap.servers", ""))

    def probe(self, timeout: float = 5.0) -> Target:
        """The cluster's id and topics, from the sending producer's own metadata request; a
        cluster that does not answer raises ``BrokerUnreachable`` naming the bootstrap."""
        errors: list[str] = []
        pconf = replay_producer_config(self.conf)
        pconf["error_cb"] = lambda err: errors.append(err.str())
        try:
            producer = Producer(pconf)
        except (KafkaException, ValueError, TypeError) as exc:
            raise InputError(f"bad Kafka configuration: {exc}") from None
        try:
            md = producer.list_topics(timeout=timeout)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else exc
            reason = errors[-1] if errors else getattr(err, "str", lambda: str(err))()
            raise BrokerUnreachable(f"cannot reach Kafka at {self.bootstrap}: {reason}") from None
        finally:
            producer.flush(0)
        parts = {name: len(tm.partitions) for name, tm in md.topics.items() if tm.error is None}
        return Target(self.bootstrap, md.cluster_id, parts)

    def producer(self) -> DlqProducer:
        try:
            return _KafkaProducer(Producer(replay_producer_config(self.conf)))
        except KafkaException as exc:
            raise ProduceRefused(f"cannot create the Kafka producer: {exc}") from exc

    def _consumer(self, purpose: str) -> Consumer:
        return Consumer(
            {
                **quiet(self.conf),
                "group.id": f"handoff-console-{purpose}-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
            }
        )

    def scan(
        self, topic: str, wanted: set[str], since_ms: int, timeout: float
    ) -> dict[str, tuple[int, int]]:
        consumer = self._consumer("reconcile")
        try:
            return _scan(consumer, topic, wanted, since_ms, timeout)
        except KafkaException as exc:
            raise ScanError(f"cannot read {topic}: {exc}") from exc
        finally:
            consumer.close()

    def fetch(self, coords: Sequence[Coord], timeout: float) -> dict[Coord, bytes]:
        found: dict[Coord, bytes] = {}
        if not coords:
            return found
        consumer = self._consumer("fetch")
        try:
            for topic, partition, offset in coords:
                consumer.assign([TopicPartition(topic, partition, offset)])
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    msgs = consumer.consume(1, timeout=0.5)
                    if not msgs:
                        continue
                    m = msgs[0]
                    value = m.value()
                    if m.error() is None and m.offset() == offset and value is not None:
                        found[(topic, partition, offset)] = value
                    break  # the message, a later one (ours is gone) or the end of the partition
        finally:
            consumer.close()
        return found


def _scan(
    consumer: Consumer, topic: str, wanted: set[str], since_ms: int, timeout: float
) -> dict[str, tuple[int, int]]:
    found: dict[str, tuple[int, int]] = {}
    md = consumer.list_topics(topic, timeout=timeout)
    tmd = md.topics.get(topic)
    if tmd is None or tmd.error is not None or not tmd.partitions:
        return found  # the target does not exist: nothing reached it
    ends: dict[int, int] = {}
    starts: list[TopicPartition] = []
    by_time = consumer.offsets_for_times(
        [TopicPartition(topic, p, since_ms) for p in tmd.partitions], timeout=timeout
    )
    for tp in by_time:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, tp.partition), timeout=timeout
        )
        start = max(tp.offset if tp.offset >= 0 else high, low)
        if start < high:
            ends[tp.partition] = high
            starts.append(TopicPartition(topic, tp.partition, start))
    if not starts:
        return found
    consumer.assign(starts)
    deadline = time.monotonic() + timeout
    while ends:
        if time.monotonic() > deadline:
            raise ScanError(f"reading {topic} did not reach its end within {timeout:.0f}s")
        for msg in consumer.consume(num_messages=1000, timeout=0.5):
            err = msg.error()
            # A consumed message has a partition, an offset and headers as a list of pairs with
            # bytes values (the stubs allow None, a dict and str).
            p = cast(int, msg.partition())
            offset = cast(int, msg.offset())
            headers = cast("list[tuple[str, bytes | None]]", msg.headers() or [])
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    ends.pop(p, None)
                    continue
                raise ScanError(f"reading {topic} failed: {err.str()}")
            for name, value in headers:
                if name == REPLAY_ID and value is not None:
                    rid = value.decode("ascii", "replace")
                    if rid in wanted:
                        found[rid] = (p, offset)
            if p in ends and offset + 1 >= ends[p]:
                ends.pop(p)
    return found
