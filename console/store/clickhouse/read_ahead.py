"""What one ``reading()`` block of the ClickHouse reader has read, kept for the rest of it, and
``prefetch``: many journeys' records read in a few statements.

Every lookup of a journey is a statement here (a few ms each in chDB, a round trip to a server),
and ``journey()`` makes about ten: a list of a hundred journeys (``journeys``, the TUI's
journeys screen) was a thousand statements. Inside a block, each lookup by trace id or
correlation id keeps what it found per id (``Memo``); a later lookup asks the engine only for
the ids it has not seen in the block. ``prefetch(cids)`` runs those lookups once for many
journeys at a time, two rounds deep (their correlation ids, then the traces those name and the
traces linking to them), so the ``journey()`` calls that follow find most of their records
already read. The answers are the ones the lookups give without it: the block's first read of
an id is its answer for the rest of the block (a later write is seen by the next block), and a
journey that grows past what was read ahead asks the engine for the rest.

Where ``handoff_journey_keys`` exists (``lookup_schema.py``), a block's first lookup of a
journey widens itself (``_widened``): a few reads of that table's key (a few ms each) name the
traces the journey's next rounds will ask for, and their spans, hops and dead letters are read
then, one statement each, so that the rounds after the first find them kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from console.base.model import DeadLetter, Hop, LogRecord, Span
from console.store.clickhouse.read_base import ids
from console.store.clickhouse.read_journeys import JourneyReads, Keys
from console.store.identity import hop_identity, span_identity

__all__ = ["Memo", "ReadAhead"]

R = TypeVar("R")

_AHEAD_ROUNDS = 3  # reads of handoff_journey_keys that widen a journey's first lookups
_AHEAD_TRACES = 200  # widened no further than this many traces


@dataclass
class Memo:
    """Per id, what the block's lookups found: ``(by trace id, by correlation id)`` for each
    record kind, and the traces linking to each trace."""

    spans: tuple[dict[str, list[Span]], dict[str, list[Span]]] = field(
        default_factory=lambda: ({}, {})
    )
    hops: tuple[dict[str, list[Hop]], dict[str, list[Hop]]] = field(
        default_factory=lambda: ({}, {})
    )
    logs: tuple[dict[str, list[LogRecord]], dict[str, list[LogRecord]]] = field(
        default_factory=lambda: ({}, {})
    )
    dead: tuple[dict[str, list[DeadLetter]], dict[str, list[DeadLetter]]] = field(
        default_factory=lambda: ({}, {})
    )
    links: dict[str, set[str]] = field(default_factory=dict)


def _kept(
    kept: tuple[dict[str, list[R]], dict[str, list[R]]],
    tids: list[str],
    cids: list[str],
    lookup: Callable[[list[str], list[str]], list[R]],
    keys: Callable[[R], tuple[str | None, str | None]],
) -> list[R]:
    """The records of ``tids`` and ``cids``: those ``kept`` has, and ``lookup`` for the rest
    (one statement), whose answers are kept per id (an id that found nothing keeps [])."""
    by_trace, by_cid = kept
    need_t = [t for t in tids if t not in by_trace]
    need_c = [c for c in cids if c not in by_cid]
    if need_t or need_c:
        for t in need_t:
            by_trace[t] = []
        for c in need_c:
            by_cid[c] = []
        want_t, want_c = set(need_t), set(need_c)
        for r in lookup(need_t, need_c):
            trace, cid = keys(r)
            if trace in want_t:
                by_trace[trace].append(r)
            if cid in want_c:
                by_cid[cid].append(r)
    return [r for t in tids for r in by_trace[t]] + [r for c in cids for r in by_cid[c]]


def _unique(records: Iterable[R], identity: Callable[[R], Any]) -> list[R]:
    seen: set[Any] = set()
    out = []
    for r in records:
        key = identity(r)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


class ReadAhead(JourneyReads):
    """``JourneyReads`` with a ``Memo`` inside ``reading()`` blocks, and ``prefetch``."""

    _memo: Memo | None = None

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """A block whose lookups by trace and correlation id are kept till it ends (module
        docstring). Blocks nest: the outermost one keeps them."""
        outer = self._memo is None
        if outer:
            self._memo = Memo()
        try:
            yield
        finally:
            if outer:
                self._memo = None

    def _widened(self, tids: list[str], cids: list[str]) -> list[str]:
        """``tids`` and the traces the journey of these ids will ask for next, as far as
        ``handoff_journey_keys`` names them (``_AHEAD_ROUNDS`` reads of its key, a few ms
        each): the traces of the ids' spans and hops, and the traces linking to those. The
        spans, hops and dead letters of them all are then read in one statement each, kept
        per id, and the journey's next rounds find them kept (module docstring)."""
        assert self._memo is not None
        memo = self._memo
        have = set(memo.spans[0])
        traces = set(tids)
        ask_t, ask_c = [t for t in tids if t not in have], cids
        read = Keys(((), ()))
        for _ in range(_AHEAD_ROUNDS):
            if not (ask_t or ask_c) or len(traces) > _AHEAD_TRACES:
                break
            keys = self.keys_of(ask_t, ask_c, fresh=True)
            read.merge(keys)
            more = set(keys.by_cid) | {t.lower() for t in keys.hop_traces}
            more |= {linking.lower() for _, linking, _ in keys.links}
            ask_t, ask_c = ids(more - traces - have), []
            traces |= more
        if len(traces) > _AHEAD_TRACES:
            return tids
        wide = ids(traces - have)
        if not ask_t:  # every id of ``wide`` and ``cids`` was read: the lookups take these
            read.ids, read.fresh = (tuple(wide), tuple(cids)), True
            self._stash = read
        return wide

    def spans(self, trace_ids: Iterable[str] = (), cids: Iterable[str] = ()) -> list[Span]:
        if self._memo is None:
            return super().spans(trace_ids, cids)
        if self.keyed:
            tids, cs = ids(trace_ids), sorted(set(cids))
            wide = self._widened(tids, cs)
            if wide != tids:  # read and kept for every trace of ``wide``, asked or not
                _kept(
                    self._memo.spans,
                    wide,
                    cs,
                    lambda t, c: super(ReadAhead, self).spans(t, c),
                    lambda s: (s.trace_id, s.correlation_id),
                )
                self.hops(wide, cs)
                self.dead_letters_of(cs, wide)
                self.links_to(wide)
        found = _kept(
            self._memo.spans,
            ids(trace_ids),
            sorted(set(cids)),
            lambda t, c: super(ReadAhead, self).spans(t, c),
            lambda s: (s.trace_id, s.correlation_id),
        )
        return _unique(found, span_identity)

    def hops(self, trace_ids: Iterable[str] = (), cids: Iterable[str] = ()) -> list[Hop]:
        if self._memo is None:
            return super().hops(trace_ids, cids)
        found = _kept(
            self._memo.hops,
            ids(trace_ids),
            sorted(set(cids)),
            lambda t, c: super(ReadAhead, self).hops(t, c),
            lambda h: (h.trace_id, h.correlation_id),
        )
        return _unique(found, hop_identity)

    def logs(self, trace_ids: Iterable[str] = (), cids: Iterable[str] = ()) -> list[LogRecord]:
        if self._memo is None:
            return super().logs(trace_ids, cids)
        found = _kept(
            self._memo.logs,
            ids(trace_ids),
            sorted(set(cids)),
            lambda t, c: super(ReadAhead, self).logs(t, c),
            lambda r: (r.trace_id, r.correlation_id),
        )
        return _unique(found, id)

    def dead_letters_of(
        self, cids: Iterable[str] = (), trace_ids: Iterable[str] = ()
    ) -> list[DeadLetter]:
        if self._memo is None:
            return super().dead_letters_of(cids, trace_ids)
        found = _kept(
            self._memo.dead,
            ids(trace_ids),
            sorted(set(cids)),
            lambda t, c: super(ReadAhead, self).dead_letters_of(c, t),
            lambda d: (d.trace_id, d.correlation_id),
        )
        return _unique(found, lambda d: (d.cluster_id, d.dlq_topic, d.partition, d.offset))

    def links_to(self, tids: list[str]) -> dict[str, set[str]]:
        if self._memo is None:
            return super().links_to(tids)
        kept = self._memo.links
        need = [t for t in tids if t not in kept]
        if need:
            for t, found in super().links_to(need).items():
                kept[t] = found
        return {t: kept.get(t, set()) for t in tids}

    def prefetch(self, cids: Collection[str]) -> None:
        """Read the journeys of ``cids`` ahead, two rounds deep (module docstring); outside a
        ``reading()`` block there is nowhere to keep them, and this does nothing."""
        if self._memo is None or not cids:
            return
        wanted = sorted(set(cids))
        spans = self.spans((), wanted)
        hops = self.hops((), wanted)
        dead = self.dead_letters_of(cids=wanted)
        traces = {s.trace_id for s in spans} | {lk.trace_id for s in spans for lk in s.links}
        traces |= {h.trace_id for h in hops if h.trace_id}
        traces |= {d.trace_id for d in dead if d.trace_id}
        seen: set[str] = set()
        for _ in range(2):
            found = ids(traces - seen)
            seen |= set(found)
            more = self.spans(found)
            self.hops(found)
            self.dead_letters_of(trace_ids=found)
            linked = {t for ts in self.links_to(found).values() for t in ts}
            traces = linked | {lk.trace_id for s in more for lk in s.links}
            if not traces - seen:
                break
        self.logs(seen, wanted)
