"""The waterfall: a journey's spans as bars on one time axis, grouped by service, with handoff
gaps, dead letters and each span's log records (``≡`` on its bar) marked. Runs of repeated
siblings are folded into one row each as ``trace`` folds them (``console/journeys/fold.py``),
unless unfolded. Pure functions from records to rows and ``Text``; no I/O."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text

from console.base.model import DeadLetter, Hop, LogRecord, Span, header_text
from console.journeys.fold import Folded, FoldedRun, fold_parts
from console.journeys.render import event_text, log_text

__all__ = [
    "JourneyView",
    "WaterfallRow",
    "bar",
    "build_rows",
    "detail_text",
    "fold_view",
    "view_of",
]

MS = 1_000_000


@dataclass(frozen=True, slots=True)
class JourneyView:
    """What the waterfall needs of a ``console.journeys.Journey``."""

    title: str
    status: str
    where: str
    spans: tuple[Span, ...]
    hops: tuple[Hop, ...] = ()
    dead_letters: tuple[DeadLetter, ...] = ()
    handoffs: tuple[Any, ...] = ()
    logs: tuple[LogRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class WaterfallRow:
    key: str
    label: str
    start_ns: int
    end_ns: int
    kind: str  # service (a group header), span, fold (folded siblings), hop, dead_letter
    error: bool = False
    gap_ns: int = 0  # handoff gap before this span (producer end -> consumer start)
    span: Span | None = None
    record: Any = field(default=None)
    logs: tuple[LogRecord, ...] = ()  # the log records the span wrote


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        if isinstance(obj, dict) and name in obj:
            return obj[name]
        if hasattr(obj, name):
            return getattr(obj, name)
    return default


def view_of(journey: Any) -> JourneyView:
    """Adapt a journey object (or dict) from console/journeys.py."""
    status = _get(journey, "status", default="")
    where = ""
    if not isinstance(status, str):
        where = str(_get(status, "where", "service", "topic", "detail", default="") or "")
        status = str(_get(status, "state", "name", "status", default=status))
    where = where or str(_get(journey, "where", "status_detail", "detail", default="") or "")
    title = (
        _get(journey, "correlation_id", default=None)
        or next(iter(_get(journey, "trace_ids", default=()) or ()), None)
        or "journey"
    )
    return JourneyView(
        title=str(title),
        status=str(status),
        where=where,
        spans=tuple(_get(journey, "spans", default=()) or ()),
        hops=tuple(_get(journey, "hops", default=()) or ()),
        dead_letters=tuple(_get(journey, "dead_letters", default=()) or ()),
        handoffs=tuple(_get(journey, "handoffs", default=()) or ()),
        logs=tuple(_get(journey, "logs", default=()) or ()),
    )


def fold_view(view: JourneyView, unfolded: Collection[str] = ()) -> Folded:
    """The journey's spans folded as ``trace`` folds them; ``unfolded`` runs shown whole."""
    return fold_parts(view.spans, view.handoffs, view.logs, view.dead_letters, unfolded)


