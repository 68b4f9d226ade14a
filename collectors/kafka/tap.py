"""The Kafka tap: a consumer that observes without disturbing, handing records to a sink.

``KafkaTap(sink, bootstrap=..., topics=...)`` consumes in its own group (``handoff-console-tap`` by
default) and commits only that group's offsets, and only for records the store has committed:
every ``submit`` returns a ``Ticket``, and offsets are committed after the tickets below them
were waited on successfully, so a crash loses nothing and a restart re-reads at most the last
second, which the store's dedupe absorbs. It starts at the end of the topics unless
``from_beginning`` (that only matters for a group with no committed position yet).

When a ticket fails (the store could not commit: disk full, I/O error, a lock held too long) the
tap commits nothing, forgets what it had handed over since its last commit, and seeks every
partition back to that position, so those messages are read again; ``hops_committed`` and
``dead_letters_committed`` count only what the store committed.

When ``sink.submit`` raises ``Overloaded`` the tap pauses its partitions, keeps polling so it stays
in the group, and retries the same records: it never drops one. When the broker goes away
librdkafka reconnects with backoff; ``health()`` says ``connected: False`` with the error, and the
tap resumes from its committed position when the broker is back.

Many taps in one group (``tap --group G`` as N processes) split the partitions by the group
protocol (cooperative-sticky by default: a tap joining or leaving moves only the partitions that
change owner, the others keep flowing). When a partition is revoked the tap waits for the store to
commit what it handed over (at most ``revoke_wait_s``), commits those offsets and only then lets
the partition go, so its next owner starts after the last stored record; if the store did not
commit in time, nothing is committed and the next owner reads those records again. Whatever is
read twice (that, or a tap killed between an insert and its commit) the store collapses: hops and
dead letters are keyed by their Kafka coordinates in the store itself, not in one tap's memory.
A tap that starts at the end commits its starting offset on partitions the group has none for
(``_pin_starts``), so their next owner does not start at the end again.

Which offsets may be committed is ``OffsetTracker``'s to say (``collectors/kafka/offsets.py``);
this module is the poll loop around it. The consume loop runs in one thread, the metrics
(``collectors/kafka/metrics.py``) in another.
``start()``, ``stop()`` and ``health()`` are all the daemon needs.

Why ~500 lines in one room: the poll loop, the librdkafka callbacks and ``health()`` share one
consumer and its state, and the callbacks run inside ``consume()`` on the loop's own thread, so
they are read together. What has a seam of its own is apart: the offsets (``offsets.py``), the
decoding (``decode.py``), the lag and rate series (``metrics.py``), librdkafka's statistics
(``stats.py``).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from collectors.kafka.decode import DEFAULT_DLQ_PAYLOAD_LIMIT, BatchResult, MessageDecoder
from collectors.kafka.metrics import KafkaMetrics
from collectors.kafka.offsets import OffsetTracker, Partition, add_counts
from collectors.kafka.stats import parse_stats
from collectors.kafka.topics import TopicSelector, parse_topics
from console.base.errors import HandoffError, InputError, Overloaded, StoreError
from console.base.model import SeriesPoint

if TYPE_CHECKING:  # the tap knows the sink's shape, not the store behind it
    from console.base.sink import Sink

__all__ = ["DEFAULT_GROUP", "KafkaTap"]

DEFAULT_GROUP = "handoff-console-tap"
log = logging.getLogger("handoff.kafka.tap")
# librdkafka's own log lines; its errors also reach the tap through error_cb (logged above).
rdkafka_log = logging.getLogger("handoff.kafka.librdkafka")

# Properties the tap sets unless the user's configuration says otherwise.
_DEFAULTS: dict[str, Any] = {
    "client.id": "handoff-console-tap",
    # After a broker outage longer than the session, the tap rejoins its group as a new member
    # and the coordinator waits for the old one's session to expire before assigning anything:
    # with librdkafka's 45 s default the tap sat idle for ~50 s after the broker was back.
    "session.timeout.ms": 10000,
    "statistics.interval.ms": 2000,
    "topic.metadata.refresh.interval.ms": 10000,
    # N taps in one group: a tap joining or leaving moves only the partitions that change owner
    # (incremental rebalances); with the eager default every tap stopped for every rebalance.
    # Every member of a group must name the same protocol (``-X`` changes it for all of them).
    "partition.assignment.strategy": "cooperative-sticky",
}
_DOWN_CODES = {-187, -195}  # _ALL_BROKERS_DOWN, _TRANSPORT


class KafkaTap:
    """Consume topics into a sink as ``Hop`` and ``DeadLetter`` records, plus rate/lag series."""

    name = "kafka-tap"
    label = "kafka tap"  # how its log lines begin

    def __init__(
        self,
        sink: Sink,
        *,
        bootstrap: str,
        topics: str | Sequence[str],
        group_id: str = DEFAULT_GROUP,
        from_beginning: bool = False,
        correlation_headers: Sequence[str] | None = None,
        dlq_patterns: Sequence[str] | None = None,
        dlq_payload_limit: int = DEFAULT_DLQ_PAYLOAD_LIMIT,
        keep_payloads: bool = False,
        extra_config: Mapping[str, Any] | None = None,
        batch_size: int = 2000,
        commit_interval_s: float = 1.0,
        metrics_interval_s: float = 5.0,
        lag_include_own_group: bool = False,
        key_attributes: Sequence[str] = (),
        revoke_wait_s: float = 30.0,
    ) -> None:
        try:
            self.subscription = parse_topics(topics)
        except ValueError as exc:
            raise InputError(f"--topics: {exc}") from None
        self.sink = sink
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.from_beginning = from_beginning
        self.extra_config = dict(extra_config or {})
        self.batch_size = batch_size
        self.commit_interval_s = commit_interval_s
        # How long a revoke waits for the store to commit what the tap handed over before it
        # gives the partitions up uncommitted (their next owner reads them again).
        self.revoke_wait_s = revoke_wait_s
        self.metrics_interval_s = metrics_interval_s
        self.lag_include_own_group = lag_include_own_group
        # Who this tap is in its rate samples' detail: N taps of one group each rate what
        # they read, and the panels add them up (collectors/kafka/metrics.py).
        self.rate_source = f"{socket.gethostname()}/{uuid.uuid4().hex[:8]}"
        self.decoder = MessageDecoder(
            correlation_headers=correlation_headers,
            dlq_patterns=dlq_patterns,
            dlq_payload_limit=dlq_payload_limit,
            keep_payloads=keep_payloads,
            key_attributes=key_attributes,
        )
        self.poll_timeout_s = 0.2
        self._consumer: Any = None
        self._metrics: KafkaMetrics | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._stop_deadline = float("inf")
        self._lock = threading.Lock()
        self._running = False
        self._connected = False
        self._last_error: str | None = None
        self._last_error_ns = 0
        self._hops = 0
        self._dead = 0
        self._lag: int | None = None
        self._partitions: set[Partition] = set()  # assigned now (rebalances may be incremental)
        self._unpinned: set[Partition] = set()  # assigned, and maybe without a group offset yet
        self._cluster_id_due = False  # an assignment happened: read the cluster id (see _run)
        self._paused = False
        self._overloaded_waits = 0
        self._commits = 0
        self._commit_results = 0
        self._topic_totals: dict[str, tuple[int, int]] = {}
        self.offsets = OffsetTracker()  # what was handed over, stored, and may be committed
        self._seen_by_signal: dict[str, int] = {}
        self._last_commit = time.monotonic()

    # -- configuration ---------------------------------------------------------------------

    def admin_config(self) -> dict[str, Any]:
        """What an AdminClient for the same cluster needs: bootstrap and security settings."""
        return {"bootstrap.servers": self.bootstrap, **self.extra_config}

    def consumer_config(self) -> dict[str, Any]:
        """The consumer's librdkafka configuration (the tap's guarantees set last)."""
        return {
            **_DEFAULTS,
            "bootstrap.servers": self.bootstrap,
            **self.extra_config,
            "group.id": self.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest" if self.from_beginning else "latest",
            "error_cb": self._on_error,
            "stats_cb": self._on_stats,
            "on_commit": self._on_commit,
            "logger": rdkafka_log,
        }

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Create the consumer (bad configuration raises ``InputError`` here) and start."""
        from confluent_kafka import Consumer, KafkaException

        if self._running:
            return
        try:
            self._consumer = Consumer(self.consumer_config())
            metrics_config = {**self.admin_config(), "logger": rdkafka_log}
            self._metrics = KafkaMetrics(
                metrics_config,
                selector=TopicSelector(self.subscription),
                own_group=self.group_id,
                dlq_matcher=self.decoder.matcher,
                include_own_group=self.lag_include_own_group,
                source=self.rate_source,
            )
        except (KafkaException, ValueError, TypeError) as exc:
            raise InputError(f"bad Kafka configuration: {exc}") from None
        self._consumer.subscribe(
            self.subscription,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self._stopping.clear()
        self._stop_deadline = float("inf")
        self._running = True
        self._threads = [
            threading.Thread(target=self._run, name="kafka-tap", daemon=True),
            threading.Thread(target=self._metrics_loop, name="kafka-tap-metrics", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Hand over what was consumed, commit its offsets, leave the group."""
        if not self._threads:
            return
        self._stop_deadline = time.monotonic() + timeout
        self._stopping.set()
        for t in self._threads:
            t.join(max(0.1, self._stop_deadline - time.monotonic()))
        self._threads = []
        self._running = False

    def health(self) -> dict[str, Any]:
        """The tap's state for the daemon's health view and the TUI.

        Keys: ``running``, ``connected`` (a broker answers), ``last_error`` (text or None) and
        ``last_error_ns``, ``metrics_error``, ``hops_seen`` and ``dead_letters_seen`` (handed to
        the sink), ``hops_committed`` and ``dead_letters_committed`` (committed by the store),
        ``seen_by_signal`` and ``committed_by_signal`` (the same per signal: ``hops``,
        ``dead_letters``; OTLP over Kafka ``spans``, ``metrics``, ``logs``),
        ``store_error`` (why the last commit failed; None once one succeeds), ``rewinds`` (times
        the tap read again from its committed position after a failed commit), ``lag``
        (messages on the assigned partitions the tap has not handed over yet; None until known),
        ``assigned_partitions`` (how many) and ``partitions`` (``[topic, partition]`` pairs),
        ``paused_for_backpressure``, ``overloaded_waits``, ``commits``,
        ``group_id``, ``topics``, ``bootstrap``, ``cluster_id`` (from the broker's metadata; None
        until the first assignment).
        """
        metrics_error = self._metrics.last_error if self._metrics else None
        stored = self.offsets.counts()
        with self._lock:
            return {
                "running": self._running,
                "connected": self._connected,
                "last_error": self._last_error,
                "last_error_ns": self._last_error_ns,
                "metrics_error": metrics_error,
                "hops_seen": self._hops,
                "dead_letters_seen": self._dead,
                "hops_committed": stored.hops,
                "dead_letters_committed": stored.dead_letters,
                "seen_by_signal": dict(self._seen_by_signal),
                "committed_by_signal": stored.by_signal,
                "store_error": stored.store_error,
                "rewinds": stored.rewinds,
                "lag": self._lag,
                "assigned_partitions": len(self._partitions),
                "partitions": [list(tp) for tp in sorted(self._partitions)],
                "paused_for_backpressure": self._paused,
                "overloaded_waits": self._overloaded_waits,
                "commits": self._commits,
                "group_id": self.group_id,
                "topics": list(self.subscription),
                "bootstrap": self.bootstrap,
                "cluster_id": self.decoder.cluster_id,
            }

    def topic_totals(self) -> dict[str, tuple[int, int]]:
        """Messages and value bytes handed over so far, per topic."""
        with self._lock:
            return dict(self._topic_totals)

    # -- the consume loop ------------------------------------------------------------------

    def _run(self) -> None:
        consumer = self._consumer
        try:
            while not self._stopping.is_set():
                try:
                    messages = consumer.consume(
                        num_messages=self.batch_size, timeout=self.poll_timeout_s
                    )
                except Exception as exc:  # KafkaException on a fatal or internal error
                    self._error(f"consume: {exc}")
                    self._stopping.wait(1.0)
                    continue
                self._after_callbacks(consumer)
                if messages:
                    self._note_positions(messages)
                if self._unpinned:
                    self._pin_starts(consumer)
                if messages:
                    result = self.decoder.decode_batch(messages, time.time_ns())
                    if not self._hand_over(consumer, result):
                        break
                if time.monotonic() - self._last_commit >= self.commit_interval_s:
                    self._commit(consumer)
            consumer.pause(consumer.assignment())  # no more messages; callbacks still served
            self._commit(consumer, wait_s=max(1.0, min(10.0, self._time_left())))
        except Exception as exc:
            self._error(f"tap stopped: {type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(Exception):
                consumer.close()
            self._running = False

    def _hand_over(self, consumer: Any, result: BatchResult) -> bool:
        """Submit a batch, pausing and retrying while the sink is overloaded; never drop."""
        for err in result.errors:
            self._error(err)
        ticket = None
        if result.records:
            while True:
                try:
                    ticket = self.sink.submit(result.records)
                    break
                except Overloaded as exc:
                    self._overloaded_waits += 1
                    if not self._paused:
                        consumer.pause(consumer.assignment())
                        self._paused = True
                    if self._stopping.is_set() and time.monotonic() > self._stop_deadline:
                        return False  # not handed over, not committed: read again next time
                    self._wait_paused(consumer, result, exc.retry_after_s)
            if self._paused:
                consumer.resume(consumer.assignment())
                self._paused = False
        counts = result.signal_counts()
        self.offsets.handed(
            ticket,
            result.next_offsets,
            hops=result.hops,
            dead_letters=result.dead_letters,
            by_signal=counts,
        )
        with self._lock:
            self._hops += result.hops
            self._dead += result.dead_letters
            add_counts(self._seen_by_signal, counts)
            self._connected = True
            for topic, (msgs, nbytes) in result.per_topic.items():
                m0, b0 = self._topic_totals.get(topic, (0, 0))
                self._topic_totals[topic] = (m0 + msgs, b0 + nbytes)
        return True

    def _wait_paused(self, consumer: Any, result: BatchResult, retry_after_s: float) -> None:
        """Poll while paused (keeps the group membership); keep anything that still arrives."""
        deadline = time.monotonic() + min(max(retry_after_s, 0.05), 2.0)
        while time.monotonic() < deadline:
            extra = consumer.consume(num_messages=self.batch_size, timeout=0.1)
            self._after_callbacks(consumer)
            if extra:
                self._note_positions(extra)
                result.merge(self.decoder.decode_batch(extra, time.time_ns()))

    def _commit(
        self,
        consumer: Any,
        *,
        sync: bool = False,
        wait_s: float = 0.0,
        only: set[Partition] | None = None,
        settle_s: float = 60.0,
    ) -> None:
        """Wait for the store to commit what was handed over (``settle_s`` at most), then commit
        its offsets.

        If the store could not commit, nothing is committed: the tap rewinds (``_rewind``).

        Asynchronous by default (failures come back through ``on_commit`` and are retried);
        ``sync`` blocks (inside a rebalance callback); ``wait_s`` waits that long for the
        asynchronous result, serving callbacks (the final commit, with partitions paused).
        """
        from confluent_kafka import TopicPartition

        self._last_commit = time.monotonic()
        offsets = self.offsets.take(only)
        if not offsets:
            return
        try:
            self.offsets.settle(offsets, settle_s)
        except StoreError as exc:
            self._rewind(consumer, str(exc))
            return
        try:
            tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
            before = self._commit_results
            if sync:
                consumer.commit(offsets=tps, asynchronous=False)
                with self._lock:
                    self._commits += 1
                return
            consumer.commit(offsets=tps, asynchronous=True)
        except Exception as exc:  # KafkaException: the records are stored, commit them later
            self._error(f"commit: {exc}")
            self.offsets.requeue(offsets)
            return
        deadline = time.monotonic() + wait_s
        while self._commit_results == before and time.monotonic() < deadline:
            consumer.consume(num_messages=1, timeout=0.1)  # paused: only serves callbacks

    def _rewind(self, consumer: Any, reason: str) -> None:
        """The store did not commit: forget what was handed over since the last commit and read
        it again from there (the offsets were not committed, so nothing is lost)."""
        from confluent_kafka import TopicPartition

        self._error(f"store: {reason}; reading again from the last committed offsets")
        positions = self.offsets.rewind(reason)
        for (topic, partition), offset in positions.items():
            try:
                consumer.seek(TopicPartition(topic, partition, offset))
            except Exception as exc:  # not assigned any more: its next owner reads from there
                log.debug("seek %s[%d] to %d: %s", topic, partition, offset, exc)

    def _note_positions(self, messages: Sequence[Any]) -> None:
        """Remember the first offset read from each partition new since its assignment."""
        read = self.offsets.read
        for m in messages:
            if m.error() is None:
                read((m.topic(), m.partition()), m.offset())

    def _time_left(self) -> float:
        return self._stop_deadline - time.monotonic()

    # -- librdkafka callbacks (served from consume() in the loop thread; they call no blocking
    #    consumer method: see _after_callbacks) ---------------------------------------------

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        # Cooperative rebalances assign incrementally: ``partitions`` are the ones added.
        self._cluster_id_due = True  # read once consume() returns: never from a callback
        added = {(tp.topic, tp.partition) for tp in partitions}
        self.offsets.assigned(added)
        with self._lock:
            self._partitions |= added
            self._connected = True
        if not self.from_beginning:
            self._unpinned |= added  # see _pin_starts, once consume() returns

    def _pin_starts(self, consumer: Any) -> None:
        """Commit where the tap started on newly assigned partitions the group has no offset
        for yet (``auto.offset.reset=latest``): the first offset read from each, or the end of
        a partition nothing was read from yet. Otherwise a partition quiet since the group
        began (a dead-letter topic) has no committed position, and its next owner (after a
        rebalance, a restart, a kill) starts at the end again, past whatever arrived in
        between. Runs on the loop thread (blocking calls; never from a callback); what fails is
        tried again on the next round."""
        from confluent_kafka import TopicPartition

        wanted = sorted(self._unpinned & self._partitions)
        try:
            known = consumer.committed([TopicPartition(t, p) for t, p in wanted], timeout=5.0)
            read = self.offsets.resume_positions()
            pins = []
            for tp in known:
                key = (tp.topic, tp.partition)
                if tp.offset < 0:
                    start = read.get(key)
                    if start is None:
                        start = consumer.get_watermark_offsets(tp, timeout=5.0, cached=False)[1]
                    pins.append(TopicPartition(tp.topic, tp.partition, start))
            if pins:
                consumer.commit(offsets=pins, asynchronous=False)
                with self._lock:
                    self._commits += 1
        except Exception as exc:  # KafkaException: the broker away; the next round tries again
            self._error(f"commit of the starting offsets: {exc}")
            return
        self._unpinned.clear()

    def _after_callbacks(self, consumer: Any) -> None:
        """What the callbacks of the last ``consume()`` asked for that needs the consumer itself.

        A callback must not call a consumer method that blocks (``list_topics``, ``consume``,
        ``poll``): confluent-kafka keeps one call state per thread and handle, a nested call
        clears it, and the next callback the outer ``consume()`` serves aborts the whole process
        (``CallState_get: Assertion `cs != NULL' failed``). A rebalance after a broker restart,
        with another callback behind it in the same ``consume()``, did exactly that to the demo.
        """
        if self._cluster_id_due:
            self._cluster_id_due = False
            self._refresh_cluster_id(consumer)

    def _refresh_cluster_id(self, consumer: Any) -> None:
        """Read the cluster id from the broker's metadata (after each assignment, before the
        messages of that ``consume()`` are decoded): every hop and dead letter records the
        cluster it came from, so a replay can go back to it."""
        try:
            cluster_id = consumer.list_topics(timeout=5.0).cluster_id
        except Exception as exc:  # KafkaException: keep the last known id
            self._error(f"cluster id: {exc}")
            return
        if cluster_id and cluster_id != self.decoder.cluster_id:
            log.info("%s: cluster id %s", self.label, cluster_id)
            self.decoder.cluster_id = cluster_id

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        """Before the partitions go: wait (bounded) for the store to commit what was handed
        over, commit those offsets, then forget them (see the module docstring)."""
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        self._commit(consumer, sync=True, only=revoked, settle_s=self.revoke_wait_s)
        self.offsets.revoked(revoked)
        with self._lock:
            self._partitions -= revoked

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        # Cannot commit for lost partitions: their next owner reads them again.
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self.offsets.lost(gone)
        with self._lock:
            self._partitions -= gone

    def _on_commit(self, err: Any, partitions: list[Any]) -> None:
        self._commit_results += 1
        if err is not None:
            self._error(f"commit: {err}")
            self.offsets.requeue(
                {(tp.topic, tp.partition): tp.offset for tp in partitions if tp.offset >= 0}
            )
            return
        failed = [tp for tp in partitions if tp.error is not None]
        if failed:
            self._error(f"commit: {failed[0].error}")
            self.offsets.requeue({(tp.topic, tp.partition): tp.offset for tp in failed})
        with self._lock:
            self._commits += 1

    def _on_error(self, err: Any) -> None:
        code = err.code() if hasattr(err, "code") else None
        if code in _DOWN_CODES:
            with self._lock:
                self._connected = False
        self._error(str(err))

    def _on_stats(self, stats_json: str) -> None:
        parsed = parse_stats(stats_json)
        if parsed is None:
            return
        with self._lock:
            self._connected, self._lag = parsed

    def _error(self, message: str) -> None:
        if message != self._last_error:  # a broker away repeats itself: say it once
            log.warning("%s: %s", self.label, message)
        with self._lock:
            self._last_error = message
            self._last_error_ns = time.time_ns()

    # -- metrics ---------------------------------------------------------------------------

    def _metric_points(self, metrics: KafkaMetrics) -> list[SeriesPoint]:
        """The series one metrics tick stores (a subclass may add its own)."""
        return metrics.collect(self.topic_totals())

    def _metrics_loop(self) -> None:
        metrics = self._metrics
        if metrics is None:
            return
        while not self._stopping.wait(self.metrics_interval_s):
            points = self._metric_points(metrics)
            while points and not self._stopping.is_set():
                try:
                    self.sink.submit(points)
                    break
                except Overloaded as exc:
                    self._stopping.wait(min(max(exc.retry_after_s, 0.05), 2.0))
                except HandoffError as exc:
                    self._error(f"metrics: {exc}")
                    break
        # This tap's rates end at 0 (the panels add up the taps' newest): once, best effort.
        last = metrics.rates.stopped(time.time_ns())
        if last:
            with contextlib.suppress(HandoffError):
                self.sink.submit(last)
