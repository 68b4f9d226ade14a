"""Is it stored already? The writer's recent window, and the probes of the blocks beyond it.

A span or hop not in the recent window may still be stored: written before a restart, by a
second tap, or so long ago the window moved on. ``drop_stored_spans`` finds those through the
trace key index of the segments whose time range holds them, ``drop_stored_hops`` through the
hop buckets (``identity.py``); each probes once per batch (per segment, per partition), and
decodes only blocks that may hold a candidate (for spans, only blocks the window does not hold
whole). Log records and metric points (no id) are checked against the
window only; ``seed`` fills it at start from the newest blocks and metric points.
"""

from __future__ import annotations

import bisect
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any

from console.base.model import Hop, SpanRow
from console.store.identity import (
    canonical_text,
    hop_buckets,
    hop_fields_identity,
    hop_identity,
    log_identity,
    metric_row_identity,
    span_fields_identity,
    span_row_identity,
)
from console.store.sqlite import blocks, keys
from console.store.sqlite.blocks import KIND_HOP, KIND_LOG, KIND_SPAN

__all__ = ["Window", "drop_stored_hops", "drop_stored_spans", "seed"]


class Window:
    """A set of recently stored identities, bounded in bytes, in two generations: when the new
    one reaches half the budget it becomes the old one and the old one is dropped. (Bounded in
    entries, 400,000 of them, the window took ~80 MB and kept ``serve`` growing for ten minutes.)

    The bytes counted are what the identities take (measured once per shape, rounded up to
    Python's 16-byte allocation classes) plus the sets' own tables, as ``sys.getsizeof`` gives
    them: a set's table is a power of two kept under 60% full, 16 bytes a slot, so it takes 27 to
    107 bytes an entry, not the 24 once assumed (a 4 MiB window of hashed log identities held
    6.4 MiB). A batch is added in pieces, so the new generation never passes half the budget."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._units: dict[type, int] = {}
        self._new_bytes = 0  # the identities of the new generation, tables not included
        self._old_bytes = 0
        self.new: set[Any] = set()
        self.old: set[Any] = set()
        # Blocks every record of which is in the window (a store probe need not decode them).
        self.new_blocks: set[int] = set()
        self.old_blocks: set[int] = set()

    def __contains__(self, item: Any) -> bool:
        return item in self.new or item in self.old

    def covers(self, block: int) -> bool:
        return block in self.new_blocks or block in self.old_blocks

    def add_all(self, items: Sequence[Any], blocks: Sequence[int] = ()) -> None:
        if not items:
            return
        unit = self._unit(items[0])
        half = self.max_bytes // 2
        start = 0
        while start < len(items):
            # Room left in the new generation, with its table at worst one doubling away (a
            # set's table grows to four times its entries' 16-byte slots at most: 64 bytes).
            room = (half - self._new_bytes - sys.getsizeof(self.new)) // (unit + 64)
            if room <= 0 and self.new:
                self._rotate()
                continue
            part = items[start : start + max(1, room)]
            before = len(self.new)
            self.new.update(part)
            self._new_bytes += (len(self.new) - before) * unit
            start += len(part)
        self.new_blocks.update(blocks)
        if self._new_bytes + sys.getsizeof(self.new) >= half:
            self._rotate()

    def _rotate(self) -> None:
        self.old, self.new = self.new, set()
        self.old_blocks, self.new_blocks = self.new_blocks, set()
        self._old_bytes, self._new_bytes = self._new_bytes, 0

    def _unit(self, item: Any) -> int:
        kind = type(item)
        unit = self._units.get(kind)
        if unit is None:
            unit = self._units[kind] = _identity_bytes(item)
        return unit

    def bytes(self) -> int:
        """About what the window's two generations take, in bytes, their sets' tables included."""
        sets = (self.new, self.old, self.new_blocks, self.old_blocks)
        tables = sum(sys.getsizeof(s) for s in sets)
        return self._new_bytes + self._old_bytes + tables


def _identity_bytes(item: Any) -> int:
    """What one identity costs besides its set slot, in bytes: the object and what a tuple holds
    (small ints and shared strings are counted too, so this errs high), each rounded up to
    Python's 16-byte allocation classes."""
    size = _rounded(sys.getsizeof(item))
    if isinstance(item, tuple):
        size += sum(_rounded(sys.getsizeof(x)) for x in item)
    return size


def _rounded(n: int) -> int:
    return (n + 15) // 16 * 16


