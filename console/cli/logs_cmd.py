"""``handoff-console logs``: log records with filters, and ``--follow`` for new ones."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from console.base.errors import InputError
from console.base.model import LogRecord
from console.cli.options import DbOpt, JsonOpt, StoreOpt
from console.cli.trace_cmd import _open, _seconds
from console.readers.logs import (
    LogFilter,
    log_json,
    new_logs,
    parse_severity,
    recent_logs,
    severity_name,
)
from console.store import Cursor, StoreReader

__all__ = ["SEVERITY_STYLE", "register"]

SEVERITY_STYLE = {
    "TRACE": "dim",
    "DEBUG": "dim",
    "INFO": "",
    "WARN": "yellow",
    "ERROR": "red",
    "FATAL": "bold red",
}
_POLL_S = 0.5
_PAGE = 1000


def register(app: typer.Typer) -> None:
    app.command("logs")(logs)


def _line(r: LogRecord) -> Text:
    sev = severity_name(r) or r.severity_text or "-"
    clock = datetime.fromtimestamp(r.time_ns / 1e9, UTC).strftime("%H:%M:%S.%f")[:-3]
    t = Text(f"{clock} ")
    t.append(f"{sev:<5}", style=SEVERITY_STYLE.get(sev, ""))
    t.append(f" {r.service}  ", style="cyan")
    t.append(r.body)
    if r.correlation_id:
        t.append(f"  [{r.correlation_id}]", style="dim")
    return t


def logs(
    db: DbOpt = None,
    store: StoreOpt = None,
    service: Annotated[str | None, typer.Option("--service", help="Only this service.")] = None,
    severity: Annotated[
        str | None,
        typer.Option("--severity", help="At or above: DEBUG, INFO, WARN, ERROR, FATAL."),
    ] = None,
    grep: Annotated[
        str | None, typer.Option("--grep", help="Only bodies containing TEXT (any case).")
    ] = None,
    correlation_id: Annotated[
        str | None, typer.Option("--correlation-id", help="Only this journey's records.")
    ] = None,
    since: Annotated[
        str, typer.Option("--since", help="Records within this long (15m, 1h).")
    ] = "15m",
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most the newest N.")] = 1000,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Then print new records until Ctrl+C.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Log records, oldest first (with --json: a list; with --follow --json: one per line)."""
    since_s = _seconds(since, "--since")
    try:
        floor = parse_severity(severity) if severity else 0
    except ValueError as exc:
        raise InputError(f"--severity: {exc}") from None
    keep = LogFilter(service, floor, grep, correlation_id)
    storage = _open(db, store)
    reader = storage.reader()
    console = Console(highlight=False, soft_wrap=True)
    try:
        got, top = recent_logs(reader, time.time_ns() - int(since_s * 1e9), keep, limit)
        if as_json and not follow:
            typer.echo(json.dumps([log_json(r) for r in got], indent=2))
            return
        _print(console, got, as_json)
        if not follow:
            if not got:
                typer.echo(f"no log records in the last {since}", err=True)
            return
        _follow(reader, console, top, keep, as_json)
    finally:
        reader.close()
        storage.close()


def _print(console: Console, records: list[LogRecord], as_json: bool) -> None:
    for r in records:
        if as_json:
            typer.echo(json.dumps(log_json(r)))
        else:
            console.print(_line(r))


def _follow(
    reader: StoreReader, console: Console, after: Cursor, keep: LogFilter, as_json: bool
) -> None:
    """Poll for records stored after ``after`` until Ctrl+C (or SIGTERM)."""
    stop = threading.Event()
    try:
        while not stop.is_set():
            got, top = new_logs(reader, after, keep, _PAGE)
            _print(console, got, as_json)
            if top == after:  # caught up: wait for more
                stop.wait(_POLL_S)
            after = top
    except KeyboardInterrupt:
        return
