"""``handoff-console stats``: what the store holds."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from console.cli.options import DbOpt, JsonOpt, StoreOpt, is_url, store_location
from console.store import open_store

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)


def stats(db: DbOpt = None, store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Counts of spans, metric points, log records, hops and dead letters; services and topics."""
    where = store_location(db, store)
    # A SQLite file is made when missing, as it always was; a ClickHouse store is not created
    # by looking at it.
    storage = open_store(where, create=not is_url(where), upgrade=False)
    try:
        counts = storage.counts()
    finally:
        storage.close()
    if as_json:
        typer.echo(json.dumps(counts, indent=2))
        return
    console = Console()
    table = Table(title="store", show_header=True)
    table.add_column("records")
    table.add_column("count", justify="right")
    for key in ("spans", "metric_points", "log_records", "hops", "dead_letters"):
        table.add_row(key, f"{counts[key]:,}")
    console.print(table)
    services = counts["services"]
    console.print("services: " + (", ".join(services) if services else "none yet"))
    topics = counts["topics"]
    if topics:
        t = Table(title="topics")
        t.add_column("topic")
        t.add_column("hops", justify="right")
        t.add_column("dead letters", justify="right")
        for name, c in sorted(topics.items()):
            t.add_row(name, str(c.get("hops", 0)), str(c.get("dead_letters", 0)))
        console.print(t)
