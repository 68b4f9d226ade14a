"""Rich renderings for the ``dlq`` commands (presentation only, no I/O but the console)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from console.base.model import AuditEntry, ReplayEntry
    from console.dlq import DepthRow, ListItem
    from console.dlq.contracts import Verdict
    from console.dlq.ledger import ReconcileReport
    from console.dlq.plan import ReplayPlan
    from console.dlq.replay import ReplayReport
    from console.dlq.show import DeadLetterDetail

__all__ = [
    "audit",
    "audit_dict",
    "dead_letter_list",
    "detail",
    "diff",
    "dry_run",
    "reconciled",
    "replay_sent",
    "skipped",
    "unsent",
    "verdict",
]


def _age(ms: int | None, now_ms: int) -> str:
    if ms is None:
        return "-"
    s = max(0, (now_ms - ms) // 1000)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def _time(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


def dead_letter_list(
    console: Console, items: Sequence[ListItem], depth: Sequence[DepthRow], limit: int
) -> None:
    now = int(time.time() * 1000)
    table = Table(title="dead letters", show_lines=False)
    table.add_column("coordinates", overflow="fold")  # kept whole: it is what you copy
    for col in ("age", "original", "exception", "message", "correlation id"):
        # One line per dead letter: folding 100 rows costs more than showing them.
        table.add_column(col, overflow="ellipsis", no_wrap=True, max_width=48)
    table.add_column("status", no_wrap=True)
    for i in items:
        original = (
            f"{i.original_topic}:{i.original_partition}:{i.original_offset}"
            if i.original_topic
            else "-"
        )
        exc = (i.exception_class or "-").rsplit(".", 1)[-1]
        table.add_row(
            i.coordinates,
            _age(i.timestamp_ms, now),
            original,
            escape(exc),
            escape((i.exception_message or "")[:80]),
            i.correlation_id or "-",
            i.status,
        )
    console.print(table)
    total = sum(d.total for d in depth)
    if limit and len(items) >= limit and total > len(items):
        console.print(f"showing the newest {len(items)} of {total}; --limit 0 shows all")
    summary = Table(title="depth per DLQ topic")
    for col in ("dlq topic", "pending", "replayed", "discarded", "total", "oldest pending"):
        summary.add_column(col, justify="left" if col == "dlq topic" else "right")
    for d in depth:
        summary.add_row(
            d.dlq_topic,
            str(d.pending),
            str(d.replayed),
            str(d.discarded),
            str(d.total),
            _age(d.oldest_pending_ms, now),
        )
    console.print(summary)


def verdict(console: Console, v: Verdict) -> None:
    colour = {"valid": "green", "invalid": "red", "unchecked": "yellow"}[v.status]
    console.print(f"contract: [{colour}]{v.status}[/] — {escape(v.note)}")
    for violation in v.violations:
        console.print(f"  [red]✗[/] {escape(str(violation))}")


def diff(console: Console, text: str) -> None:
    if not text:
        console.print("no change")
        return
    from rich.syntax import Syntax

    console.print(Syntax(text.rstrip("\n"), "diff", theme="ansi_dark", word_wrap=True))


def detail(console: Console, det: DeadLetterDetail) -> None:
    d = det.dead_letter
    h = det.decoded  # the headers decoded, the record's fields where they are silent
    console.rule(f"[bold]{d.coordinates}[/] ({d.status})")
    original = (
        f"{h.get('original_topic')}:{h.get('original_partition')}:{h.get('original_offset')}"
        if h.get("original_topic")
        else "unknown"
    )
    facts: list[tuple[str, Any]] = [
        ("dead-lettered", datetime.fromtimestamp(d.timestamp_ms / 1000, UTC).isoformat()),
        ("convention", h.get("convention") or d.convention),
        ("original", original),
        ("consumer group", h.get("consumer_group")),
        ("exception", h.get("exception_class")),
        ("cause", h.get("exception_cause_class")),
        ("message", h.get("exception_message")),
        ("correlation id", d.correlation_id),
        ("trace id", d.trace_id),
        ("cluster", d.cluster_id),
        ("journey", det.journey),
    ]
    if det.key is not None and det.key.decoded is not None:
        facts.append(("key", f"{det.key.kind} {det.key.text}"))
    for name, value in facts:
        if value:
            console.print(f"[bold]{name}:[/] {escape(str(value))}")
    headers = Table(title="headers", show_header=True)
    headers.add_column("name")
    headers.add_column("value", overflow="fold")
    for line in det.headers:
        value = line.value if len(line.value) <= 200 else line.value[:200] + "…"
        headers.add_row(
            escape(line.name),
            # A decoded binary number shows its bytes too; text stays text.
            escape(value)
            + (
                f"  ({line.raw})"
                if line.value.lstrip("-").isdigit() and line.raw != line.value
                else ""
            ),
        )
    console.print(headers)
    size = f"{d.payload_size} bytes" + (" (truncated in the store)" if d.payload_truncated else "")
    schema = det.payload.schema if det.payload else None
    via = f", {escape(schema.describe())}" if schema else ""
    console.print(f"[bold]payload[/] ({det.payload_kind}, {size}{via}):")
    if det.payload and det.payload.note:
        console.print(f"[yellow]{escape(det.payload.note)}[/]")
    _payload(console, det.payload_kind, det.payload_text)
    verdict(console, det.verdict)
    if det.fixes:
        last = det.fixes[-1]
        console.print(
            f"[bold]fix v{last.version}[/] by {escape(last.author)} at {_time(last.created_ns)} "
            f"({len(det.fixes)} version(s)); a replay sends it:"
        )
        _payload(console, det.fixed_kind or "text", det.fixed_text or "")
        if det.fixed_verdict:
            verdict(console, det.fixed_verdict)
    if det.replays:
        console.print("[bold]replays:[/]")
        for r in det.replays:
            where = f"{r.target_topic}:{r.target_partition}:{r.target_offset}"
            if r.target_partition is None:
                where = r.target_topic
            console.print(
                f"  #{r.replay_count} {r.state} → {where} (x-replay-id {r.replay_id}, "
                f"by {r.os_user} at {_time(r.created_ns)})" + (f" {r.error}" if r.error else "")
            )
    else:
        console.print("replays: none")


def _payload(console: Console, kind: str, text: str) -> None:
    from rich.syntax import Syntax

    if kind in ("json", "avro", "protobuf", "jsonschema"):
        console.print(Syntax(text, "json", theme="ansi_dark", line_numbers=True, word_wrap=True))
    else:
        console.print(text, markup=False, highlight=False)


def audit_dict(e: AuditEntry) -> dict[str, Any]:
    return {
        "time_ns": e.time_ns,
        "time": _time(e.time_ns),
        "os_user": e.os_user,
        "action": e.action,
        "target": e.target,
        "before_sha256": e.before_sha256,
        "after_sha256": e.after_sha256,
        "result": e.result,
        "detail": e.detail,
    }


def audit(console: Console, entries: Sequence[AuditEntry]) -> None:
    table = Table(title="audit log")
    for col in ("time (UTC)", "user", "action", "target", "before", "after", "result"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(
            _time(e.time_ns),
            e.os_user,
            e.action,
            e.target,
            (e.before_sha256 or "-")[:12],
            (e.after_sha256 or "-")[:12],
            escape(e.result),
        )
    console.print(table)


def reconciled(err: Console, rec: ReconcileReport) -> None:
    if rec.checked:
        err.print(
            f"reconciled {rec.checked} unfinished replay(s) of an earlier run: "
            f"{rec.found} found in the target, {rec.missing} to send again"
        )


def skipped(err: Console, plan: ReplayPlan) -> None:
    for r in plan.refused[:20]:
        err.print(f"skipped {r.coordinates}: {r.reason}", markup=False, highlight=False)
    if len(plan.refused) > 20:
        err.print(f"... and {len(plan.refused) - 20} more skipped")


def dry_run(out: Console, plan: ReplayPlan, as_json: bool) -> None:
    """What a dry run would send and skip (``dlq replay --dry-run``)."""
    from console.base.model import header_text

    if as_json:
        doc = {
            "dry_run": True,
            "items": [it.as_dict() for it in plan.items],
            "refused": [{"coordinates": r.coordinates, "reason": r.reason} for r in plan.refused],
        }
        print(json.dumps(doc), file=out.file)
        return
    for it in plan.items:
        src = "original payload" if it.payload_version == 0 else f"fix v{it.payload_version}"
        out.print(
            f"would send {it.coordinates} → {it.target_topic} ({src}, sha256 "
            f"{it.payload_sha256[:12]}, x-replay-id {it.replay_id}, x-replay-count "
            f"{it.replay_count})",
            markup=False,
            highlight=False,
        )
        headers = ", ".join(f"{n}={header_text(v)[:40]}" for n, v in it.headers)
        out.print(f"    headers: {headers}", markup=False, highlight=False)
    for r in plan.refused:
        out.print(f"would skip {r.coordinates}: {r.reason}", markup=False, highlight=False)
    out.print(
        f"dry run: {len(plan.items)} would be sent, {len(plan.refused)} skipped; nothing sent"
    )


def unsent(out: Console, err: Console, plan: ReplayPlan, as_json: bool) -> None:
    """A replay that sent nothing: a dry run's plan, or nothing to replay."""
    if plan.items:
        dry_run(out, plan, as_json)
        return
    skipped(err, plan)
    err.print(f"nothing to replay ({len(plan.refused)} skipped)")
    if as_json:
        out.print_json(json.dumps({"acked": 0, "failed": 0, "skipped": len(plan.refused)}))


def replay_sent(
    out: Console,
    err: Console,
    plan: ReplayPlan,
    report: ReplayReport,
    landed: ReplayEntry | None,
    as_json: bool,
) -> None:
    """The lines after a replay: where one message landed (``landed``, its ledger line), or
    failures and counts of acked, failed and skipped; ``--json``: the counts as one object."""
    if as_json:
        summary = {
            "acked": report.acked,
            "failed": report.failed,
            "skipped": len(plan.refused),
            "elapsed_s": round(report.elapsed_s, 3),
            "errors": report.errors,
        }
        print(json.dumps(summary), file=out.file)
        return
    for coords, error in list(report.errors.items())[:20]:
        err.print(f"failed {coords}: {error}", markup=False)
    if landed is not None:
        it = plan.items[0]
        out.print(
            f"replayed {it.coordinates} → {landed.target_topic}:{landed.target_partition}:"
            f"{landed.target_offset} (x-replay-id {it.replay_id}, replay #{it.replay_count})"
        )
        return
    out.print(
        f"replayed {report.acked} message(s), {report.failed} failed, "
        f"{len(plan.refused)} skipped in {report.elapsed_s:.1f}s"
    )