def seed(
    conn: sqlite3.Connection,
    spans: Window,
    hops: Window,
    others: Window,
    last_blocks: int = 100,
) -> None:
    """Fill the windows (spans, hops, log records and metric points) from the newest blocks, so
    a restart does not store a retry twice."""
    for bid, kind, blob in conn.execute(
        "SELECT id, kind, data FROM blocks ORDER BY id DESC LIMIT ?", (last_blocks,)
    ):
        try:
            block = blocks.BlockReader(kind, blob)
        except Exception:  # a block this code cannot read is no reason not to write
            continue
        if kind == KIND_SPAN:
            ids = [span_fields_identity(t, block.fields(i)) for i, t in enumerate(block.tids)]
            spans.add_all(ids, [bid])
        elif kind == KIND_LOG:
            others.add_all([log_identity(r) for r in block.records()])
        else:
            hops.add_all([hop_fields_identity(block.fields(i)) for i in range(len(block))])
    for row in conn.execute(
        "SELECT name, service, time_ns, start_time_ns, kind, attributes, value, count, sum,"
        " bucket_counts FROM metric_points ORDER BY id DESC LIMIT 20000"
    ):
        name, service, time_ns, start_ns, kind, attributes, *rest = row
        others.add_all(
            [metric_row_identity(name, service, time_ns, start_ns, kind,
                                 canonical_text(attributes), *rest)]
        )  # fmt: skip


def drop_stored_hops(conn: sqlite3.Connection, hops: list[Hop]) -> list[Hop]:
    """The hops not already in a block: every bucket any of them falls in is probed (one
    statement per partition), and only blocks whose range overlaps theirs are decoded."""
    by_tp: dict[tuple[str, int], list[int]] = {}
    for h in hops:
        by_tp.setdefault((h.topic, h.partition), []).append(h.offset)
    found: set[int] = set()
    for (topic, partition), offsets in by_tp.items():
        buckets = sorted({b for o in offsets for b in hop_buckets(o)})
        for i in range(0, len(buckets), _MAX_PARAMS):
            part = buckets[i : i + _MAX_PARAMS]
            marks = ",".join("?" * len(part))
            found.update(
                bid
                for (bid,) in conn.execute(
                    "SELECT block FROM hop_ranges WHERE topic = ? AND partition = ?"
                    f" AND bucket IN ({marks}) AND lo <= ? AND hi >= ?",
                    (topic, partition, *part, max(offsets), min(offsets)),
                )
            )
    if not found:
        return hops
    stored = {
        hop_fields_identity(block.fields(i))
        for block in _blocks(conn, found, KIND_HOP)
        for i in range(len(block))
    }
    return [h for h in hops if hop_identity(h) not in stored]


def drop_stored_spans(
    conn: sqlite3.Connection, spans: list[SpanRow], window: Window
) -> list[SpanRow]:
    """The spans not already in a block: the key index names the blocks holding their traces.
    A span can only be stored in a segment whose record-time range holds its start time (the
    same span, resent, has the same start), so each segment is probed only for the candidates
    in its range: one statement per such segment, usually the newest one or two, however many
    segments the store keeps (probing every segment for every span cost 230 ms a 5,000-span
    batch at 30 segments, a third of the write). Of the blocks found, those the window holds
    whole (this writer wrote them, or read them at start) need no look: ``spans`` are not in
    the window. The others are decoded, and only their span ids read."""
    ordered = sorted(spans, key=lambda r: r[5])
    starts = [r[5] for r in ordered]
    found: set[int] = set()
    for sid, lo, hi in conn.execute(
        "SELECT id, min_ns, max_ns FROM segments WHERE min_ns IS NOT NULL"
    ).fetchall():
        a, b = bisect.bisect_left(starts, lo), bisect.bisect_right(starts, hi)
        if a < b:
            tids = {r[0] for r in ordered[a:b]}
            found.update(keys.blocks_for(conn, keys.K_TRACE, tids, [f"keys_{sid}"]))
    found = {b for b in found if not window.covers(b)}
    tids = {r[0] for r in spans}
    if not found:
        return spans
    stored: set[Any] = set()
    for block in _blocks(conn, found, KIND_SPAN):
        for i, tid in enumerate(block.tids):
            if tid in tids:
                stored.add(span_fields_identity(tid, block.fields(i)))
    if not stored:
        return spans
    return [r for r in spans if span_row_identity(r) not in stored]


_MAX_PARAMS = 500  # values in one IN (...) (far below SQLite's host-parameter limit)


def _blocks(conn: sqlite3.Connection, ids: set[int], kind: int) -> list[blocks.BlockReader]:
    out: list[blocks.BlockReader] = []
    wanted = sorted(ids)
    for i in range(0, len(wanted), _MAX_PARAMS):
        part = wanted[i : i + _MAX_PARAMS]
        marks = ",".join("?" * len(part))
        out.extend(
            blocks.BlockReader(kind, blob)
            for (blob,) in conn.execute(
                f"SELECT data FROM blocks WHERE kind = ? AND id IN ({marks})", (kind, *part)
            )
        )
    return out
