"""The one seam between the screens' workers and the domain: console/journeys, console/dlq,
console/dlq/show, console/dlq/fix, console/dlq/replay and console/contracts — the same functions
the CLI calls. Every function takes the ``DataSource`` and runs in a worker thread.

Journey reads share the source's store reader under its lock; dead-letter reads share its
connection (seams-dlq moves them behind the store's interface); writes (fix, replay, discard) open
their own connection so a long bulk replay never holds up the overview's refresh.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.text import Text

from tui_app.messages import DeadLetterDetail
from tui_app.source import DataSource

__all__ = [
    "audit",
    "dead_letter_detail",
    "dead_letter_extent",
    "discard",
    "editable_payload",
    "errors_by_line",
    "find_journey",
    "list_dead_letters",
    "query_kind",
    "recent_journeys",
    "replay",
    "save_fix",
    "validate_payload",
]

_COORD = re.compile(r"^(?P<topic>.+):(?P<partition>\d+):(?P<offset>\d+)$")
_TRACE = re.compile(r"^[0-9a-f]{32}$")


@contextmanager
def _own_connection(source: DataSource) -> Iterator[sqlite3.Connection]:
    conn: sqlite3.Connection = source.connect_dlq()
    try:
        yield conn
    finally:
        conn.close()


# journeys ----------------------------------------------------------------------------------
def query_kind(text: str) -> tuple[str, str]:
    """What a search box names: a Kafka coordinate (``message``), a trace id or a correlation id."""
    text = text.strip()
    if _COORD.match(text):
        return "message", text
    if _TRACE.match(text.lower()):
        return "trace_id", text.lower()
    return "correlation_id", text


def find_journey(source: DataSource, text: str) -> Any | None:
    """The journey a search names (a correlation id, trace id, ``TOPIC:P:O``, or a business key
    as ``trace --key`` takes it), None, or a list of summaries when a key names several."""
    from console.journeys import journey, journeys_by_key

    kind, value = query_kind(text)
    now = source.clock()
    # `kind` names one of journey()'s str lookups (query_kind), never now_ns: mypy types a
    # **{str: str} as possibly now_ns too
    found = source.call(lambda store: journey(store, **{kind: value}, now_ns=now))  # type: ignore[arg-type]  # see above
    if found is None and kind == "trace_id":  # a 32-hex correlation id is possible too
        found = source.call(lambda store: journey(store, correlation_id=text.strip(), now_ns=now))
    if found is None and kind != "message":
        by_key = source.call(lambda store: journeys_by_key(store, text.strip(), now_ns=now))
        if len(by_key) == 1:
            return by_key[0]
        if by_key:
            return [j.summary() for j in by_key]
    return found


def journey_query(journey: Any) -> str | None:
    """What finds ``journey`` again: its correlation id, else its first trace id."""
    cid = getattr(journey, "correlation_id", None)
    if cid:
        return str(cid)
    traces = getattr(journey, "trace_ids", ()) or ()
    return str(traces[0]) if traces else None


def row_id(row: Any, journey_id: str) -> str:
    """The id a waterfall row stands for: a span's id, a hop's or dead letter's coordinates, or
    the journey's id on a service row."""
    if row is None:
        return journey_id
    if row.span is not None:
        return str(row.span.span_id)
    if row.kind in ("hop", "dead_letter"):
        return str(row.label).removeprefix("DLQ ")
    return journey_id


def dead_letter_of(row: Any, dead_letters: Any) -> str | None:
    """The coordinates of the dead letter a waterfall row shows, or the one its hop became."""
    if row is None:
        return None
    rec = getattr(row, "record", None)
    if row.kind == "dead_letter" and rec is not None:
        return str(rec.coordinates)
    if row.kind == "hop" and rec is not None:
        for d in dead_letters:
            if (d.original_topic, d.original_partition, d.original_offset) == (
                rec.topic,
                rec.partition,
                rec.offset,
            ) or (d.dlq_topic, d.partition, d.offset) == (rec.topic, rec.partition, rec.offset):
                return str(d.coordinates)
    return None