def build_rows(view: JourneyView, folded: Folded | None = None) -> list[WaterfallRow]:
    """Rows grouped by service (in order of first activity), Kafka hops and dead letters last;
    with ``folded``, its shown spans and a row for each folded run."""
    by_id = {(s.trace_id, s.span_id): s for s in view.spans}
    # The journey's own handoffs know the gap best (producer send or hop -> consumer process).
    handoff_gap = {
        _get(h, "to_span_id"): int(_get(h, "gap_ms") * MS)
        for h in view.handoffs
        if _get(h, "to_span_id") and _get(h, "gap_ms") is not None
    }
    span_logs: dict[str, list[LogRecord]] = {}
    for r in view.logs:
        if r.span_id:
            span_logs.setdefault(r.span_id, []).append(r)
    groups: dict[str, list[Span | FoldedRun]] = {}
    items: list[Span | FoldedRun] = list(folded.shown if folded is not None else view.spans)
    items.extend(folded.runs if folded is not None else ())
    for s in sorted(items, key=lambda s: (s.start_ns, s.end_ns, isinstance(s, FoldedRun))):
        groups.setdefault(s.service, []).append(s)
    rows: list[WaterfallRow] = []
    for service, spans in groups.items():
        lo = min(s.start_ns for s in spans)
        hi = max(s.end_ns for s in spans)
        rows.append(WaterfallRow(f"svc:{service}", service, lo, hi, "service"))
        for s in spans:
            if isinstance(s, FoldedRun):
                rows.append(
                    WaterfallRow(
                        s.key, s.short, s.start_ns, s.end_ns, "fold", s.errors > 0, record=s
                    )
                )
                continue
            parent = by_id.get((s.trace_id, s.parent_span_id or ""))
            gap = max(0, handoff_gap.get(s.span_id, 0))
            if (
                not gap and s.kind == 5
            ):  # a consumer: the handoff gap since its producer (parent or link)
                producer = parent or next(
                    (
                        by_id[(lk.trace_id, lk.span_id)]
                        for lk in s.links
                        if (lk.trace_id, lk.span_id) in by_id
                    ),
                    None,
                )
                if producer is not None and producer.service != s.service:
                    gap = max(0, s.start_ns - producer.end_ns)
            rows.append(
                WaterfallRow(
                    f"span:{s.trace_id}:{s.span_id}",
                    s.name,
                    s.start_ns,
                    s.end_ns,
                    "span",
                    error=s.is_error,
                    gap_ns=gap,
                    span=s,
                    logs=tuple(span_logs.get(s.span_id, ())),
                )
            )
    if view.hops:
        hops = sorted(view.hops, key=lambda h: h.timestamp_ms)
        t = hops[0].timestamp_ms * MS
        rows.append(WaterfallRow("svc:kafka", "kafka", t, hops[-1].timestamp_ms * MS, "service"))
        for h in hops:
            rows.append(
                WaterfallRow(
                    f"hop:{h.topic}:{h.partition}:{h.offset}",
                    f"{h.topic}:{h.partition}:{h.offset}",
                    h.timestamp_ms * MS,
                    h.timestamp_ms * MS,
                    "hop",
                    record=h,
                )
            )
    for d in view.dead_letters:
        t = d.timestamp_ms * MS
        rows.append(
            WaterfallRow(
                f"dlq:{d.coordinates}",
                f"DLQ {d.coordinates}",
                t,
                t,
                "dead_letter",
                error=True,
                record=d,
            )
        )
    return rows


def bar(row: WaterfallRow, t0: int, t1: int, width: int) -> Text:
    """The row's bar on the shared axis [t0, t1] in ``width`` cells."""
    span = max(1, t1 - t0)

    def x(t: int) -> int:
        return max(0, min(width - 1, int((t - t0) * (width - 1) / span)))

    cells = [" "] * width
    styles: list[str] = [""] * width
    a, b = x(row.start_ns), x(row.end_ns)
    if row.kind == "service":
        for i in range(a, b + 1):
            cells[i], styles[i] = "─", "grey50"
    elif row.kind == "fold":
        for i in range(a, b + 1):
            cells[i], styles[i] = "┈", "red" if row.error else "grey50"
    elif row.kind == "hop":
        cells[a], styles[a] = "◆", "magenta"
    elif row.kind == "dead_letter":
        cells[a], styles[a] = "✖", "bold red"
    else:
        if row.gap_ns:
            for i in range(x(row.start_ns - row.gap_ns), a):
                cells[i], styles[i] = "┄", "yellow"
        for i in range(a, b + 1):
            cells[i], styles[i] = "█", "red" if row.error else "cyan"
        for r in row.logs:  # each log record the span wrote, where it wrote it
            i = x(r.time_ns)
            error = (r.severity_text or "").upper() in ("ERROR", "FATAL") or r.severity_number >= 17
            cells[i], styles[i] = "≡", "bold red" if error else "bold yellow"
    text = Text()
    for ch, st in zip(cells, styles, strict=True):
        text.append(ch, style=st or None)
    return text


