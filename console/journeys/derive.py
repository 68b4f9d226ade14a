"""From a journey's records to its handoffs and its status. Pure: no SQL here.

Handoffs
    *async*: every send, seen as a hop (the tap) and/or a PRODUCER span (``messaging.operation``
    send/publish), is matched to the first unused consumer span on that destination (kind
    CONSUMER or operation process/receive): the same partition and offset when both are known,
    else the earliest one starting no more than ``SKEW_NS`` before the send. Sends to dead-letter
    topics are not handoffs (the dead letter is shown as such). A send no consumer span names
    still counts as taken (``followed``) when the journey's own later activity follows from it:
    a span that starts after the send and descends (through parents and links) from the span
    that sent it, or a later hop sent from such a span or from the same span (the message
    forwarded again, to a retry or dead-letter topic). A consumer that did not record the
    coordinates it took is how that happens.
    *sync*: a CLIENT span whose child is a SERVER span.

Status, decided in this order
    1. ``dead_lettered``: a dead letter with no replay in the ledger (the latest one names topic
       and reason).
    2. ``replayed``: its dead letters were replayed; ``after`` says what happened after the last
       replay, judged on the records from that replay on, with the rules 3-6 (or
       ``replay_pending`` / ``replay_failed`` from the ledger's state).
    3. ``stalled``: a send nobody has taken for longer than ``stall_after_s``; names the topic and
       the groups that should have taken it.
    4. ``in_flight``: a send nobody has taken yet, younger than the threshold.
    5. ``failed``: an error span not followed by a successful span of the same service and name
       (a retry that worked: for consumer spans, a later success of the same consumer group), and
       no dead letter. A journey whose last step completed is completed, however many retries
       it took.
    6. ``completed``: nothing of the above, i.e. every send was taken by a consumer and the last
       thing that ran ended without error. In the demo that is the last topic's consumer.

Why ~430 lines in one room: the two parts above, the handoffs (``derive_handoffs``) and the
status (``judge``), share the span and hop predicates and nothing else, so they are the seam to
split along (``handoffs.py``, ``status.py``). The split waits until issue 25's store seam, which
moves the journeys' reads, is merged, so that branch does not meet a moved file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import NamedTuple

from console.base.model import (
    SPAN_KIND_CLIENT,
    SPAN_KIND_CONSUMER,
    SPAN_KIND_PRODUCER,
    SPAN_KIND_SERVER,
    DeadLetter,
    Hop,
    ReplayEntry,
    Span,
    header_text,
    is_dlq_topic,
)
from console.journeys.types import Handoff

__all__ = ["SKEW_NS", "derive_handoffs", "hop_ns", "is_dlq_topic", "judge"]

SKEW_NS = 1_000_000_000  # clocks of producer, broker and consumer may disagree by this much
_PRODUCE_OPS = {"send", "publish", "create"}
_CONSUME_OPS = {"process", "receive", "deliver"}

GroupsFor = Callable[[str], Sequence[str]]


def hop_ns(hop: Hop) -> int:
    """When a message was sent: its create timestamp, else when the tap saw it."""
    return hop.timestamp_ms * 1_000_000 if hop.timestamp_ms > 0 else hop.seen_ns


def is_producer(span: Span) -> bool:
    return span.messaging_destination is not None and (
        span.kind == SPAN_KIND_PRODUCER or (span.messaging_operation or "") in _PRODUCE_OPS
    )


def is_consumer(span: Span) -> bool:
    return span.messaging_destination is not None and (
        span.kind == SPAN_KIND_CONSUMER or (span.messaging_operation or "") in _CONSUME_OPS
    )


def replay_id_of(hop: Hop) -> str | None:
    for name, value in reversed(hop.headers):
        if name == "x-replay-id" and value is not None:
            return header_text(value)
    return None


def _same_message(span: Span, topic: str, partition: int | None, offset: int | None) -> bool:
    return (
        span.messaging_destination == topic
        and offset is not None
        and span.messaging_offset == offset
        and (span.messaging_partition is None or span.messaging_partition == partition)
    )


class _Send(NamedTuple):
    """One message sent: by a producer span, seen by the tap, or replayed by the console."""

    sent_ns: int
    topic: str
    partition: int | None
    offset: int | None
    producer: Span | None
    replay_id: str | None
    origin: str | None  # the sending span's id


def derive_handoffs(
    spans: Sequence[Span],
    hops: Sequence[Hop],
    dead_letters: Sequence[DeadLetter],
    replays: Sequence[ReplayEntry] = (),
) -> list[Handoff]:
    """Async handoffs (one per message sent) and sync calls, ordered by send time."""
    dlq = {d.dlq_topic for d in dead_letters}
    producers = [
        s for s in spans if is_producer(s) and not is_dlq_topic(s.messaging_destination or "", dlq)
    ]
    consumers = sorted((s for s in spans if is_consumer(s)), key=lambda s: s.start_ns)
    used_producers: set[str] = set()
    sends: list[_Send] = []
    for hop in hops:
        if is_dlq_topic(hop.topic, dlq):
            continue
        t = hop_ns(hop)
        producer = _producer_for(hop, t, producers, used_producers)
        rid = replay_id_of(hop)
        if producer is not None:
            used_producers.add(producer.span_id)
            t = min(t, producer.start_ns)
        origin = producer.span_id if producer else hop.span_id
        sends.append(_Send(t, hop.topic, hop.partition, hop.offset, producer, rid, origin))
    for p in producers:
        if p.span_id not in used_producers:
            sends.append(
                _Send(
                    sent_ns=p.start_ns,
                    topic=p.messaging_destination or "",
                    partition=p.messaging_partition,
                    offset=p.messaging_offset,
                    producer=p,
                    replay_id=None,
                    origin=p.span_id,
                )
            )
    # A replay the tap has not seen yet is still a send, made by the console.
    seen_replays = {s.replay_id for s in sends if s.replay_id}
    for r in replays:
        if (
            r.state == "acked"
            and r.replay_id not in seen_replays
            and not any(
                (s.topic, s.partition, s.offset)
                == (r.target_topic, r.target_partition, r.target_offset)
                for s in sends
            )
        ):
            sends.append(
                _Send(
                    sent_ns=r.acked_ns or r.created_ns,
                    topic=r.target_topic,
                    partition=r.target_partition,
                    offset=r.target_offset,
                    producer=None,
                    replay_id=r.replay_id,
                    origin=None,
                )
            )
    sends.sort(key=lambda s: s.sent_ns)
    follows = _Descent(spans, hops)
    used: set[str] = set()
    out: list[Handoff] = []
    for t, topic, partition, offset, producer, rid, origin in sends:
        consumer = _consumer_for(topic, partition, offset, t, consumers, used)
        from_service = producer.service if producer else ("replay" if rid else None)
        h = Handoff(
            kind="async",
            sent_ns=t,
            from_service=from_service,
            from_span_id=producer.span_id if producer else None,
            topic=topic,
            partition=partition,
            offset=offset,
            replay_id=rid,
        )
        if consumer is not None:
            used.add(consumer.span_id)
            h = replace(
                h,
                to_service=consumer.service,
                to_span_id=consumer.span_id,
                received_ns=consumer.start_ns,
                gap_ms=round((consumer.start_ns - t) / 1e6, 3),
                consumer_group=consumer.messaging_consumer_group,
            )
        elif follows.after(origin, t, (topic, partition, offset)):
            h = replace(h, followed=True)
        out.append(h)
    out.extend(_sync_calls(spans))
    out.sort(key=lambda h: h.sent_ns)
    return out


class _Descent:
    """Which records descend from a span, through parents and links, within one journey."""

    def __init__(self, spans: Sequence[Span], hops: Sequence[Hop]) -> None:
        self.up: dict[str, list[str]] = {}
        for s in spans:
            ups = [lk.span_id for lk in s.links]
            if s.parent_span_id:
                ups.append(s.parent_span_id)
            self.up[s.span_id] = ups
        self.spans = spans
        self.hops = hops

    def _descends(self, span_id: str, origin: str) -> bool:
        seen: set[str] = set()
        todo = [span_id]
        while todo:
            sid = todo.pop()
            if sid == origin:
                return True
            if sid in seen:
                continue
            seen.add(sid)
            todo.extend(self.up.get(sid, ()))
        return False

    def after(
        self, origin: str | None, t: int, coordinates: tuple[str, int | None, int | None]
    ) -> bool:
        """Is there activity later than ``t`` that follows from the span ``origin``?"""
        if not origin:
            return False
        for s in self.spans:
            # a hop's time is in milliseconds: the span that sent it may start within that one
            if (
                s.start_ns > t + 1_000_000
                and s.span_id != origin
                and self._descends(s.span_id, origin)
            ):
                return True
        for h in self.hops:
            if (h.topic, h.partition, h.offset) == coordinates or not h.span_id:
                continue
            if hop_ns(h) > t and (h.span_id == origin or self._descends(h.span_id, origin)):
                return True
        return False


def _producer_for(hop: Hop, t: int, producers: Sequence[Span], used: set[str]) -> Span | None:
    best: Span | None = None
    for p in producers:
        if p.span_id in used or p.messaging_destination != hop.topic:
            continue
        if hop.span_id == p.span_id or _same_message(p, hop.topic, hop.partition, hop.offset):
            return p
        if p.messaging_offset is None and hop.trace_id == p.trace_id and p.start_ns <= t + SKEW_NS:
            best = best or p
    return best


def _consumer_for(
    topic: str,
    partition: int | None,
    offset: int | None,
    t: int,
    consumers: Sequence[Span],
    used: set[str],
) -> Span | None:
    for c in consumers:
        if c.span_id not in used and _same_message(c, topic, partition, offset):
            return c
    for c in consumers:
        if (
            c.span_id not in used
            and c.messaging_destination == topic
            and c.start_ns >= t - SKEW_NS
            and (c.messaging_offset is None or offset is None)
        ):
            return c
    return None


def _sync_calls(spans: Sequence[Span]) -> list[Handoff]:
    clients = {(s.trace_id, s.span_id): s for s in spans if s.kind == SPAN_KIND_CLIENT}
    out = []
    for s in spans:
        if s.kind != SPAN_KIND_SERVER or s.parent_span_id is None:
            continue
        c = clients.get((s.trace_id, s.parent_span_id))
        if c is None:
            continue
        out.append(
            Handoff(
                kind="sync",
                sent_ns=c.start_ns,
                from_service=c.service,
                from_span_id=c.span_id,
                to_service=s.service,
                to_span_id=s.span_id,
                received_ns=s.start_ns,
                gap_ms=round((s.start_ns - c.start_ns) / 1e6, 3),
                operation=s.name,
            )
        )
    return out


def _reason(d: DeadLetter) -> str:
    parts = [p for p in (d.exception_class, d.exception_message) if p]
    return ": ".join(parts) if parts else "no reason in headers"


def _step(span: Span) -> tuple[str, str]:
    """What a retry repeats: a consumer group's processing (whichever topic, the retry topic
    included, it took the message from), else the span's name."""
    if is_consumer(span) and span.messaging_consumer_group:
        return (span.service, "group " + span.messaging_consumer_group)
    return (span.service, span.name)


