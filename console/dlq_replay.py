"""Replaying dead letters to Kafka, exactly once, with a ledger that survives ``kill -9``.

The sequence for every message:

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

import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from console.dlq import dead_letters_from_cursor, os_user
from console.dlq_ledger import (
    REPLAY_ID,
    Ack,
    AckWriter,
    ReconcileReport,
    ReplayError,
    reconcile,
    record_failure,
    write_pending,
)
from console.model import DeadLetter, Header, payload_sha256

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
    "pending_dead_letters",
    "plan_replay",
    "prepare_replay",
    "reconcile",
    "replay_headers",
    "replay_id",
]

REPLAY_COUNT = "x-replay-count"
REPLAYED_FROM = "x-replayed-from"
DROPPED_HEADER_PREFIXES = ("kafka_dlt-", "__connect.errors.")
_REPLAY_HEADERS = (REPLAY_ID, REPLAY_COUNT, REPLAYED_FROM)


def replay_id(coordinates: str, payload_hash: str | None, count: int) -> str:
    """The deterministic replay id: coordinates + payload hash + replay count."""
    text = f"{coordinates}|{payload_hash or 'tombstone'}|{count}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def replay_headers(d: DeadLetter, rid: str, count: int) -> tuple[Header, ...]:
    """``d``'s headers without the DLQ ones, plus the replay headers."""
    kept = [
        (name, value)
        for name, value in d.headers
        if not name.startswith(DROPPED_HEADER_PREFIXES) and name not in _REPLAY_HEADERS
    ]
    kept += [
        (REPLAY_ID, rid.encode()),
        (REPLAY_COUNT, str(count).encode()),
        (REPLAYED_FROM, d.coordinates.encode()),
    ]
    return tuple(kept)


@dataclass(frozen=True, slots=True)
class ReplayItem:
    """One message to send."""

    dead_letter: DeadLetter
    target_topic: str
    payload: bytes | None
    payload_version: int  # 0: the original, n: fix vn
    payload_sha256: str
    replay_id: str
    replay_count: int
    headers: tuple[Header, ...]
    resumed: bool = False  # a pending line of an interrupted run, produced again

    @property
    def coordinates(self) -> str:
        return self.dead_letter.coordinates

    def as_dict(self) -> dict[str, Any]:
        from console.model import header_text

        return {
            "coordinates": self.coordinates,
            "target_topic": self.target_topic,
            "replay_id": self.replay_id,
            "replay_count": self.replay_count,
            "payload_version": self.payload_version,
            "payload_sha256": self.payload_sha256,
            "headers": [[n, header_text(v)] for n, v in self.headers],
            "resumed": self.resumed,
        }


@dataclass(frozen=True, slots=True)
class Refusal:
    coordinates: str
    reason: str


@dataclass
class ReplayPlan:
    items: list[ReplayItem] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


def _ledger_by_coords(
    conn: sqlite3.Connection,
) -> dict[tuple[str, int, int], list[tuple[Any, ...]]]:
    out: dict[tuple[str, int, int], list[tuple[Any, ...]]] = {}
    cur = conn.execute(
        "SELECT dlq_topic, partition, offset, replay_id, state, replay_count, target_topic, "
        "payload_sha256, target_partition, target_offset FROM replay_ledger"
    )
    cur.row_factory = None  # type: ignore[assignment]
    for t, p, o, *rest in cur:
        out.setdefault((t, p, o), []).append(tuple(rest))
    return out


def _latest_fixes(conn: sqlite3.Connection) -> dict[tuple[str, int, int], tuple[int, bytes]]:
    cur = conn.execute(
        "SELECT dlq_topic, partition, offset, version, payload FROM fixed_payloads ORDER BY version"
    )
    cur.row_factory = None  # type: ignore[assignment]
    return {(t, p, o): (v, payload) for t, p, o, v, payload in cur}


def pending_dead_letters(conn: sqlite3.Connection) -> list[DeadLetter]:
    """Dead letters with a pending or failed ledger line (an interrupted or failed replay)."""
    from console.rows import DEAD_LETTER_COLUMNS

    cur = conn.execute(
        f"SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters d WHERE EXISTS (SELECT 1 FROM "
        "replay_ledger l WHERE l.dlq_topic = d.dlq_topic AND l.partition = d.partition "
        "AND l.offset = d.offset AND l.state IN ('pending', 'failed'))"
    )
    return dead_letters_from_cursor(cur)


