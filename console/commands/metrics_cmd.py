"""``handoff-console metrics``: one row per service and metric over a window."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from console.commands.trace_cmd import _open, _seconds
from console.metrics import metric_summaries, sparkline
from console.options import DbOpt, JsonOpt

__all__ = ["fmt_value", "register"]


def register(app: typer.Typer) -> None:
    app.command("metrics")(metrics)


def fmt_value(value: float | None, unit: str = "") -> str:
    """A number with its unit (``1``-unit and empty units shown bare), or ``-``."""
    if value is None:
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 1000 or value == int(value) else f"{value:.3g}"
    return f"{text} {unit}" if unit and unit != "1" else text


def metrics(
    db: DbOpt = None,
    service: Annotated[str | None, typer.Option("--service", help="Only this service.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Only this metric.")] = None,
    since: Annotated[
        str, typer.Option("--since", help="Points within this long (15m, 1h).")
    ] = "15m",
    as_json: JsonOpt = False,
) -> None:
    """Metrics per service: kind, unit, points, last value or histogram percentiles."""
    since_s = _seconds(since, "--since")
    now = time.time_ns()
    store = _open(db)
    conn = store.connect(readonly=True)
    try:
        items = metric_summaries(conn, now - int(since_s * 1e9), now, service=service, name=name)
    finally:
        conn.close()
    if as_json:
        typer.echo(json.dumps([m.to_json() for m in items], indent=2))
        return
    if not items:
        typer.echo(f"no metric points in the last {since}")
        return
    table = Table(title=f"metrics, last {since}")
    # Names are what a reader looks for: they keep their width and the trend gives way first.
    table.add_column("service", no_wrap=True, min_width=max(len(m.service) for m in items))
    table.add_column("metric", no_wrap=True, min_width=max(len(m.name) for m in items))
    for col, justify in (
        ("kind", "left"),
        ("unit", "left"),
        ("points", "right"),
        ("last", "right"),
        ("count", "right"),
        ("p50", "right"),
        ("p95", "right"),
        ("p99", "right"),
        ("trend", "left"),
    ):
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for m in items:
        table.add_row(
            m.service,
            m.name,
            m.kind,
            m.unit or "-",
            f"{m.points:,}",
            fmt_value(m.last, m.unit),
            "-" if m.count is None else f"{m.count:,}",
            fmt_value(m.p50, m.unit),
            fmt_value(m.p95, m.unit),
            fmt_value(m.p99, m.unit),
            sparkline(m.spark),
        )
    Console().print(table)