def _unrecovered_errors(spans: Sequence[Span]) -> list[Span]:
    """Error spans not followed by a successful span of the same step (a retry that worked)."""
    last_ok: dict[tuple[str, str], int] = {}
    for s in spans:
        if not s.is_error:
            key = _step(s)
            last_ok[key] = max(last_ok.get(key, s.start_ns), s.start_ns)
    return [e for e in spans if e.is_error and last_ok.get(_step(e), -1) <= e.start_ns]


def judge(
    spans: Sequence[Span],
    handoffs: Sequence[Handoff],
    dead_letters: Sequence[DeadLetter],
    replays: Sequence[ReplayEntry],
    *,
    now_ns: int,
    stall_after_s: float,
    groups_for: GroupsFor,
) -> tuple[str, str, str, tuple[str, ...], str | None, str | None]:
    """(status, where, detail, groups, reason, after) for a journey's records."""
    reason: str | None  # the dead letter's reason, or the flow's
    replayed = {(r.dlq_topic, r.partition, r.offset) for r in replays}
    unreplayed = [d for d in dead_letters if (d.dlq_topic, d.partition, d.offset) not in replayed]
    if unreplayed:
        d = max(unreplayed, key=lambda d: (d.timestamp_ms, d.first_seen_ns))
        reason = _reason(d)
        src = f" from {d.original_topic}" if d.original_topic else ""
        return (
            "dead_lettered",
            d.dlq_topic,
            f"dead-lettered on {d.dlq_topic}{src}: {reason}",
            (),
            reason,
            None,
        )
    if replays:
        last = max(replays, key=lambda r: r.created_ns)
        if last.state == "pending":
            return (
                "replayed",
                last.target_topic,
                f"replay {last.replay_id} to {last.target_topic} not acknowledged yet",
                (),
                None,
                "replay_pending",
            )
        if last.state == "failed":
            return (
                "replayed",
                last.target_topic,
                f"replay {last.replay_id} to {last.target_topic} failed: "
                f"{last.error or 'unknown error'}",
                (),
                last.error,
                "replay_failed",
            )
        since = last.created_ns - SKEW_NS
        later_spans = [s for s in spans if s.start_ns >= since]
        later_handoffs = [h for h in handoffs if h.sent_ns >= since]
        status, where, detail, groups, reason = _judge_flow(
            later_spans, later_handoffs, now_ns, stall_after_s, groups_for
        )
        return (
            "replayed",
            where,
            f"replayed to {last.target_topic}, then {status}: {detail}",
            groups,
            reason,
            status,
        )
    status, where, detail, groups, reason = _judge_flow(
        spans, handoffs, now_ns, stall_after_s, groups_for
    )
    return (status, where, detail, groups, reason, None)


