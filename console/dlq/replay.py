"""Replaying dead letters to Kafka, exactly once, with a ledger that survives ``kill -9``.

The sequence for every message:

0. ``check_target`` (``probe_target`` and ``check_cluster`` from ``console/dlq/target.py``): the
   target cluster answers and is the one the dead letters came from, else nothing below happens.
1. ``plan_replay`` decides what to send: target (``--to`` or the original topic), payload (the
   latest fix, else the original), headers (business headers kept, DLQ exception headers dropped,
   ``x-replay-id`` / ``x-replay-count`` / ``x-replayed-from`` added) or why it is refused.
2. ``Replayer.run`` writes a ``pending`` ledger line (committed) *before* producing, produces with
   an idempotent producer, and marks the line ``acked`` with the target partition and offset only
   in the broker's delivery callback; the dead letter becomes ``replayed`` and an audit entry is
   written in the same transaction.
3. ``reconcile`` runs first on every start: ``pending`` (or ``failed``) lines left by an
   interrupted run are looked up in their target topic by ``x-replay-id`` (from the time the line
   was written, via ``offsets_for_times``, else from the low watermark). Found: acked. Not found:
   they stay pending, and the next plan produces them again with the same replay id.

``x-replay-id`` is deterministic: SHA-256 of the DLQ coordinates, the payload's hash and the
replay count (1 for the first replay, so a forced second replay gets its own id).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from console.base.model import payload_sha256
from console.dlq.audit import os_user
from console.dlq.cluster import DlqCluster, DlqProducer, ProduceRefused
from console.dlq.ledger import (
    Ack,
    AckWriter,
    PendingLine,
    ReconcileReport,
    ReplayError,
    reconcile,
    record_failure,
    replay_lock,
)
from console.dlq.plan import (
    DROPPED_HEADER_PREFIXES,
    REPLAY_COUNT,
    REPLAY_ID,
    REPLAYED_FROM,
    Refusal,
    ReplayItem,
    ReplayPlan,
    check_target,
    fetch_full_payloads,
    pending_dead_letters,
    plan_replay,
    prepare_replay,
    replay_headers,
    replay_id,
)
from console.store.deadletters_api import DeadLetters

# One import for callers: planning and ledger names are re-exported here.
__all__ = [
    "DROPPED_HEADER_PREFIXES",
    "REPLAYED_FROM",
    "REPLAY_COUNT",
    "REPLAY_ID",
    "ReconcileReport",
    "Refusal",
    "ReplayError",
    "ReplayItem",
    "ReplayPlan",
    "ReplayReport",
    "Replayer",
    "check_target",
    "fetch_full_payloads",
    "pending_dead_letters",
    "plan_replay",
    "prepare_replay",
    "reconcile",
    "replay_headers",
    "replay_id",
    "replay_lock",
]


@dataclass
class ReplayReport:
    acked: int = 0
    failed: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # coordinates -> error
    elapsed_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.acked / self.elapsed_s if self.elapsed_s > 0 else 0.0


ProgressFn = Callable[[int, int], None]


class Replayer:
    """Sends a plan's items through one idempotent producer, ledger first, acks from the broker.

    ``rate`` caps messages per second; ``progress(done, total)`` is called from the calling
    thread as acks are recorded.
    """

    def __init__(
        self,
        store: DeadLetters,
        cluster: DlqCluster,
        *,
        rate: float | None = None,
        user: str | None = None,
        chunk: int = 2000,
        flush_timeout: float = 60.0,
        progress: ProgressFn | None = None,
    ) -> None:
        self.store = store
        self.cluster = cluster
        self.rate = rate if rate and rate > 0 else None
        self.user = user or os_user()
        self.chunk = max(1, min(chunk, int(self.rate) if self.rate else chunk))
        self.flush_timeout = flush_timeout
        self.progress = progress
        self._acks: list[Ack] = []
        self._report = ReplayReport()
        self._lock = threading.Lock()

    def _producer(self) -> DlqProducer:
        try:
            return self.cluster.producer()
        except ProduceRefused as exc:
            raise ReplayError(str(exc)) from exc

    def run(self, items: Sequence[ReplayItem]) -> ReplayReport:
        report = self._report
        started = time.monotonic()
        if not items:
            return report
        producer = self._producer()
        total = len(items)
        originals = {it.replay_id: payload_sha256(it.dead_letter.payload) for it in items}
        writer = AckWriter(self.store, self.user, originals)
        self._lock = writer.lock
        try:
            self._send_all(producer, items, writer, started)
            remaining = producer.flush(self.flush_timeout)
            writer.put(self._take_acks())
        finally:
            writer.close()
        report.acked = writer.recorded
        self._progress(writer, total)
        if remaining:
            report.errors["*"] = f"{remaining} message(s) not acknowledged in {self.flush_timeout}s"
        report.elapsed_s = time.monotonic() - started
        return report

    def _send_all(
        self, producer: DlqProducer, items: Sequence[ReplayItem], writer: AckWriter, started: float
    ) -> None:
        total = len(items)
        sent = 0
        last = time.monotonic()
        for start in range(0, total, self.chunk):
            batch = items[start : start + self.chunk]
            now = time.time_ns()
            with writer.lock:
                self.store.write_pending(
                    [
                        PendingLine(
                            it.replay_id,
                            it.dead_letter.dlq_topic,
                            it.dead_letter.partition,
                            it.dead_letter.offset,
                            it.target_topic,
                            it.payload_sha256,
                            it.replay_count,
                            now,
                            self.user,
                            it.dead_letter.cluster_id,
                        )
                        for it in batch
                    ],
                )
            for it in batch:
                if self.rate:
                    self._wait_for_rate(producer, started, sent)
                self._produce(producer, it)
                sent += 1
                if self.rate or sent % 256 == 0:
                    producer.poll(0)
                    if time.monotonic() - last > 0.1:
                        writer.put(self._take_acks())
                        self._progress(writer, total)
                        last = time.monotonic()

    def _take_acks(self) -> list[Ack]:
        acks, self._acks = self._acks, []
        return acks

    def _progress(self, writer: AckWriter, total: int) -> None:
        if self.progress:
            self.progress(writer.recorded + self._report.failed, total)

    def _wait_for_rate(self, producer: DlqProducer, started: float, sent: int) -> None:
        assert self.rate is not None
        due = started + sent / self.rate
        while (wait := due - time.monotonic()) > 0:
            producer.poll(min(wait, 0.05))

    def _produce(self, producer: DlqProducer, it: ReplayItem) -> None:
        d = it.dead_letter

        def delivered(error: str | None, where: tuple[str, int, int] | None) -> None:
            if error is None and where is not None:
                self._acks.append(
                    Ack(
                        it.replay_id,
                        (d.dlq_topic, d.partition, d.offset),
                        *where,
                        it.payload_sha256,
                        it.replay_count,
                        d.cluster_id,
                    )
                )
            else:
                self._fail(it, error or "no delivery report")

        while True:
            try:
                producer.produce(
                    it.target_topic,
                    value=it.payload,
                    key=d.key,
                    headers=it.headers,
                    partition=it.target_partition,
                    on_delivery=delivered,
                )
                return
            except BufferError:
                producer.poll(0.05)
            except ProduceRefused as exc:
                self._fail(it, str(exc))
                return

    def _fail(self, it: ReplayItem, error: str) -> None:
        self._report.failed += 1
        self._report.errors[it.coordinates] = error
        with self._lock:
            record_failure(
                self.store,
                it.replay_id,
                it.coordinates,
                it.target_topic,
                error,
                payload_sha256(it.dead_letter.payload),
                it.payload_sha256,
                self.user,
            )