def recent_journeys(
    source: DataSource,
    *,
    status: str | None,
    service: str | None,
    topic: str | None,
    limit: int = 100,
) -> list[Any]:
    from console.journeys import journeys, journeys_on_topic

    now = source.clock()
    since = source.since_s()  # the window every screen shares (``w``)
    if topic is None:
        return source.call(
            lambda store: journeys(
                store, status=status, since_s=since, service=service, limit=limit, now_ns=now
            )
        )
    return source.call(
        lambda store: journeys_on_topic(store, topic, status=status, limit=limit, now_ns=now)
    )


# dead letters ------------------------------------------------------------------------------
def _contracts(source: DataSource) -> Any:
    from console.dlq.contracts import open_contracts

    return open_contracts(source.contracts_dir, source.schema_registry, strict=False)


def _codec(source: DataSource) -> Any:
    """The registry codec (``--schema-registry``), made once per source; None without one."""
    if source._codec is None and source.schema_registry:
        from console.dlq.codecs import open_codec

        source._codec = open_codec(source.schema_registry, source.schema_registry_config)
    return source._codec


def list_dead_letters(
    source: DataSource, *, status: str | None, text: str | None, since_ms: int | None = None
) -> list[Any]:
    """``dlq list``'s rows; ``text`` matches a topic, an error or a correlation id;
    ``since_ms``: dead-lettered at or after (the window every screen shares)."""
    from console.dlq import DlqFilter, list_dead_letters

    if not text:
        flt = DlqFilter(status=status, since_ms=since_ms)
        return source.call_dlq(lambda conn: list_dead_letters(conn, flt))
    seen: dict[str, Any] = {}
    for flt in (
        DlqFilter(status=status, topic=text, since_ms=since_ms),
        DlqFilter(status=status, error=text, since_ms=since_ms),
        DlqFilter(status=status, correlation_id=text, since_ms=since_ms),
    ):
        for item in source.call_dlq(lambda conn, f=flt: list_dead_letters(conn, f)):
            seen.setdefault(item.coordinates, item)
    return sorted(seen.values(), key=lambda d: (-d.timestamp_ms, d.coordinates))


def dead_letter_extent(source: DataSource, *, status: str | None) -> tuple[int, int | None]:
    """How many dead letters (of ``status``) the store holds, whatever the window, and the
    DLQ timestamp (ms) of the newest."""
    from console.dlq import DlqFilter, dead_letter_extent

    return source.call_dlq(lambda conn: dead_letter_extent(conn, DlqFilter(status=status)))


def editable_payload(
    payload: bytes | None, codec: Any = None, headers: Any = (), topic: str = ""
) -> str:
    from console.base.errors import InputError
    from console.dlq.fix import editable_text

    try:
        return editable_text(payload, codec, headers, topic)
    except InputError:
        return ""


def dead_letter_detail(source: DataSource, coords: str) -> DeadLetterDetail:
    """``dlq show`` for the detail pane, rendered as ``Text``, and the payload to edit."""
    from console.dlq import contract_topic, headers_with_schema
    from console.dlq.show import show

    contracts = _contracts(source)
    codec = _codec(source)
    detail = source.call_dlq(lambda conn: show(conn, coords, contracts, codec))
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
    if detail.fixes:
        latest, headers = detail.fixes[-1].payload, d.headers
        headers = headers_with_schema(d.headers, detail.fixes[-1].schema_header)
    else:
        latest, headers = d.payload, d.headers
    editable = editable_payload(latest, codec, headers, contract_topic(d))
    return DeadLetterDetail(coords, t, editable, v.valid if v.valid is not None else None, history)


def validate_payload(source: DataSource, coords: str, text: str) -> list[tuple[int | None, str]]:
    """The contract's verdict on edited text, as (line in ``text``, message); [] when valid."""
    from console.dlq import contract_topic, get_dead_letter
    from console.dlq.contracts import check, pretty_json
    from console.dlq.fix import from_editor

    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        return [(exc.lineno, f"not JSON: {exc.msg} (column {exc.colno})")]
    codec = _codec(source)
    if codec is not None:  # a wire-format payload: the verdict is whether it encodes
        from console.dlq.fix import prepare_fix

        verdict = source.call_dlq(
            lambda conn: prepare_fix(conn, coords, text.encode(), _contracts(source), codec)
        ).verdict
    else:
        d = source.call_dlq(lambda conn: get_dead_letter(conn, coords))
        verdict = check(_contracts(source), contract_topic(d), from_editor(text))
    if verdict.valid is not False:
        return []
    same_layout = text.strip() == pretty_json(document).strip()
    if same_layout:
        return [(v.line, f"{v.path}: {v.message}") for v in verdict.violations]
    return errors_by_line(text, [(v.path, f"{v.path}: {v.message}") for v in verdict.violations])