def _judge_flow(
    spans: Sequence[Span],
    handoffs: Sequence[Handoff],
    now_ns: int,
    stall_after_s: float,
    groups_for: GroupsFor,
) -> tuple[str, str, str, tuple[str, ...], str | None]:
    pending = [h for h in handoffs if h.kind == "async" and not h.taken]
    limit = int(stall_after_s * 1e9)
    stalled = [h for h in pending if now_ns - h.sent_ns > limit]
    if stalled:
        h = stalled[0]
        topic = h.topic or "?"
        groups = tuple(groups_for(topic))
        waited = (now_ns - h.sent_ns) / 1e9
        who = f"group {', '.join(groups)}" if groups else "no known consumer group"
        return (
            "stalled",
            topic,
            f"stalled on {topic}: not taken by {who} for {waited:.0f}s",
            groups,
            None,
        )
    if pending:
        h = pending[0]
        return ("in_flight", h.topic or "?", f"sent to {h.topic}, waiting for a consumer", (), None)
    errors = _unrecovered_errors(spans)
    if errors:
        e = errors[-1]
        reason = e.status_message or e.name
        return ("failed", e.service, f"failed in {e.service} ({e.name}): {reason}", (), reason)
    last = max(spans, key=lambda s: s.end_ns, default=None)
    where = last.service if last else (handoffs[-1].to_service or "?" if handoffs else "?")
    return ("completed", where, f"completed in {where}", (), None)
