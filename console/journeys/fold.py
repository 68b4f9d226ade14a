"""Big journeys made readable: runs of repeated siblings folded, and the critical path.

``fold_spans(spans, ...)`` decides which spans a waterfall shows. Siblings (same parent) with the
same service and operation form a run; a run of more than ``keep + 2`` shows its first ``keep``
spans, its slowest, and every span that must stay, and folds the rest (two or more) into one
``FoldedRun``
(``… 97 more render-tile · p50 0.0 ms · max 0.1 ms · 0 errors``). A span must stay when it is an
error, takes part in a Kafka handoff or a dead letter (producer and consumer spans, and the
spans the journey's handoffs name, and those that logged an error), or has such a span below
it. Not the critical path: in sequential work every span is on it, so it is shown apart. A
folded span's descendants are hidden with it. The text ``trace`` and the TUI waterfall both call
this; ``trace --all`` and the TUI's unfold key show every span.

``critical_path(spans)`` is the chain of work that made the journey as long as it was, computed
as Jaeger's UI does: from the root, the last-finishing child is critical, then the last one to
finish before that child started, and so on down each critical child. A span is taken to last
until its descendants end (an async consumer in the same trace extends its producer). Each
critical span gets the time it alone was on the path; the shares add up to the root's extent.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from console.base.model import DeadLetter, LogRecord, Span
from console.journeys.derive import is_consumer, is_producer

__all__ = [
    "FOLD_KEEP",
    "CriticalStep",
    "Folded",
    "FoldedRun",
    "critical_path",
    "fold_parts",
    "fold_spans",
]

FOLD_KEEP = 3  # the first spans of a run always shown
MS = 1_000_000

SpanKey = tuple[str, str]  # (trace id, span id)


def _key(s: Span) -> SpanKey:
    return (s.trace_id, s.span_id)


@dataclass(frozen=True, slots=True)
class FoldedRun:
    """Siblings of one service and operation not shown, standing in one line."""

    key: str  # stable: "fold:<trace>:<parent span>:<service>:<operation>"
    parent: SpanKey | None
    service: str
    name: str
    spans: tuple[Span, ...]  # the folded spans, oldest first
    below: int  # their descendants, hidden with them
    p50_ms: float
    max_ms: float
    errors: int

    @property
    def start_ns(self) -> int:
        return min(s.start_ns for s in self.spans)

    @property
    def end_ns(self) -> int:
        return max(s.end_ns for s in self.spans)

    @property
    def short(self) -> str:
        """``… 97 more render-tile`` (and its errors, if any): a label where room is short."""
        errors = f" · {self.errors:,} error" + ("" if self.errors == 1 else "s")
        return f"… {len(self.spans):,} more {self.name}" + (errors if self.errors else "")

    @property
    def text(self) -> str:
        """``… 97 more render-tile · p50 0.0 ms · max 0.1 ms · 0 errors``."""
        errors = f"{self.errors:,} error" + ("" if self.errors == 1 else "s")
        out = (
            f"… {len(self.spans):,} more {self.name} · p50 {self.p50_ms:,.1f} ms"
            f" · max {self.max_ms:,.1f} ms · {errors}"
        )
        if self.below:
            out += f" · {self.below:,} spans below"
        return out


@dataclass(frozen=True, slots=True)
class CriticalStep:
    """One span of the critical path and the time it alone was on it."""

    span: Span
    on_path_ns: int


@dataclass(frozen=True, slots=True)
class Folded:
    """What a waterfall shows: ``shown`` spans (in the order given), the runs folded away (a
    view places each at its first span's start), and the critical path."""

    shown: tuple[Span, ...]
    runs: tuple[FoldedRun, ...]
    critical: tuple[CriticalStep, ...]
    hidden: int  # spans not shown, folded ones and their descendants


def fold_parts(
    spans: tuple[Span, ...],
    handoffs: Iterable[Any] = (),
    logs: Iterable[LogRecord] = (),
    dead_letters: Iterable[DeadLetter] = (),
    unfolded: Collection[str] = (),
) -> Folded:
    """``fold_spans`` for a journey's parts (the CLI's ``Journey`` and the TUI's view of it):
    the spans its handoffs name, the spans that logged an error and the sends to its dead-letter
    topics always shown."""
    named = {getattr(h, "from_span_id", None) for h in handoffs}
    named |= {getattr(h, "to_span_id", None) for h in handoffs}
    named |= {r.span_id for r in logs if r.span_id and r.severity_number >= 17}
    return fold_spans(
        spans,
        keep_span_ids={x for x in named if x},
        dead_letter_topics={d.dlq_topic for d in dead_letters},
        unfolded=unfolded,
    )


def _must_keep(
    spans: tuple[Span, ...], keep_span_ids: Collection[str], dead_letter_topics: Collection[str]
) -> set[int]:
    return {
        i
        for i, s in enumerate(spans)
        if s.is_error
        or is_producer(s)
        or is_consumer(s)
        or s.span_id in keep_span_ids
        or (s.messaging_destination or "") in dead_letter_topics
    }


class _Tree:
    """The spans as indices: each one's parent (-1 for a root: no parent in the journey) and
    children."""

    def __init__(self, spans: tuple[Span, ...]) -> None:
        index = {_key(s): i for i, s in enumerate(spans)}
        self.parent = [index.get((s.trace_id, s.parent_span_id or ""), -1) for s in spans]
        self.children: list[list[int]] = [[] for _ in spans]
        self.roots: list[int] = []
        for i, p in enumerate(self.parent):
            if p < 0 or p == i:
                self.parent[i] = -1
                self.roots.append(i)
            else:
                self.children[p].append(i)


def fold_spans(
    spans: tuple[Span, ...],
    *,
    keep: int = FOLD_KEEP,
    keep_span_ids: Collection[str] = (),
    dead_letter_topics: Collection[str] = (),
    unfolded: Collection[str] = (),
) -> Folded:
    """The spans to show of ``spans`` (see the module's docstring). ``keep_span_ids`` are
    always shown (the journey's handoffs, spans that logged an error), as are producer spans to
    ``dead_letter_topics``; ``unfolded`` names runs (``FoldedRun.key``) to show whole."""
    tree = _Tree(spans)
    critical = critical_path(spans, tree)
    # Not the critical path: in sequential work every span is on it (it is shown on top).
    must = _must_keep(spans, keep_span_ids, dead_letter_topics)
    for i in list(must):  # a kept span keeps its ancestors
        p = tree.parent[i]
        while p >= 0 and p not in must:
            must.add(p)
            p = tree.parent[p]
    hidden = [False] * len(spans)
    runs: list[tuple[int, FoldedRun]] = []
    for parent in [-1, *range(len(spans))]:
        kids = tree.roots if parent < 0 else tree.children[parent]
        if len(kids) <= keep + 2:
            continue
        groups: dict[tuple[str, str], list[int]] = {}
        for i in kids:
            groups.setdefault((spans[i].service, spans[i].name), []).append(i)
        for (service, name), run in groups.items():
            if len(run) <= keep + 2:
                continue
            p_span = spans[parent] if parent >= 0 else None
            trace, span_id = (p_span.trace_id, p_span.span_id) if p_span else ("-", "-")
            key = f"fold:{trace}:{span_id}:{service}:{name}"
            if key in unfolded:
                continue
            run.sort(key=lambda i: spans[i].start_ns)
            slowest = max(run, key=lambda i: spans[i].end_ns - spans[i].start_ns)
            shown = {*run[:keep], slowest}
            folded = [i for i in run if i not in shown and i not in must]
            if len(folded) < 2:
                continue
            below = _hide(folded, tree, hidden)
            took = [(spans[i].end_ns - spans[i].start_ns) / MS for i in folded]
            runs.append(
                (
                    parent,
                    FoldedRun(
                        key=key,
                        parent=_key(p_span) if p_span else None,
                        service=service,
                        name=name,
                        spans=tuple(spans[i] for i in folded),
                        below=below,
                        p50_ms=statistics.median(took),
                        max_ms=max(took),
                        errors=sum(1 for i in folded if spans[i].is_error),
                    ),
                )
            )
    shown_spans = tuple(s for i, s in enumerate(spans) if not hidden[i])
    kept = tuple(r for p, r in runs if p < 0 or not hidden[p])  # none under a folded span
    return Folded(shown_spans, kept, critical, len(spans) - len(shown_spans))


def _hide(folded: list[int], tree: _Tree, hidden: list[bool]) -> int:
    """Mark ``folded`` and their descendants hidden; returns how many descendants."""
    below = 0
    stack = list(folded)
    while stack:
        i = stack.pop()
        if hidden[i]:  # a parent loop in bad data
            continue
        hidden[i] = True
        below += len(tree.children[i])
        stack.extend(tree.children[i])
    return below


def critical_path(spans: tuple[Span, ...], tree: _Tree | None = None) -> tuple[CriticalStep, ...]:
    """The critical path of the root whose work ends last, oldest step first."""
    if not spans:
        return ()
    tree = tree or _Tree(spans)
    children = tree.children
    extent = [s.end_ns for s in spans]  # a span's end, or its last descendant's if later
    order: list[int] = []
    stack = list(tree.roots)
    seen = [False] * len(spans)
    while stack:  # parents before children
        i = stack.pop()
        if not seen[i]:
            seen[i] = True
            order.append(i)
            stack.extend(children[i])
    for i in reversed(order):
        for c in children[i]:
            if extent[c] > extent[i]:
                extent[i] = extent[c]
    if not tree.roots:
        return ()
    root = max(tree.roots, key=lambda i: (extent[i], -spans[i].start_ns))
    on_path = [0] * len(spans)
    pending: dict[int, list[int]] = {}  # children, last-finishing last: a cursor per span
    i, until = root, extent[root]
    parents: list[int] = []
    while True:
        kids = pending.get(i)
        if kids is None:
            kids = pending[i] = sorted(children[i], key=lambda c: extent[c])
        while kids and extent[kids[-1]] > until:
            kids.pop()  # finished after the cursor: overlapped by a later critical child
        if kids and extent[kids[-1]] > spans[i].start_ns:
            child = kids.pop()
            on_path[i] += max(0, until - extent[child])
            parents.append(i)
            i, until = child, extent[child]
            continue
        on_path[i] += max(0, until - spans[i].start_ns)
        if not parents:
            break
        until = spans[i].start_ns
        i = parents.pop()
    steps = [CriticalStep(spans[j], on_path[j]) for j in pending]
    return tuple(sorted(steps, key=lambda st: st.span.start_ns))
