"""The journey's records: frozen dataclasses the CLI and the TUI present.

Times are nanoseconds since the epoch; gaps and durations are milliseconds (float). Their JSON
shapes are written in ``console/journeys/export.py``, which imports this module (never the other
way round).
"""

from __future__ import annotations

from dataclasses import dataclass

from console.base.model import DeadLetter, Hop, LogRecord, ReplayEntry, Span

__all__ = ["STATUSES", "Handoff", "Journey", "JourneySummary"]

#: Every status a journey can have, in the order an operator cares about them.
STATUSES = ("stalled", "dead_lettered", "failed", "in_flight", "replayed", "completed")


@dataclass(frozen=True, slots=True)
class Handoff:
    """One hand from a sender to a receiver.

    ``kind`` is ``async`` (a Kafka send, seen as a PRODUCER span and/or a hop, to the consumer's
    process span) or ``sync`` (a CLIENT span to its SERVER child). ``to_*`` fields are None and
    ``gap_ms`` is None while nobody has taken the message (``delivered`` False).
    ``followed`` is True when no consumer span names the message but the journey's own later
    activity follows from it (a span or a hop descending from the send): the message was taken
    by a consumer that did not say so. ``taken`` is either.
    """

    kind: str
    sent_ns: int
    from_service: str | None
    from_span_id: str | None
    to_service: str | None = None
    to_span_id: str | None = None
    received_ns: int | None = None
    gap_ms: float | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    consumer_group: str | None = None
    replay_id: str | None = None
    operation: str | None = None  # the server span's name for a sync call
    followed: bool = False

    @property
    def delivered(self) -> bool:
        return self.to_span_id is not None

    @property
    def taken(self) -> bool:
        return self.to_span_id is not None or self.followed


@dataclass(frozen=True, slots=True)
class Journey:
    """Everything known about one piece of work, ordered in time.

    ``status`` is one of ``STATUSES``; ``where`` names the service or topic where it stands;
    ``detail`` says it in one line for a person. ``groups`` are the consumer groups that should
    take a stalled message; ``reason`` is the dead letter's or the error's message; ``after`` is,
    for a ``replayed`` journey, what happened after the last replay (``completed``, ``in_flight``,
    ``stalled``, ``failed``, ``replay_pending`` or ``replay_failed``).
    """

    correlation_id: str | None
    status: str
    where: str
    detail: str
    trace_ids: tuple[str, ...]
    spans: tuple[Span, ...]
    hops: tuple[Hop, ...]
    dead_letters: tuple[DeadLetter, ...]
    replays: tuple[ReplayEntry, ...]
    handoffs: tuple[Handoff, ...]
    started_ns: int
    ended_ns: int
    groups: tuple[str, ...] = ()
    reason: str | None = None
    after: str | None = None
    logs: tuple[LogRecord, ...] = ()  # log records carrying its trace ids or correlation id

    @property
    def duration_ms(self) -> float:
        return max(0, self.ended_ns - self.started_ns) / 1e6

    def span_logs(self, span_id: str) -> list[LogRecord]:
        """The log records a span wrote (their ``span_id`` names it), oldest first."""
        return [r for r in self.logs if r.span_id == span_id]

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.service for s in self.spans))

    def summary(self) -> JourneySummary:
        return JourneySummary(
            correlation_id=self.correlation_id,
            status=self.status,
            where=self.where,
            detail=self.detail,
            started_ns=self.started_ns,
            ended_ns=self.ended_ns,
            services=self.services,
            trace_count=len(self.trace_ids),
        )


@dataclass(frozen=True, slots=True)
class JourneySummary:
    """One line of ``journeys``: enough to pick the broken one."""

    correlation_id: str | None
    status: str
    where: str
    detail: str
    started_ns: int
    ended_ns: int
    services: tuple[str, ...]
    trace_count: int

    @property
    def duration_ms(self) -> float:
        return max(0, self.ended_ns - self.started_ns) / 1e6
