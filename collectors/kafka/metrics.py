"""Rates, consumer lag and DLQ depth as ``console.base.model.SeriesPoint`` samples the panels read.

Every ``metrics_interval_s`` (5 s by default) the tap hands the sink one sample of each series:

========================  =========  ===================  ======================================
name                      subject    detail               value
========================  =========  ===================  ======================================
``topic.messages_per_s``  topic      the tap (``source``) messages/s this tap saw since its last
                                                          sample (catch-up reads count too)
``topic.bytes_per_s``     topic      the tap (``source``) value bytes/s this tap saw, likewise
``consumer.lag``          topic      ``group/partition``  high watermark minus the group's
                                                          committed offset (>= 0)
``consumer.lag_total``    topic      group                the sum of ``consumer.lag`` over the
                                                          topic's partitions for that group
``dlq.depth``             DLQ topic  ``""``               messages held: sum of high minus low
                                                          watermarks over its partitions
``dlq.inflow_per_s``      DLQ topic  ``""``               growth of the summed high watermarks
                                                          per second since the last sample
========================  =========  ===================  ======================================

Rates are each tap's own: N taps in one group each read some of a topic's partitions, so each
names itself in ``detail`` (host and an id of its own) and the panels add the taps' newest rates
up (``console/readers/panels.py``); a tap that stops writes a last 0 of its own, so a tap gone
no longer counts. Lag and depth are the cluster's, the same from every tap.

Lag covers every consumer group that has committed offsets on a tapped topic (the tap's own group
only when asked), found with the AdminClient's ``list_consumer_groups`` and
``list_consumer_group_offsets``; watermarks come from ``list_offsets``. A partition a group never
committed has no lag sample. Rates need no broker; lag and depth are skipped (and the error kept)
while the broker cannot be reached.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from collectors.kafka.topics import TopicSelector
from console.base.dlq_headers import DlqMatcher
from console.base.model import SeriesPoint

__all__ = ["KafkaMetrics", "RateTracker", "lag_points"]

log = logging.getLogger("handoff.kafka.metrics")

TopicPartitionKey = tuple[str, int]


class RateTracker:
    """Per-second rates from cumulative ``{key: (messages, bytes)}`` counters, as one tap's
    (``source``, the points' detail)."""

    def __init__(self, start_ns: int | None = None, source: str = "") -> None:
        self.source = source
        self._last: dict[str, tuple[int, int]] = {}
        self._last_ns = time.time_ns() if start_ns is None else start_ns

    def stopped(self, now_ns: int) -> list[SeriesPoint]:
        """This tap's last samples as it stops: 0 for every topic it reported."""
        return [
            SeriesPoint(name, topic, now_ns, 0.0, self.source)
            for topic in sorted(self._last)
            for name in ("topic.messages_per_s", "topic.bytes_per_s")
        ]

    def points(self, totals: Mapping[str, tuple[int, int]], now_ns: int) -> list[SeriesPoint]:
        dt = (now_ns - self._last_ns) / 1e9
        if dt <= 0:
            return []
        out: list[SeriesPoint] = []
        for topic, (msgs, nbytes) in sorted(totals.items()):
            m0, b0 = self._last.get(topic, (0, 0))
            rate = (msgs - m0) / dt
            out.append(SeriesPoint("topic.messages_per_s", topic, now_ns, rate, self.source))
            byte_rate = (nbytes - b0) / dt
            out.append(SeriesPoint("topic.bytes_per_s", topic, now_ns, byte_rate, self.source))
        self._last = dict(totals)
        self._last_ns = now_ns
        return out


def lag_points(
    high: Mapping[TopicPartitionKey, int],
    committed: Mapping[str, Mapping[TopicPartitionKey, int]],
    now_ns: int,
) -> list[SeriesPoint]:
    """``consumer.lag`` per group and partition and ``consumer.lag_total`` per group and topic."""
    out: list[SeriesPoint] = []
    for group in sorted(committed):
        totals: dict[str, int] = {}
        for (topic, partition), offset in sorted(committed[group].items()):
            hw = high.get((topic, partition))
            if hw is None or offset < 0:
                continue
            lag = max(0, hw - offset)
            totals[topic] = totals.get(topic, 0) + lag
            out.append(SeriesPoint("consumer.lag", topic, now_ns, lag, f"{group}/{partition}"))
        for topic, total in sorted(totals.items()):
            out.append(SeriesPoint("consumer.lag_total", topic, now_ns, total, group))
    return out


class KafkaMetrics:
    """Asks the cluster for watermarks and committed offsets and turns them into samples."""

    def __init__(
        self,
        admin_config: dict[str, Any],
        *,
        selector: TopicSelector,
        own_group: str,
        dlq_matcher: DlqMatcher,
        include_own_group: bool = False,
        timeout_s: float = 10.0,
        start_ns: int | None = None,
        source: str = "",
    ) -> None:
        from confluent_kafka.admin import AdminClient

        self.admin = AdminClient(admin_config)
        self.selector = selector
        self.own_group = own_group
        self.include_own_group = include_own_group
        self.dlq_matcher = dlq_matcher
        self.timeout_s = timeout_s
        self.rates = RateTracker(start_ns, source)
        self.last_error: str | None = None
        self._dlq_last: dict[str, tuple[int, int]] = {}  # topic -> (sum of high, time_ns)

    def collect(
        self, totals: Mapping[str, tuple[int, int]], now_ns: int | None = None
    ) -> list[SeriesPoint]:
        """One sample of every series; Kafka errors are kept in ``last_error``, never raised."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        self.admin.poll(0)  # serve the AdminClient's log and error callbacks
        points = self.rates.points(totals, now_ns)
        try:
            points.extend(self._cluster_points(now_ns))
            self.last_error = None
        except Exception as exc:  # the broker may be away: rates still flow
            self.last_error = f"metrics: {exc}"
            log.debug("metrics collection failed: %s", exc)
        return points

    def _cluster_points(self, now_ns: int) -> list[SeriesPoint]:
        partitions = self._partitions()
        if not partitions:
            return []
        dlq_topics = {t for t, _ in partitions if self.dlq_matcher.is_dlq_topic(t)}
        high = self._offsets(partitions, latest=True)
        low = self._offsets([tp for tp in partitions if tp[0] in dlq_topics], latest=False)
        points = lag_points(high, self._committed(set(t for t, _ in partitions)), now_ns)
        points.extend(self._dlq_points(dlq_topics, high, low, now_ns))
        return points

    def _partitions(self) -> list[TopicPartitionKey]:
        md = self.admin.list_topics(timeout=self.timeout_s)
        out: list[TopicPartitionKey] = []
        for name in self.selector.select(md.topics):
            topic = md.topics[name]
            if topic.error is not None:
                continue
            out.extend((name, p) for p in sorted(topic.partitions))
        return out

    def _offsets(
        self, partitions: list[TopicPartitionKey], *, latest: bool
    ) -> dict[TopicPartitionKey, int]:
        from confluent_kafka import TopicPartition
        from confluent_kafka.admin import OffsetSpec

        if not partitions:
            return {}
        spec = OffsetSpec.latest() if latest else OffsetSpec.earliest()  # type: ignore[no-untyped-call]  # untyped in confluent-kafka's stubs
        futures = self.admin.list_offsets(
            {TopicPartition(t, p): spec for t, p in partitions}, request_timeout=self.timeout_s
        )
        out: dict[TopicPartitionKey, int] = {}
        for tp, fut in futures.items():
            out[(tp.topic, tp.partition)] = fut.result(timeout=self.timeout_s).offset
        return out

    def _committed(self, topics: set[str]) -> dict[str, dict[TopicPartitionKey, int]]:
        from confluent_kafka import ConsumerGroupTopicPartitions

        listing = self.admin.list_consumer_groups(request_timeout=self.timeout_s).result(
            timeout=self.timeout_s
        )
        groups = sorted(
            g.group_id
            for g in listing.valid
            if self.include_own_group or g.group_id != self.own_group
        )
        pending: dict[str, Future[Any]] = {}
        for group in groups:
            futures = self.admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group)], request_timeout=self.timeout_s
            )
            pending.update(futures)
        out: dict[str, dict[TopicPartitionKey, int]] = {}
        for group, fut in pending.items():
            try:
                result = fut.result(timeout=self.timeout_s)
            except Exception as exc:  # a group deleted meanwhile: skip it
                log.debug("offsets of group %s: %s", group, exc)
                continue
            offsets = {
                (tp.topic, tp.partition): tp.offset
                for tp in result.topic_partitions or ()
                if tp.topic in topics and tp.offset >= 0
            }
            if offsets:
                out[group] = offsets
        return out

    def _dlq_points(
        self,
        dlq_topics: set[str],
        high: Mapping[TopicPartitionKey, int],
        low: Mapping[TopicPartitionKey, int],
        now_ns: int,
    ) -> list[SeriesPoint]:
        out: list[SeriesPoint] = []
        for topic in sorted(dlq_topics):
            keys = [k for k in high if k[0] == topic]
            depth = sum(max(0, high[k] - low.get(k, 0)) for k in keys)
            top = sum(high[k] for k in keys)
            out.append(SeriesPoint("dlq.depth", topic, now_ns, depth))
            last = self._dlq_last.get(topic)
            if last is not None and now_ns > last[1]:
                rate = max(0, top - last[0]) / ((now_ns - last[1]) / 1e9)
                out.append(SeriesPoint("dlq.inflow_per_s", topic, now_ns, rate))
            self._dlq_last[topic] = (top, now_ns)
        return out

    def close(self) -> None:
        """Nothing to release beyond the AdminClient's threads, which go with the object."""
        self._dlq_last.clear()