def save_fix(source: DataSource, coords: str, text: str) -> str:
    """Store the edited payload as the next fixed version (``dlq fix``); returns the result."""
    from console.dlq import contract_topic, current_version, get_dead_letter
    from console.dlq.fix import from_editor, prepare_fix
    from console.dlq.fix import save_fix as store_fix

    contracts = _contracts(source)
    codec = _codec(source)
    with _own_connection(source) as conn:
        d = get_dead_letter(conn, coords)
        payload, _, headers = current_version(conn, d)
        decoded = codec is not None and codec.decode(payload, headers, contract_topic(d))
        new = text.encode() if decoded else from_editor(text)
        fixed = store_fix(conn, prepare_fix(conn, coords, new, contracts, codec))
    return f"stored fix v{fixed.version} of {d.coordinates}"


ProgressFn = Callable[[int, int], None]


def _kafka_conf(source: DataSource) -> dict[str, Any] | None:
    if source.kafka is not None:
        return dict(source.kafka)
    if source.bootstrap:
        from console.base.kafka_config import kafka_config

        return dict(kafka_config(source.bootstrap))
    return None


def replay_target(source: DataSource, coords: list[str]) -> tuple[bool, str]:
    """Before the confirmation: the target cluster answers and is the one the dead letters came
    from (the same check as ``dlq replay``). ``(True, question)`` names the cluster and topics;
    ``(False, why)`` otherwise."""
    from console.dlq import get_dead_letter
    from console.dlq.replay import check_target
    from console.dlq.target import BrokerUnreachable, ClusterMismatch

    conf = _kafka_conf(source)
    if conf is None:
        return False, "no Kafka bootstrap servers: start the console with --bootstrap"
    try:
        with _own_connection(source) as conn:
            letters = [get_dead_letter(conn, c) for c in coords]
            target = check_target(conn, conf, letters)
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
    """``dlq replay``: one replay at a time per store; check the target cluster, reconcile, plan,
    send through the idempotent producer (the same calls as the CLI)."""
    from console.dlq import get_dead_letter
    from console.dlq.replay import Replayer, check_target, prepare_replay, replay_lock
    from console.dlq.target import BrokerUnreachable, ClusterMismatch

    conf = _kafka_conf(source)
    if conf is None:
        return False, "no Kafka bootstrap servers: start the console with --bootstrap"
    with _own_connection(source) as conn, replay_lock(conn):
        targets = [get_dead_letter(conn, c) for c in coords]
        try:
            target = check_target(conn, conf, targets)
        except BrokerUnreachable as exc:
            return False, f"broker down: {exc}"
        except ClusterMismatch as exc:
            return False, str(exc)
        _, plan = prepare_replay(conn, conf, targets, target=target)
        if not plan.items:
            reason = plan.refused[0].reason if plan.refused else "nothing to replay"
            return False, f"not replayed: {reason}"
        report = Replayer(conn, conf, progress=progress).run(plan.items)
    ok = report.failed == 0 and not report.errors
    summary = f"replayed {report.acked} message(s)"
    if report.failed:
        summary += f", {report.failed} failed: " + "; ".join(list(report.errors.values())[:2])
    if plan.refused:
        summary += f", {len(plan.refused)} skipped"
    return ok, summary


def discard(source: DataSource, coords: str) -> str:
    from console.dlq import discard as discard_dead_letters
    from console.dlq import get_dead_letter

    with _own_connection(source) as conn:
        d = get_dead_letter(conn, coords)
        result = discard_dead_letters(conn, [d], reason="tui")
    return result.get(d.coordinates, "")


def audit(source: DataSource) -> list[Any]:
    from console.dlq import audit_log

    return source.call_dlq(lambda conn: audit_log(conn, limit=500))


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
