"""``journey()``: gather a journey's records from the store through its key index.

Starting from a correlation id, a trace id or a Kafka coordinate, it grows two sets until they
stop growing (at most ``_MAX_ROUNDS`` rounds, ``_MAX_TRACES`` traces): correlation ids and trace
ids. Spans, hops and log records come out of the blocks the key index names for those ids
(log records once the two sets stop growing: a log adds no ids), all through the store's
``JourneyLookup`` (``console/store/api.py``); links both ways through the spans' own links and
the link-target keys; dead letters by their correlation and trace ids; replays by coordinates.
In the SQLite store every lookup is an index probe per key segment, so the cost follows the
journey's size, not the store's.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any

from console.base.coordinates import parse_coordinates
from console.base.errors import InputError
from console.base.model import DeadLetter, Hop, LogRecord, ReplayEntry, Span
from console.journeys.derive import derive_handoffs, hop_ns, judge
from console.journeys.types import Journey
from console.store.api import JourneyLookup, Storage, StoreReader, reading
from console.store.identity import hop_identity, span_identity

__all__ = ["consumer_groups", "journey", "journeys_by_key"]

_MAX_ROUNDS = 6
_MAX_TRACES = 500


def consumer_groups(store: JourneyLookup, topic: str) -> list[str]:
    """Groups known to consume ``topic`` (summarised at ingest, and the tap's lag series)."""
    return store.consumer_groups(topic)


class _Gather:
    def __init__(self, store: JourneyLookup) -> None:
        self.store = store
        self.cids: set[str] = set()
        self.traces: set[str] = set()
        # One record per identity (console/store/identity.py), as every reader keeps them: two
        # clusters' hops at the same coordinates are two hops.
        self.spans: dict[tuple[Any, ...], Span] = {}
        self.hops: dict[tuple[Any, ...], Hop] = {}
        # Keyed by coordinates and cluster: two clusters' dead letters may share coordinates.
        self.dls: dict[tuple[str, int, int, str], DeadLetter] = {}
        self._cids_done: set[str] = set()
        self._traces_done: set[str] = set()

    def seed_message(self, topic: str, partition: int, offset: int) -> None:
        for hop in self.store.hops_at(topic, partition, offset):
            self._add_hop(hop)
        for d in self.store.dead_letters_at(topic, partition, offset):
            self._add_dl(d)

    def _add_hop(self, h: Hop) -> None:
        self.hops[hop_identity(h)] = h
        if h.correlation_id:
            self.cids.add(h.correlation_id)
        if h.trace_id:
            self.traces.add(h.trace_id)

    def _add_dl(self, d: DeadLetter) -> None:
        self.dls[(d.dlq_topic, d.partition, d.offset, d.cluster_id or "")] = d
        if d.correlation_id:
            self.cids.add(d.correlation_id)
        if d.trace_id:
            self.traces.add(d.trace_id)

    def _add_spans(self, found: Sequence[Span]) -> None:
        for s in found:
            self.spans[span_identity(s)] = s
            self.traces.add(s.trace_id)
            if s.correlation_id:
                self.cids.add(s.correlation_id)
            for lk in s.links:
                self.traces.add(lk.trace_id)

    def grow(self) -> None:
        for _ in range(_MAX_ROUNDS):
            cids = self.cids - self._cids_done
            traces = self.traces - self._traces_done
            if not cids and not traces:
                return
            if len(self._traces_done) + len(traces) > _MAX_TRACES:
                traces = set(sorted(traces)[: max(0, _MAX_TRACES - len(self._traces_done))])
                if not cids and not traces:
                    return
            self._cids_done |= cids
            self._traces_done |= traces
            self._add_spans(self.store.spans(traces, cids))
            for h in self.store.hops(traces, cids):
                self._add_hop(h)
            # Both ids at once: one lookup a round (a statement, on a ClickHouse store).
            for d in self.store.dead_letters_of(cids=cids, trace_ids=traces):
                self._add_dl(d)
            if traces:
                self.traces |= self.store.linking_traces(traces)

    def replays(self) -> list[ReplayEntry]:
        out: list[ReplayEntry] = []
        for d in self.dls.values():
            out.extend(self.store.replays_of(d))
        return sorted(out, key=lambda r: r.created_ns)

    def log_records(self) -> list[LogRecord]:
        found = self.store.logs(self.traces, self.cids)
        unique = {(r.time_ns, r.service, r.span_id, r.body): r for r in found}
        return sorted(unique.values(), key=lambda r: r.time_ns)

    def span_records(self) -> list[Span]:
        return sorted(self.spans.values(), key=lambda s: (s.start_ns, s.end_ns))


def journey(
    source: Storage | StoreReader,
    correlation_id: str | None = None,
    trace_id: str | None = None,
    message: str | None = None,
    stall_after_s: float = 30,
    now_ns: int | None = None,
) -> Journey | None:
    """The journey of one correlation id, trace id or Kafka message (``topic:partition:offset``,
    a hop's or a dead letter's), or None when the store knows nothing of it.

    Exactly one selector, else InputError. ``source`` is a store (a reader is opened and closed)
    or an open reader (reused). ``now_ns`` (default: the clock) is when stalls are judged.
    """
    chosen = [x for x in (correlation_id, trace_id, message) if x]
    if len(chosen) != 1:
        raise InputError("give exactly one of correlation id, trace id or message")
    with reading(source) as store:  # every read sees one commit: never half a batch
        return _journey(store, correlation_id, trace_id, message, stall_after_s, now_ns)


def _journey(
    store: JourneyLookup,
    correlation_id: str | None,
    trace_id: str | None,
    message: str | None,
    stall_after_s: float,
    now_ns: int | None,
) -> Journey | None:
    g = _Gather(store)
    if correlation_id:
        g.cids.add(correlation_id)
    elif trace_id:
        g.traces.add(trace_id.lower())
    else:
        g.seed_message(*parse_coordinates(message or "", option="--message"))
    g.grow()
    if not g.spans and not g.hops and not g.dls:
        return None
    return _build(store, g, correlation_id, stall_after_s, now_ns)


def _key_forms(value: str) -> list[str | bytes]:
    """A key as typed, and as the bytes it names when typed as ``0x`` hex (a binary key)."""
    forms: list[str | bytes] = [value]
    if value.lower().startswith("0x") and len(value) > 2:
        with contextlib.suppress(ValueError):
            forms.append(bytes.fromhex(value[2:]))
    return forms


def journeys_by_key(
    source: Storage | StoreReader,
    key: str,
    stall_after_s: float = 30,
    now_ns: int | None = None,
) -> list[Journey]:
    """The journeys a business key names: a Kafka message key (as text, or ``0x`` hex), a span's
    message key attribute or ``--key-attribute`` value, a JSON payload field named by
    ``--key-attribute``. Oldest first; one per correlation id (or per trace without one)."""
    if not key:
        raise InputError("--key must not be empty")
    with reading(source) as store:
        return _journeys_by_key(store, key, stall_after_s, now_ns)


def _journeys_by_key(
    store: StoreReader, key: str, stall_after_s: float, now_ns: int | None
) -> list[Journey]:
    cids: set[str] = set()
    traces: set[str] = set()
    for form in _key_forms(key):
        spans, hops = store.by_key(form)
        for s in spans:
            if s.correlation_id:
                cids.add(s.correlation_id)
            else:
                traces.add(s.trace_id)
        for h in hops:
            if h.correlation_id:
                cids.add(h.correlation_id)
            elif h.trace_id:
                traces.add(h.trace_id)
    found: list[Journey] = []
    seen_traces: set[str] = set()
    seen_cids: set[str] = set()
    seeds = [("cid", c) for c in sorted(cids)] + [("trace", t) for t in sorted(traces)]
    for what, value in seeds:
        if (what == "cid" and value in seen_cids) or (what == "trace" and value in seen_traces):
            continue
        j = journey(
            store,
            correlation_id=value if what == "cid" else None,
            trace_id=value if what == "trace" else None,
            stall_after_s=stall_after_s,
            now_ns=now_ns,
        )
        if j is None:
            continue
        seen_traces.update(j.trace_ids)
        seen_cids.update(s.correlation_id for s in j.spans if s.correlation_id)
        seen_cids.update(h.correlation_id for h in j.hops if h.correlation_id)
        found.append(j)
    return sorted(found, key=lambda j: j.started_ns)


def _build(
    store: JourneyLookup, g: _Gather, cid: str | None, stall_after_s: float, now_ns: int | None
) -> Journey:
    spans = g.span_records()
    hops = sorted(g.hops.values(), key=hop_ns)
    dls = sorted(g.dls.values(), key=lambda d: (d.timestamp_ms, d.first_seen_ns))
    replays = g.replays()
    handoffs = derive_handoffs(spans, hops, dls, replays)
    now = time.time_ns() if now_ns is None else now_ns
    status, where, detail, groups, reason, after = judge(
        spans,
        handoffs,
        dls,
        replays,
        now_ns=now,
        stall_after_s=stall_after_s,
        groups_for=lambda topic: _groups(store, topic, spans, dls),
    )
    times = (
        [s.start_ns for s in spans]
        + [hop_ns(h) for h in hops]
        + [d.timestamp_ms * 1_000_000 for d in dls]
    )
    ends = [s.end_ns for s in spans] + times + [r.acked_ns or r.created_ns for r in replays]
    trace_ids = tuple(dict.fromkeys(s.trace_id for s in spans)) + tuple(
        sorted(t for t in g.traces if t not in {s.trace_id for s in spans})
    )
    return Journey(
        correlation_id=cid or _main_cid(g),
        status=status,
        where=where,
        detail=detail,
        trace_ids=trace_ids,
        spans=tuple(spans),
        hops=tuple(hops),
        dead_letters=tuple(dls),
        replays=tuple(replays),
        handoffs=tuple(handoffs),
        started_ns=min(times),
        ended_ns=max(ends),
        groups=groups,
        reason=reason,
        after=after,
        logs=tuple(g.log_records()),
    )


def _groups(
    store: JourneyLookup, topic: str, spans: Sequence[Span], dls: Sequence[DeadLetter]
) -> list[str]:
    own = [
        s.messaging_consumer_group
        for s in spans
        if s.messaging_destination == topic and s.messaging_consumer_group
    ]
    own += [d.consumer_group for d in dls if d.original_topic == topic and d.consumer_group]
    return list(dict.fromkeys([*own, *consumer_groups(store, topic)]))


def _main_cid(g: _Gather) -> str | None:
    counts: dict[str, int] = {}
    for s in g.spans.values():
        if s.correlation_id:
            counts[s.correlation_id] = counts.get(s.correlation_id, 0) + 1
    for h in g.hops.values():
        if h.correlation_id:
            counts[h.correlation_id] = counts.get(h.correlation_id, 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else None