def duration_text(row: WaterfallRow) -> str:
    if row.kind in ("hop", "dead_letter"):
        return ""
    if isinstance(row.record, FoldedRun):
        return f"p50 {row.record.p50_ms:.1f}"
    ms = (row.end_ns - row.start_ns) / MS
    gap = f" +{row.gap_ns / MS:.0f}" if row.gap_ns else ""
    return (f"{ms:.1f}" if ms < 10 else f"{ms:.0f}") + gap


def detail_text(row: WaterfallRow | None) -> Text:
    """Attributes, events and links of a span; coordinates and reason of a hop or dead letter."""
    t = Text()
    if row is None:
        return t
    if row.span is not None:
        s = row.span
        t.append(f"{s.service} · {s.name}", style="bold")
        t.append(f"  {(s.end_ns - s.start_ns) / MS:.1f} ms  trace {s.trace_id} span {s.span_id}\n")
        if s.status_code == 2:
            t.append(f"ERROR {s.status_message}\n", style="bold red")
        if row.gap_ns:
            t.append(f"handoff gap {row.gap_ns / MS:.1f} ms before this span\n", style="yellow")
        for k, v in sorted(s.attributes.items()):
            t.append(f"  {k}", style="cyan")
            t.append(f" = {v}\n")
        for ev in s.events:
            is_exception = ev.get("name") == "exception"
            if is_exception:  # type, message and the whole stack
                t.append_text(event_text(ev, 1, stack=True))
                t.append("\n")
            else:
                t.append(f"  event {ev.get('name', '')}", style="magenta")
                t.append(f" {ev.get('attributes', {})}\n")
        if row.logs:
            t.append(f"  logs ({len(row.logs)})\n", style="bold")
            for r in row.logs:
                t.append_text(log_text(r, 2))
                t.append("\n")
        for i, lk in enumerate(s.links):
            t.append(f"  link {i + 1} → trace {lk.trace_id} span {lk.span_id}", style="green")
            t.append("  (l jumps)\n" if i == 0 else "\n")
        return t
    rec = row.record
    if isinstance(rec, FoldedRun):
        t.append(f"{rec.service} · {len(rec.spans):,} more {rec.name}", style="bold")
        t.append(f"  folded: siblings of one service and operation\n{rec.text}\n")
        t.append("  f (or enter) unfolds them · a shows every span\n", style="dim")
        return t
    if isinstance(rec, DeadLetter):
        t.append(f"dead letter {rec.coordinates}\n", style="bold red")
        t.append(f"  from {rec.original_topic}:{rec.original_partition}:{rec.original_offset}\n")
        t.append(f"  {rec.exception_class or ''}: {rec.exception_message or ''}\n")
        t.append(f"  status {rec.status}  (3 opens the dead letters)\n")
    elif isinstance(rec, Hop):
        t.append(f"hop {rec.topic}:{rec.partition}:{rec.offset}", style="bold magenta")
        key = "none" if rec.key is None else header_text(rec.key)
        t.append(f"  {rec.size} B  key {key}\n")
        for name, value in rec.headers:
            t.append(f"  {name}: {header_text(value)}\n")
    else:
        t.append(row.label, style="bold")
    return t


def time_axis(t0: int, t1: int, width: int) -> str:
    total = (t1 - t0) / MS
    if total >= 10_000:
        right = f"{total / 1000:,.0f} s"
    else:
        right = f"{total:.0f} ms" if total >= 10 else f"{total:.1f} ms"
    return "0".ljust(max(1, width - len(right))) + right


def spans_link_target(rows: Sequence[WaterfallRow], row: WaterfallRow) -> tuple[int | None, str]:
    """(row index of the first linked span if it is in this journey, its trace id)."""
    if row.span is None or not row.span.links:
        return None, ""
    lk = row.span.links[0]
    key = f"span:{lk.trace_id}:{lk.span_id}"
    for i, r in enumerate(rows):
        if r.key == key:
            return i, lk.trace_id
    return None, lk.trace_id
