"""``handoff-console metrics``: one row per service and metric over a window."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich import box
from rich.console import Console, JustifyMethod
from rich.measure import Measurement
from rich.table import Table

from console.cli.options import DbOpt, JsonOpt, StoreOpt
from console.cli.trace_cmd import _open, _seconds
from console.readers.metrics import MetricSummary, metric_summaries, sparkline

__all__ = ["fmt_quantile", "fmt_value", "register"]


def register(app: typer.Typer) -> None:
    app.command("metrics")(metrics)


_KIND = {"exponential_histogram": "exp histogram"}
SPARK_WIDTH = 24


def fmt_value(value: float | None, unit: str = "") -> str:
    """A number with its unit (``1``-unit and empty units shown bare), or ``-``."""
    if value is None:
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 1000 or value == int(value) else f"{value:.3g}"
    return f"{text} {unit}" if unit and unit != "1" else text


def fmt_quantile(m: MetricSummary, q: str) -> str:
    """``m``'s ``q`` ("p50", "p95", "p99") with its unit, as a bound where it is one (``≤ 5 s``:
    every observation sat in one bucket)."""
    e = m.estimate(q)
    return "-" if e is None else e.prefix + fmt_value(e.value, m.unit)


def metrics(
    db: DbOpt = None,
    store: StoreOpt = None,
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
    storage = _open(db, store)
    reader = storage.reader()
    try:
        items = metric_summaries(reader, now - int(since_s * 1e9), now, service=service, name=name)
    finally:
        reader.close()
        storage.close()
    if as_json:
        typer.echo(json.dumps([m.to_json() for m in items], indent=2))
        return
    if not items:
        typer.echo(f"no metric points in the last {since}")
        return
    console = Console()
    header = ("service", "metric", "kind", "unit", "points", "last", "count", "p50", "p95", "p99")
    rows = [
        (
            m.service,
            m.name,
            _KIND.get(m.kind, m.kind),
            m.unit or "-",
            f"{m.points:,}",
            fmt_value(m.last, m.unit),
            "-" if m.count is None else f"{m.count:,}",
            fmt_quantile(m, "p50"),
            fmt_quantile(m, "p95"),
            fmt_quantile(m, "p99"),
        )
        for m in items
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    # Every column at its content's width when the terminal allows; else the unit column goes
    # (every value names its unit), then the points, and names fold onto a second line last.
    # The trend takes what is left over.
    keep = list(range(len(header)))

    def need(cols: list[int]) -> int:
        """The width rich lays these columns out in, whole (measured, not guessed)."""
        probe = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for i in cols:
            probe.add_column(header[i], no_wrap=True)
        for r in rows:
            probe.add_row(*(r[i] for i in cols))
        return Measurement.get(console, console.options.update_width(10_000), probe).maximum

    for col in ("unit", "points"):
        if need(keep) > console.width:
            keep.remove(header.index(col))
    fits = need(keep) <= console.width
    spare = console.width - need(keep) - 3  # the trend's divider and padding
    trend = min(SPARK_WIDTH, spare) if spare >= 8 else 0
    table = Table(title=f"metrics, last {since}", box=box.SIMPLE_HEAD, pad_edge=False)
    for i in keep:
        col = header[i]
        if col in ("service", "metric"):
            table.add_column(
                col, overflow="fold", min_width=widths[i] if fits else min(widths[i], 8)
            )
        else:
            justify: JustifyMethod = "left" if col in ("kind", "unit") else "right"
            table.add_column(col, justify=justify, no_wrap=True, min_width=widths[i])
    if trend:
        table.add_column("trend", no_wrap=True, overflow="crop", width=trend)
    for m, row in zip(items, rows, strict=True):
        cells = [row[i] for i in keep]
        table.add_row(*cells, *([sparkline(m.spark)[-trend:]] if trend else []))
    console.print(table)
