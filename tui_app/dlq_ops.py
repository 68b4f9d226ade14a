"""What the DLQ screens' workers call: the dead-letter service (console/dlq/service.py), the one the
CLI's ``dlq`` commands call too, with its results turned into what the screens show. Every
function takes the ``DataSource`` and runs in a worker thread.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from rich.text import Text

from console.base.errors import InputError
from console.base.model import AuditEntry, Header
from console.dlq import DlqFilter, ListItem, contract_topic, headers_with_schema
from console.dlq.fix import editable_text
from console.dlq.jsondoc import pretty_json
from console.dlq.replay import ProgressFn
from console.dlq.service import DeadLetterService
from console.dlq.show import DeadLetterDetail as Detail
from console.dlq.target import BrokerUnreachable, ClusterMismatch
from tui_app.messages import DeadLetterDetail
from tui_app.source import DataSource

__all__ = [
    "audit",
    "dead_letter_detail",
    "dead_letter_extent",
    "discard",
    "editable_payload",
    "errors_by_line",
    "list_dead_letters",
    "replay",
    "replay_target",
    "save_fix",
    "validate_payload",
]


def _service(source: DataSource) -> DeadLetterService:
    return source.dead_letters


def list_dead_letters(
    source: DataSource, *, status: str | None, text: str | None, since_ms: int | None = None
) -> list[ListItem]:
    """``dlq list``'s rows; ``text`` matches a topic, an error or a correlation id;
    ``since_ms``: dead-lettered at or after (the window every screen shares)."""
    service = _service(source)
    if not text:
        return service.list_items(DlqFilter(status=status, since_ms=since_ms))
    seen: dict[str, ListItem] = {}
    for flt in (
        DlqFilter(status=status, topic=text, since_ms=since_ms),
        DlqFilter(status=status, error=text, since_ms=since_ms),
        DlqFilter(status=status, correlation_id=text, since_ms=since_ms),
    ):
        for item in service.list_items(flt):
            seen.setdefault(item.coordinates, item)
    return sorted(seen.values(), key=lambda d: (-d.timestamp_ms, d.coordinates))


def dead_letter_extent(source: DataSource, *, status: str | None) -> tuple[int, int | None]:
    """How many dead letters (of ``status``) the store holds, whatever the window, and the
    DLQ timestamp (ms) of the newest."""
    return _service(source).extent(DlqFilter(status=status))


def editable_payload(
    service: DeadLetterService, payload: bytes | None, headers: Sequence[Header], topic: str
) -> str:
    try:
        return editable_text(payload, service.codec, headers, topic)
    except InputError:
        return ""


def dead_letter_detail(source: DataSource, coords: str) -> DeadLetterDetail:
    """``dlq show`` for the detail pane, rendered as ``Text``, and the payload to edit."""
    service = _service(source)
    detail = service.show(coords)
    d = detail.dead_letter
    t, history = _detail_text(detail)
    latest: bytes | None = d.payload
    headers: Sequence[Header] = d.headers
    if detail.fixes:
        latest = detail.fixes[-1].payload
        headers = headers_with_schema(d.headers, detail.fixes[-1].schema_header)
    editable = editable_payload(service, latest, headers, contract_topic(d))
    v = detail.fixed_verdict or detail.verdict
    return DeadLetterDetail(coords, t, editable, v.valid, history)


def _detail_text(detail: Detail) -> tuple[Text, list[str]]:
    d = detail.dead_letter
    t = Text()
    t.append(f"{d.coordinates}", style="bold")
    t.append(f"  {d.status}  {d.convention} headers  {d.payload_size} B")
    t.append(f"  cluster {d.cluster_id}\n" if d.cluster_id else "\n")
    if d.original_topic:
        t.append(f"from {d.original_topic}:{d.original_partition}:{d.original_offset}")
        t.append(f"  group {d.consumer_group or '-'}\n")
    if d.exception_class or d.exception_message:
        t.append(f"{d.exception_class or ''}: {d.exception_message or ''}\n", style="red")
    t.append("journey: ", style="bold")
    t.append(detail.journey + "\n")
    v = detail.fixed_verdict or detail.verdict
    which = f"fix v{len(detail.fixes)}" if detail.fixed_verdict else "original"
    style = {"valid": "bold green", "invalid": "bold red"}.get(v.status, "yellow")
    origin = v.source if "://" in v.source else Path(v.source).name
    t.append(f"contract {origin} ({which}): ", style="bold")
    t.append(v.status, style=style)
    if v.valid is None and v.note:
        # Paths under the directory the console started in, relative to it (shorter to read).
        t.append(" " + v.note.replace(f"{Path.cwd()}{os.sep}", ""))
    t.append("\n")
    for viol in v.violations:
        t.append(f"  {viol}\n", style="red")
    t.append("headers\n", style="bold")
    for h in detail.headers:  # Spring's binary numbers come decoded by console/dlq/show.py
        t.append(f"  {h.name}", style="cyan")
        t.append(f": {h.value}\n")
    schema = detail.payload.schema if detail.payload else None
    via = f", {schema.describe()}" if schema else ""
    t.append(f"payload ({detail.payload_kind}{via})\n", style="bold")
    if detail.payload and detail.payload.note:
        t.append(detail.payload.note + "\n", style="yellow")
    if detail.key is not None and detail.key.decoded is not None:
        t.append(f"key ({detail.key.kind}) {detail.key.text}\n")
    t.append(detail.payload_text + "\n")
    if detail.fixed_text is not None:
        t.append(f"fixed payload (v{len(detail.fixes)})\n", style="bold green")
        t.append(detail.fixed_text + "\n")
    history = [
        f"replay #{r.replay_count} → {r.target_topic}:{r.target_partition}:{r.target_offset}"
        f" {r.state}" + (f" ({r.error})" if r.error else "")
        for r in detail.replays
    ]
    if history:
        t.append("replays\n", style="bold")
        for line in history:
            t.append(f"  {line}\n")
    return t, history


def validate_payload(source: DataSource, coords: str, text: str) -> list[tuple[int | None, str]]:
    """The contract's verdict on edited text, as (line in ``text``, message); [] when valid."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        return [(exc.lineno, f"not JSON: {exc.msg} (column {exc.colno})")]
    verdict = _service(source).verdict_of_text(coords, text)
    if verdict.valid is not False:
        return []
    same_layout = text.strip() == pretty_json(document).strip()
    if same_layout:
        return [(v.line, f"{v.path}: {v.message}") for v in verdict.violations]
    return errors_by_line(text, [(v.path, f"{v.path}: {v.message}") for v in verdict.violations])


