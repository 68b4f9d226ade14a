"""A journey for people: the status on top, the critical path, then a waterfall on one shared
time axis.

``render_journey(j)`` returns a rich renderable (the ``trace`` command prints it; the TUI may too).
Runs of repeated siblings are folded into one line each (``console/journeys/fold.py``) unless
``every_span`` is set (``trace --all``).
Spans are rows indented by their parent chain; between them, the async handoffs with their gap
(``⇢``), dead letters (``✖ DLQ``) and replays (``↻``), and, by time, the span events (``⚠``
for a recorded exception: type, message, the stack's last line) and the log records (``≡``)
of the journey. Errors and dead letters are red.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from console.base.model import LogRecord, Span
from console.journeys.derive import is_consumer, is_producer
from console.journeys.fold import CriticalStep, Folded, fold_parts
from console.journeys.types import Journey, JourneySummary

__all__ = ["STATUS_STYLE", "event_text", "log_text", "render_journey", "render_summaries"]

STATUS_STYLE = {
    "completed": "bold green",
    "in_flight": "bold cyan",
    "stalled": "bold yellow",
    "dead_lettered": "bold red",
    "replayed": "bold magenta",
    "failed": "bold red",
}
BAR_WIDTH = 32


def _clock(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def _ms(ms: float) -> str:
    return f"{ms:,.1f} ms" if ms < 10_000 else f"{ms / 1000:,.1f} s"


def status_line(j: Journey) -> Text:
    style = STATUS_STYLE.get(j.status, "bold")
    line = Text()
    line.append(f" {j.status.upper().replace('_', ' ')} ", style=f"reverse {style}")
    line.append(f" at {j.where}", style=style)
    line.append(f"  {j.detail}")
    return line


def _bar(start: int, end: int, t0: int, total: int, style: str, char: str = "━") -> Text:
    a = min(BAR_WIDTH - 1, int((start - t0) / total * BAR_WIDTH))
    b = max(a + 1, min(BAR_WIDTH, round((end - t0) / total * BAR_WIDTH)))
    bar = Text(" " * a)
    bar.append(char * (b - a), style=style)
    bar.append(" " * (BAR_WIDTH - b))
    return bar


def _depths(spans: tuple[Span, ...]) -> dict[str, int]:
    by_id = {s.span_id: s for s in spans}
    depth: dict[str, int] = {}

    def d(s: Span, seen: int = 0) -> int:
        if s.span_id in depth:
            return depth[s.span_id]
        parent = by_id.get(s.parent_span_id or "")
        depth[s.span_id] = 0 if parent is None or seen > 50 else d(parent, seen + 1) + 1
        return depth[s.span_id]

    for s in spans:
        d(s)
    return depth


def _span_style(s: Span) -> str:
    if s.is_error:
        return "red"
    if is_consumer(s):
        return "cyan"
    if is_producer(s):
        return "magenta"
    return "green"


def fold_journey(j: Journey) -> Folded:
    """``fold_parts`` of a journey."""
    return fold_parts(j.spans, j.handoffs, j.logs, j.dead_letters)


def critical_text(steps: tuple[CriticalStep, ...]) -> Table:
    """The critical path by service and operation, in the order the path meets them, with the
    time each was alone on it (``xN`` after the operation where N of its spans are on it)."""
    total = sum(st.on_path_ns for st in steps)
    table = Table(box=None, show_header=False, pad_edge=False, expand=False)
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.title = f"critical path · {_ms(total / 1e6)}"
    table.title_justify = "left"
    table.title_style = "bold"
    seen: dict[tuple[str, str], list[int]] = {}
    for st in steps:
        seen.setdefault((st.span.service, st.span.name), []).append(st.on_path_ns)
    for (service, name), parts in seen.items():
        times = f" ×{len(parts):,}" if len(parts) > 1 else ""  # noqa: RUF001
        table.add_row(f"  {service}", f"{name}{times}", _ms(sum(parts) / 1e6))
    return table


def render_journey(j: Journey, *, every_span: bool = False) -> RenderableType:
    """Status line, a one-line header, the critical path and the waterfall (folded unless
    ``every_span``)."""
    t0 = j.started_ns
    total = max(1, j.ended_ns - t0)
    services = ", ".join(j.services) or "none"
    head = Text(
        f"correlation {j.correlation_id or '-'} · {len(j.trace_ids)} trace(s) · services {services}"
        f" · started {_clock(t0)} · {_ms(j.duration_ms)}",
        style="dim",
    )
    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False, expand=False)
    table.add_column("at", justify="right", no_wrap=True)
    table.add_column("service", no_wrap=True)
    table.add_column("operation")
    table.add_column(f"0 … {_ms(total / 1e6)}", no_wrap=True, width=BAR_WIDTH)
    table.add_column("took", justify="right", no_wrap=True)
    depth = _depths(j.spans)
    folded = fold_journey(j) if not every_span else None
    spans = folded.shown if folded is not None else j.spans
    shown_ids = {s.span_id for s in spans}
    calls = {h.to_span_id: h for h in j.handoffs if h.kind == "sync"}
    rows: list[tuple[int, int, int, tuple[RenderableType, ...]]] = []

    def add(t: int, order: int, *cells: RenderableType, level: int = 0) -> None:
        rows.append((t, order, level, cells))  # a parent before the child that starts with it

    def at(t: int) -> str:
        return f"+{_ms((t - t0) / 1e6)}"

    for s in spans:
        style = _span_style(s)
        op = Text("  " * depth[s.span_id] + s.name, style="red bold" if s.is_error else "")
        if s.is_error:
            op.append(f"  ✖ {s.status_message or 'error'}", style="red")
        call = calls.get(s.span_id)
        if call is not None and call.gap_ms is not None:
            op.append(f"  (call +{_ms(call.gap_ms)})", style="dim")
        bar = _bar(s.start_ns, s.end_ns, t0, total, style)
        took = _ms(s.duration_ns / 1e6)
        add(s.start_ns, 0, at(s.start_ns), s.service, op, bar, took, level=depth[s.span_id])
    for run in folded.runs if folded is not None else ():
        pad = "  " * (depth[run.spans[0].span_id])
        text = Text(pad + run.text, style="red" if run.errors else "dim")
        bar = _bar(run.start_ns, run.end_ns, t0, total, "dim", "┈")
        level = depth[run.spans[0].span_id]
        add(run.start_ns, 0, at(run.start_ns), run.service, text, bar, "", level=level)
    for h in j.handoffs:
        if h.kind != "async":
            continue
        where = f"{h.topic} [{h.partition}]@{h.offset}" if h.offset is not None else f"{h.topic}"
        who = f"{h.from_service or '?'} → {h.to_service or '…'}"
        if h.replay_id:
            who += f"  (replay {h.replay_id})"
        if h.delivered:
            text = Text(f"⇢ {where}  {who}", style="blue")
            if h.consumer_group:
                text.append(f" ({h.consumer_group})", style="dim")
            bar = _bar(h.sent_ns, h.received_ns or h.sent_ns, t0, total, "blue", "┈")
            add(h.sent_ns, 1, "", "", text, bar, f"gap {_ms(h.gap_ms or 0.0)}")
        elif h.followed:
            text = Text(f"⇢ {where}  {who}  taken (the journey went on)", style="blue")
            add(h.sent_ns, 1, "", "", text, _bar(h.sent_ns, h.sent_ns, t0, total, "blue"), "")
        else:
            text = Text(f"⇢ {where}  {who}  not taken", style="bold yellow")
            bar = _bar(h.sent_ns, j.ended_ns, t0, total, "yellow", "┄")
            add(h.sent_ns, 1, "", "", text, bar, "waiting")
    for d in j.dead_letters:
        t = d.timestamp_ms * 1_000_000
        reason = ": ".join(p for p in (d.exception_class, d.exception_message) if p) or "no reason"
        text = Text(f"✖ DLQ {d.coordinates}  {reason}", style="bold red")
        add(t, 2, at(t), d.consumer_group or "", text, _bar(t, t, t0, total, "red", "✖"), "")
    for r in j.replays:
        t = r.created_ns
        target = r.target_topic
        if r.target_offset is not None:
            target += f" [{r.target_partition}]@{r.target_offset}"
        text = Text(
            f"↻ replay {r.replay_id} of {r.dlq_topic}:{r.partition}:{r.offset} → {target}"
            f"  {r.state}",
            style="magenta",
        )
        add(t, 3, at(t), r.os_user, text, _bar(t, t, t0, total, "magenta", "↻"), "")
    for s in spans:
        for e in s.events:
            t = int(e.get("time_ns") or s.start_ns)
            add(t, 4, at(t), s.service, event_text(e, depth[s.span_id] + 1), "", "")
    for lr in j.logs:
        if lr.span_id and lr.span_id not in shown_ids and folded is not None:
            continue  # a folded span's record, folded with it
        add(lr.time_ns, 5, at(lr.time_ns), lr.service, log_text(lr, 1), "", "")
    for _t, _order, _level, cells in sorted(rows, key=lambda r: (r[0], r[1], r[2])):
        table.add_row(*cells)
    parts: list[RenderableType] = [status_line(j), head]
    critical = folded.critical if folded is not None else None
    if critical is None:
        from console.journeys.fold import critical_path

        critical = critical_path(j.spans)
    if critical:
        parts.append(critical_text(critical))
    parts.append(table)
    if folded is not None and folded.hidden:
        parts.append(
            Text(
                f"{folded.hidden:,} of {len(j.spans):,} spans folded into {len(folded.runs):,}"
                " lines (… more); --all prints every span",
                style="dim",
            )
        )
    return Group(*parts)


_SEVERITY_STYLE = {"ERROR": "red", "FATAL": "bold red", "WARN": "yellow", "WARNING": "yellow"}


def log_text(r: LogRecord, indent: int = 0) -> Text:
    """``≡ SEVERITY body`` for one log record."""
    severity = (r.severity_text or "LOG").upper()
    text = Text("  " * indent + f"≡ {severity} ", style=_SEVERITY_STYLE.get(severity, "dim"))
    text.append(r.body.replace("\n", " ⏎ "))
    return text


def event_text(e: dict[str, Any], indent: int = 0, stack: bool = False) -> Text:
    """A span event: an exception as ``⚠ Type: message`` (with its stack when asked, else the
    stack's last line), any other event as ``• name``."""
    attrs = e.get("attributes") or {}
    name = str(e.get("name", ""))
    pad = "  " * indent
    if name == "exception" or "exception.type" in attrs:
        kind = attrs.get("exception.type", "exception")
        text = Text(f"{pad}⚠ {kind}: {attrs.get('exception.message', '')}", style="red")
        trace_text = str(attrs.get("exception.stacktrace", "")).strip()
        if trace_text and stack:
            text.append("\n" + trace_text, style="dim")
        elif trace_text:
            text.append(f"  ({trace_text.splitlines()[-1].strip()})", style="dim")
        return text
    return Text(f"{pad}• {name}", style="dim")


def render_summaries(items: list[JourneySummary]) -> RenderableType:
    """The ``journeys`` table."""
    table = Table(show_header=True, header_style="bold")
    for name in ("correlation id", "status", "where", "started", "duration", "services"):
        table.add_column(name, no_wrap=name != "services")
    for s in items:
        table.add_row(
            s.correlation_id or "-",
            Text(s.status, style=STATUS_STYLE.get(s.status, "")),
            s.where,
            _clock(s.started_ns)[11:23],
            _ms(s.duration_ms),
            ", ".join(s.services),
        )
    return table
