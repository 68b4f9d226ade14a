"""A simple model of what the store promises, for the stateful test (``test_store_machine.py``).

The model knows every record acknowledged (its ticket committed), by an identity of its own kept
apart from the store's ``identity.py`` (so the two can disagree, and the test says so):

* a span is (trace id, span id), a hop (cluster, topic, partition, offset), a dead letter its
  DLQ coordinate: a resend of the same id is the same record;
* a log record is every field a sender sets, a metric point its series, times and value: two
  that differ in one field are two records.

Each record is filed under the batch that first stored it; ``epochs[k]`` is a time taken after
batch ``k`` was acknowledged and before batch ``k + 1`` was submitted, so retention's rule (by
arrival) is exact: what batch ``k`` stored arrived before ``epochs[k]``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from console.base.model import DeadLetter, Hop, LogRecord, MetricPoint, Record, Span

__all__ = ["KINDS", "Model", "ident", "trace_of"]

KINDS = ("spans", "hops", "logs", "metrics", "dead")


def trace_of(cid: str) -> str:
    """Every record of one correlation id carries one trace id: a journey is exactly its own."""
    return hashlib.md5(cid.encode()).hexdigest()


def _attrs(a: dict[str, Any]) -> str:
    return json.dumps(a, sort_keys=True)


def ident(r: Record) -> tuple[str, tuple[Any, ...]]:
    """(kind, identity) of a record, as the model counts them."""
    if isinstance(r, Span):
        return "spans", (r.trace_id, r.span_id)
    if isinstance(r, Hop):
        return "hops", (r.cluster_id, r.topic, r.partition, r.offset)
    if isinstance(r, LogRecord):
        return "logs", (
            r.time_ns,
            r.service,
            r.severity_number,
            r.severity_text,
            r.body,
            r.trace_id,
            r.span_id,
            r.correlation_id,
            _attrs(r.attributes),
        )
    if isinstance(r, MetricPoint):
        return "metrics", (r.service, r.name, r.time_ns, _attrs(r.attributes), r.value)
    if isinstance(r, DeadLetter):
        return "dead", (r.dlq_topic, r.partition, r.offset)
    raise TypeError(type(r).__name__)


@dataclass
class Model:
    # kind -> identity -> (record, batch that stored it)
    held: dict[str, dict[tuple[Any, ...], tuple[Record, int]]] = field(
        default_factory=lambda: {k: {} for k in KINDS}
    )
    epochs: list[int] = field(default_factory=list)
    # What a follower must have seen, each once: every record ever stored (a record retention
    # removed and a sender resent is stored, and followed, again).
    followed: dict[str, Counter[tuple[Any, ...]]] = field(
        default_factory=lambda: {k: Counter() for k in KINDS}
    )

    def acknowledged(self, records: Sequence[Record]) -> None:
        """A batch whose ticket committed: its records are held from now on."""
        batch = len(self.epochs)
        for r in records:
            kind, key = ident(r)
            if key not in self.held[kind]:
                self.held[kind][key] = (r, batch)
                self.followed[kind][_followed(r, key)] += 1
        self.epochs.append(_after(self.epochs[-1] if self.epochs else 0))

    def keys(self, kind: str, cid: str | None = None) -> set[tuple[Any, ...]]:
        return {
            k
            for k, (r, _) in self.held[kind].items()
            if cid is None or getattr(r, "correlation_id", None) == cid
        }

    def cids(self) -> set[str]:
        return {
            r.correlation_id  # type: ignore[union-attr]  # spans and hops carry one
            for kind in ("spans", "hops")
            for r, _ in self.held[kind].values()
            if r.correlation_id  # type: ignore[union-attr]  # as above
        }

    def batch_of(self, kind: str, key: tuple[Any, ...]) -> int:
        return self.held[kind][key][1]

    def forget(self, kind: str, keys: set[tuple[Any, ...]]) -> None:
        for k in keys:
            del self.held[kind][k]


def _followed(r: Record, key: tuple[Any, ...]) -> tuple[Any, ...]:
    """What a follower shows of a record to tell it apart: the tail shows a span's trace and
    start (a resend has the same start), a hop's coordinate; a log follower the whole record."""
    if isinstance(r, Span):
        return (r.trace_id, r.start_ns)
    if isinstance(r, Hop):
        return (r.topic, r.partition, r.offset)
    return key


def _after(t: int) -> int:
    """A clock reading strictly after ``t`` (and after every commit so far)."""
    now = time.time_ns()
    while now <= t:
        now = time.time_ns()
    return now
