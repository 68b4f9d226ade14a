"""``handoff-console watch``: the alert rules, headless, over a store (beside ``serve``, or alone).

Every ``--interval`` it evaluates the rules (``console/alerts``), prints one line per state change
(firing, resolved; JSON lines with ``--json``) and, with ``--alertmanager URL``, posts to
Alertmanager's API v2. ``--once`` evaluates once and exits 0 when nothing fires, 1 when something
does, 2 on bad input (a bad rules file, a store that is not one, a bad URL).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from console.alerts import Alert, Evaluator, load_rules
from console.alerts.alertmanager import AlertmanagerClient, AlertmanagerError
from console.alerts.engine import ChangeFollower
from console.alerts.observe import Sources
from console.alerts.sources import open_sources
from console.base.config import parse_duration
from console.base.errors import InputError, StoreError
from console.cli.options import DbOpt, JsonOpt, RulesOpt, StoreOpt, store_location
from console.store import STORE_FAILURES, Store, open_store

__all__ = ["alert_line", "register"]


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)


def alert_line(a: Alert) -> str:
    """``TIME  FIRING  NAME{labels}  severity  summary  -> command`` for one change."""
    when = (a.to_json()["time"] or "").replace("+00:00", "Z")
    about = ",".join(f"{k}={v}" for k, v in a.about.items())
    severity = a.labels.get("severity", "")
    return (
        f"{when}  {a.state.upper():<8}  {a.name}{{{about}}}  {severity}  {a.summary}"
        f"  -> {a.command}"
    )


def _seconds(text: str, flag: str) -> float:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise InputError(f"{flag}: {exc}") from None
    if value <= 0:
        raise InputError(f"{flag}: must be above 0 s")
    return value


def watch(
    db: DbOpt = None,
    store: StoreOpt = None,
    rules: RulesOpt = None,
    once: Annotated[
        bool,
        typer.Option(
            "--once", help="Evaluate once; exit 0 when nothing fires, 1 when something does."
        ),
    ] = False,
    alertmanager: Annotated[
        str | None,
        typer.Option(
            "--alertmanager",
            envvar="HANDOFF_ALERTMANAGER",
            help="Post alerts to this Alertmanager (http://127.0.0.1:9093): API v2.",
            show_default=False,
        ),
    ] = None,
    interval: Annotated[
        str, typer.Option("--interval", help="How often the rules are evaluated (15s, 1m).")
    ] = "15s",
    resend: Annotated[
        str,
        typer.Option("--resend", help="How often a firing alert is posted again (1m)."),
    ] = "1m",
    as_json: JsonOpt = False,
) -> None:
    """Evaluate the alert rules over the store: one line per firing or resolved alert."""
    every_s = _seconds(interval, "--interval")
    resend_s = _seconds(resend, "--resend")
    rule_set = load_rules(rules)
    if alertmanager is not None and not alertmanager.startswith(("http://", "https://")):
        raise InputError(
            f"--alertmanager: expected an http:// or https:// URL, got {alertmanager!r}"
        )
    where = store_location(db, store)
    if isinstance(where, Path) and not where.exists():
        raise InputError(f"no handoff-console database at {where} (pass --db or --store)")
    try:
        # watch keeps its alerts' state in the store (it may upgrade it, never create it)
        storage = open_store(where, create=False)
    except StoreError as exc:
        raise InputError(str(exc)) from None
    if not isinstance(storage, Store):
        # The rules read dead-letter depth through console/dlq/'s SQLite connection until that
        # room sits behind its DeadLetters protocol (issue 25): not on a ClickHouse store yet.
        storage.close()
        raise InputError("watch: alert rules run on a SQLite store only for now (--db)")
    client = (
        AlertmanagerClient(alertmanager, resend_s=resend_s, interval_s=every_s)
        if alertmanager
        else None
    )
    try:
        with open_sources(storage) as src:
            rc = _run(src, Evaluator(rule_set), client, every_s, once, as_json)
    finally:
        if client is not None:
            client.close()
        storage.close()
    if rc:
        raise typer.Exit(rc)


def _run(
    src: Sources,
    evaluator: Evaluator,
    client: AlertmanagerClient | None,
    every_s: float,
    once: bool,
    as_json: bool,
) -> int:
    stop = threading.Event()
    if not once:
        _stop_on_signals(stop)
    names = {r.name for r in evaluator.rules}
    follower = ChangeFollower(
        src.reader
    )  # changes another process (the TUI) makes are reported too
    while True:
        now = time.time_ns()
        try:
            evaluator.step(src, now)
        except STORE_FAILURES as exc:  # a lock held past the busy timeout, a disk that fails
            print(f"error: the store could not be evaluated: {exc}", file=sys.stderr, flush=True)
            if once:
                return 2
            if stop.wait(every_s):
                return 0
            continue
        changes = follower.new(src.reader, names)
        for a in changes:
            typer.echo(json.dumps(a.to_json()) if as_json else alert_line(a))
        current = [a for a in Evaluator.current(src.reader) if a.name in names]
        firing = [a for a in current if a.state == "firing"]
        if client is not None and client.due(now, bool(changes)):
            try:
                sent = client.post(current, now)
                if sent:
                    print(f"alertmanager: posted {sent} alerts", file=sys.stderr, flush=True)
            except AlertmanagerError as exc:
                print(f"error: {exc} (retrying in {every_s:g} s)", file=sys.stderr, flush=True)
        if once:
            n = len(firing)
            print(
                f"{n} alert{'s' if n != 1 else ''} firing" if n else "nothing firing",
                file=sys.stderr,
            )
            return 1 if firing else 0
        if stop.wait(every_s):
            return 0


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