def plan_replay(
    conn: sqlite3.Connection,
    targets: Iterable[DeadLetter],
    *,
    to: str | None = None,
    force: bool = False,
) -> ReplayPlan:
    """What a replay of ``targets`` would send, and what it refuses and why."""
    ledger = _ledger_by_coords(conn)
    fixes = _latest_fixes(conn)
    plan = ReplayPlan()
    seen: set[tuple[str, int, int]] = set()
    for d in targets:
        key = (d.dlq_topic, d.partition, d.offset)
        if key in seen:
            continue
        seen.add(key)
        lines = ledger.get(key, [])
        version, payload = fixes.get(key, (0, d.payload))
        if version == 0 and d.payload_truncated:
            plan.refused.append(
                Refusal(
                    d.coordinates,
                    f"only {len(d.payload or b'')} of {d.payload_size} payload bytes are in the "
                    "store; store a fix (dlq fix --payload-file) to replay it",
                )
            )
            continue
        sha = payload_sha256(payload) or ""
        open_lines = [ln for ln in lines if ln[1] in ("pending", "failed")]
        resumable = [ln for ln in open_lines if ln[4] == sha and (to is None or ln[3] == to)]
        if resumable:
            rid, count, target = resumable[-1][0], resumable[-1][2], resumable[-1][3]
            plan.items.append(
                ReplayItem(
                    d,
                    target,
                    payload,
                    version,
                    sha,
                    rid,
                    count,
                    replay_headers(d, rid, count),
                    True,
                )
            )
            continue
        acked = [ln for ln in lines if ln[1] == "acked"]
        if acked and not force:
            a = acked[-1]
            plan.refused.append(
                Refusal(
                    d.coordinates,
                    f"already replayed to {a[3]}:{a[5]}:{a[6]} (x-replay-id {a[0]}); "
                    "--force replays it again",
                )
            )
            continue
        if d.status == "discarded" and not force:
            plan.refused.append(Refusal(d.coordinates, "discarded; --force replays it anyway"))
            continue
        target = to or d.original_topic
        if not target:
            plan.refused.append(
                Refusal(d.coordinates, "its original topic is unknown; pass --to TOPIC")
            )
            continue
        count = max(ln[2] for ln in lines) + 1 if lines else 1
        rid = replay_id(d.coordinates, sha, count)
        plan.items.append(
            ReplayItem(d, target, payload, version, sha, rid, count, replay_headers(d, rid, count))
        )
    return plan


def prepare_replay(
    conn: sqlite3.Connection,
    conf: dict[str, str] | None,
    targets: Iterable[DeadLetter],
    *,
    to: str | None = None,
    force: bool = False,
) -> tuple[ReconcileReport, ReplayPlan]:
    """Reconcile (skipped when ``conf`` is None: a dry run), then plan ``targets`` plus every
    dead letter an interrupted run left open. Send the plan with ``Replayer(...).run(plan.items)``.
    """
    rec = reconcile(conn, conf) if conf is not None else ReconcileReport()
    plan = plan_replay(conn, [*pending_dead_letters(conn), *targets], to=to, force=force)
    return rec, plan


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
        conn: sqlite3.Connection,
        conf: dict[str, str],
        *,
        rate: float | None = None,
        user: str | None = None,
        chunk: int = 2000,
        flush_timeout: float = 60.0,
        progress: ProgressFn | None = None,
    ) -> None:
        self.conn = conn
        self.conf = dict(conf)
        self.rate = rate if rate and rate > 0 else None
        self.user = user or os_user()
        self.chunk = max(1, min(chunk, int(self.rate) if self.rate else chunk))
        self.flush_timeout = flush_timeout
        self.progress = progress
        self._acks: list[Ack] = []
        self._report = ReplayReport()
        self._lock = threading.Lock()

    def _producer(self) -> Producer:
        conf: dict[str, Any] = {"linger.ms": 5, **self.conf}
        conf.update({"enable.idempotence": True, "acks": "all"})
        try:
            return Producer(conf)
        except KafkaException as exc:
            raise ReplayError(f"cannot create the Kafka producer: {exc}") from exc

    def run(self, items: Sequence[ReplayItem]) -> ReplayReport:
        report = self._report
        started = time.monotonic()
        if not items:
            return report
        producer = self._producer()
        total = len(items)
        originals = {it.replay_id: payload_sha256(it.dead_letter.payload) for it in items}
        writer = AckWriter(self.conn, self.user, originals)
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
        self, producer: Producer, items: Sequence[ReplayItem], writer: AckWriter, started: float
    ) -> None:
        total = len(items)
        sent = 0
        last = time.monotonic()
        for start in range(0, total, self.chunk):
            batch = items[start : start + self.chunk]
            now = time.time_ns()
            with writer.lock:
                write_pending(
                    self.conn,
                    [
                        (
                            it.replay_id,
                            it.dead_letter.dlq_topic,
                            it.dead_letter.partition,
                            it.dead_letter.offset,
                            it.target_topic,
                            it.payload_sha256,
                            it.replay_count,
                            now,
                            self.user,
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

    def _wait_for_rate(self, producer: Producer, started: float, sent: int) -> None:
        assert self.rate is not None
        due = started + sent / self.rate
        while (wait := due - time.monotonic()) > 0:
            producer.poll(min(wait, 0.05))

    def _produce(self, producer: Producer, it: ReplayItem) -> None:
        d = it.dead_letter

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is None:
                self._acks.append(
                    Ack(
                        it.replay_id,
                        (d.dlq_topic, d.partition, d.offset),
                        msg.topic(),
                        msg.partition(),
                        msg.offset(),
                        it.payload_sha256,
                        it.replay_count,
                    )
                )
            else:
                self._fail(it, err.str())

        while True:
            try:
                producer.produce(
                    it.target_topic,
                    value=it.payload,
                    key=d.key,
                    headers=list(it.headers),
                    on_delivery=delivered,
                )
                return
            except BufferError:
                producer.poll(0.05)
            except KafkaException as exc:
                self._fail(it, str(exc))
                return

    def _fail(self, it: ReplayItem, error: str) -> None:
        self._report.failed += 1
        self._report.errors[it.coordinates] = error
        with self._lock:
            record_failure(
                self.conn,
                it.replay_id,
                it.coordinates,
                it.target_topic,
                error,
                payload_sha256(it.dead_letter.payload),
                it.payload_sha256,
                self.user,
            )