def save_fix(source: DataSource, coords: str, text: str) -> str:
    """Store the edited payload as the next fixed version (``dlq fix``); returns the result."""
    service = _service(source)
    d = service.get(coords)
    fixed = service.fix(coords, service.bytes_of_text(d, text)).fixed
    return f"stored fix v{fixed.version} of {d.coordinates}"


def replay_target(source: DataSource, coords: list[str]) -> tuple[bool, str]:
    """Before the confirmation: the target cluster answers and is the one the dead letters came
    from (the same check as ``dlq replay``). ``(True, question)`` names the cluster and topics;
    ``(False, why)`` otherwise."""
    service = _service(source)
    if service.cluster is None:
        return False, "no Kafka bootstrap servers: start the console with --bootstrap"
    letters = [service.get(c) for c in coords]
    try:
        target = service.check_target(letters)
    except BrokerUnreachable as exc:
        return False, f"broker down: {exc}"
    except ClusterMismatch as exc:
        return False, str(exc)
    topics = sorted({d.original_topic or "?" for d in letters})
    what = (
        letters[0].coordinates
        if len(coords) == 1
        else f"all {len(coords)} pending dead letters shown"
    )
    return True, (
        f"Replay {what} to {', '.join(topics)} on cluster {target.cluster_id} ({target.bootstrap})?"
    )


def replay(source: DataSource, coords: list[str], progress: ProgressFn | None) -> tuple[bool, str]:
    """``dlq replay``: the service's replay (one at a time per store; check the target cluster,
    reconcile, plan, send through the idempotent producer)."""
    service = _service(source)
    if service.cluster is None:
        return False, "no Kafka bootstrap servers: start the console with --bootstrap"
    letters = [service.get(c) for c in coords]
    try:
        outcome = service.replay(letters, progress=progress)
    except BrokerUnreachable as exc:
        return False, f"broker down: {exc}"
    except ClusterMismatch as exc:
        return False, str(exc)
    plan, report = outcome.plan, outcome.report
    if not plan.items:
        reason = plan.refused[0].reason if plan.refused else "nothing to replay"
        return False, f"not replayed: {reason}"
    summary = f"replayed {report.acked} message(s)"
    if report.failed:
        summary += f", {report.failed} failed: " + "; ".join(list(report.errors.values())[:2])
    if plan.refused:
        summary += f", {len(plan.refused)} skipped"
    return outcome.ok, summary


def discard(source: DataSource, coords: str) -> str:
    service = _service(source)
    d = service.get(coords)
    return service.discard([d], reason="tui").get(d.coordinates, "")


def audit(source: DataSource) -> list[AuditEntry]:
    return _service(source).audit(limit=500)


def errors_by_line(text: str, errors: list[tuple[str, str]]) -> list[tuple[int | None, str]]:
    """Map (JSON path, message) to the line of ``text`` where the path's last key sits."""
    lines = text.splitlines()
    out: list[tuple[int | None, str]] = []
    for path, message in errors:
        key = re.split(r"[.\[\]]", path.rstrip("]"))[-1].strip("\"'") if path else ""
        line = None
        if key and not key.isdigit() and key != "$":
            needle = json.dumps(key)
            line = next((i for i, ln in enumerate(lines, 1) if needle in ln), None)
        out.append((line, message))
    return out
