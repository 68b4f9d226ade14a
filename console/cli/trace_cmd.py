"""``handoff-console trace`` (one journey) and ``handoff-console journeys`` (the recent ones).

Exit codes: 0 found, 1 not found (one line on stderr), 2 bad input.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from console.base.config import parse_duration
from console.base.errors import HandoffError, InputError
from console.base.jsontext import pretty
from console.cli.options import DbOpt, JsonOpt, StoreOpt, shown, store_location
from console.journeys import STATUSES, journey, journeys, journeys_by_key
from console.journeys.export import journey_json, summary_json
from console.journeys.export import otlp_json as otlp_json_doc
from console.journeys.render import render_journey, render_summaries
from console.store import Storage, open_store

__all__ = ["register"]


class NotFound(HandoffError):
    exit_code = 1


def register(app: typer.Typer) -> None:
    app.command("trace")(trace)
    app.command("journeys")(list_journeys)


def _seconds(text: str, flag: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise InputError(f"{flag}: {exc}") from None


def _open(db: Path | None, store: str | None = None) -> Storage:
    """The store a reading command names (``--db`` or ``--store``), never created or upgraded."""
    where = store_location(db, store)
    if isinstance(where, Path) and not where.exists():
        raise NotFound(f"no handoff-console database at {where} (pass --db or --store)")
    return open_store(where, create=False, upgrade=False)


@contextlib.contextmanager
def _opened(db: Path | None, store: str | None) -> Iterator[Storage]:
    """``_open``, closed after (a chDB store lets go of its engine)."""
    storage = _open(db, store)
    try:
        yield storage
    finally:
        storage.close()


def trace(
    correlation_id: Annotated[
        str | None, typer.Option("--correlation-id", help="The x-correlation-id to follow.")
    ] = None,
    trace_id: Annotated[
        str | None, typer.Option("--trace-id", help="A trace id (32 hex) to start from.")
    ] = None,
    message: Annotated[
        str | None,
        typer.Option("--message", help="A Kafka message TOPIC:PARTITION:OFFSET to start from."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="A business key: a Kafka message key (binary ones as 0x hex) or the value of an "
            "attribute or JSON payload field named with --key-attribute.",
        ),
    ] = None,
    db: DbOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    otlp_json: Annotated[
        Path | None,
        typer.Option("--otlp-json", help="Also write the spans as OTLP JSON to FILE."),
    ] = None,
    stall_after: Annotated[
        str, typer.Option("--stall-after", help="A send nobody took for this long is stalled.")
    ] = "30s",
    every_span: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Print every span (by default runs of repeated siblings are folded into one "
            "'… N more' line, keeping errors, handoffs, dead letters and the slowest).",
        ),
    ] = False,
) -> None:
    """Follow one journey across services, traces and Kafka handoffs."""
    selectors = [
        f
        for f, v in (
            ("--correlation-id", correlation_id),
            ("--trace-id", trace_id),
            ("--message", message),
            ("--key", key),
        )
        if v
    ]
    if len(selectors) != 1:
        given = ", ".join(selectors) if selectors else "none"
        raise InputError(
            f"give exactly one of --correlation-id, --trace-id, --message, --key (given: {given})"
        )
    if trace_id is not None and (
        len(trace_id) != 32 or any(c not in "0123456789abcdefABCDEF" for c in trace_id)
    ):
        raise InputError(f"--trace-id must be 32 hex digits, got {trace_id!r}")
    stall_s = _seconds(stall_after, "--stall-after")
    if message is not None:
        from console.journeys import parse_message

        parse_message(message)  # bad input before touching the store
    with _opened(db, store) as storage:
        if key is not None:
            found = journeys_by_key(storage, key, stall_after_s=stall_s)
        else:
            found = None
            j = journey(
                storage,
                correlation_id=correlation_id,
                trace_id=trace_id,
                message=message,
                stall_after_s=stall_s,
            )
    if found is not None:
        if len(found) > 1:  # several: listed, as ``journeys`` lists them
            items = [f.summary() for f in found]
            if as_json:
                typer.echo(pretty([summary_json(s) for s in items]))
                return
            typer.echo(f"{len(found)} journeys for --key {key}; open one with --correlation-id")
            Console().print(render_summaries(items))
            return
        j = found[0] if found else None
    if j is None:
        what = {
            "--correlation-id": correlation_id,
            "--trace-id": trace_id,
            "--message": message,
            "--key": key,
        }
        raise NotFound(
            f"no journey for {selectors[0]} {what[selectors[0]]} in "
            f"{shown(store_location(db, store))}"
        )
    if otlp_json is not None:
        otlp_json.write_text(json.dumps(otlp_json_doc(j.spans), indent=1) + "\n")
    if as_json:
        typer.echo(pretty(journey_json(j)))
        return
    Console().print(render_journey(j, every_span=every_span))
    if otlp_json is not None:
        typer.echo(f"wrote {len(j.spans)} spans as OTLP JSON to {otlp_json}")


def list_journeys(
    db: DbOpt = None,
    store: StoreOpt = None,
    status: Annotated[
        str | None, typer.Option("--status", help=f"Only this status: {', '.join(STATUSES)}.")
    ] = None,
    since: Annotated[
        str, typer.Option("--since", help="Activity within this long (10m, 24h).")
    ] = "1h",
    service: Annotated[
        str | None, typer.Option("--service", help="Only journeys touching it.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    stall_after: Annotated[
        str, typer.Option("--stall-after", help="A send nobody took for this long is stalled.")
    ] = "30s",
    as_json: JsonOpt = False,
) -> None:
    """The recent journeys and their status, most recent first."""
    if status is not None and status not in STATUSES:
        raise InputError(f"--status must be one of {', '.join(STATUSES)}, got {status!r}")
    since_s = _seconds(since, "--since")
    stall_s = _seconds(stall_after, "--stall-after")
    with _opened(db, store) as storage:
        items = journeys(
            storage,
            status=status,
            since_s=since_s,
            service=service,
            limit=limit,
            stall_after_s=stall_s,
        )
    if as_json:
        typer.echo(pretty([summary_json(s) for s in items]))
        return
    if not items:
        typer.echo(
            "no journeys" + (f" with status {status}" if status else "") + f" in the last {since}"
        )
        return
    Console().print(render_summaries(items))
