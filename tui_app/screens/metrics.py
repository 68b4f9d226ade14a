"""Metrics (5): services on the left; their metrics on the right with sparklines and, for
histograms, percentiles. Enter on a metric shows it over the window as a chart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from console.readers.metrics import HISTOGRAM_KINDS, MetricSeries, MetricSummary, sparkline
from tui_app.chart import bar_chart
from tui_app.linetable import LineTable
from tui_app.messages import LoadFailed, MetricSeriesLoaded, MetricsLoaded
from tui_app.render import middle
from tui_app.widgets import AlertsBadge

if TYPE_CHECKING:
    from tui_app.app import HandoffApp
    from tui_app.source import MetricsView

__all__ = ["MetricChartScreen", "MetricsScreen", "metric_cells", "number", "quantile"]

EMPTY = (
    "No metric points in the last {window}. Services that export OTLP metrics "
    "(OTEL_EXPORTER_OTLP_ENDPOINT) appear here."
)


def window(seconds: float) -> str:
    """``900`` -> ``15m``; ``2.5`` -> ``2.5s``."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:.0f}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:.0f}m"
    return f"{seconds:.3g}s"


def number(value: float | None, unit: str = "") -> str:
    """A value with its unit ("1" and "" shown bare), or ``-``."""
    if value is None:
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:.3g}"
    return f"{text} {unit}" if unit and unit != "1" else text


def quantile(m: MetricSummary, q: str, unit: str = "") -> str:
    """``m``'s ``q`` ("p50", "p95", "p99"), as a bound where it is one (``≤ 5``: every
    observation sat in one bucket, so the value could be anywhere below it)."""
    e = m.estimate(q)
    return "-" if e is None else e.prefix + number(e.value, unit)


def metric_cells(m: MetricSummary) -> tuple[object, ...]:
    histogram = m.kind in HISTOGRAM_KINDS
    if histogram:
        value = f"n={m.count:,}" if m.count is not None else "-"
        parts = [quantile(m, q) for q in ("p50", "p95", "p99")]
        unit = f" {m.unit}" if m.unit and m.unit != "1" and m.p50 is not None else ""
        if parts[0].startswith("≤") and len(set(parts)) == 1:
            parts = parts[:1]  # one bucket holds everything: all three are the same bound
        pcts = " / ".join(parts) + unit
    else:
        value, pcts = number(m.last, m.unit), ""
    trend = Text(sparkline(_fit(m.spark, _TREND)), style="cyan")
    return (m.name, _KIND.get(m.kind, m.kind), trend, value, pcts)


def _fit(values: tuple[float | None, ...], width: int) -> list[float | None]:
    """``values`` averaged down to ``width`` (empty slots ignored; a chunk of them stays empty)."""
    if len(values) <= width:
        return list(values)
    out: list[float | None] = []
    for i in range(width):
        chunk = [
            v
            for v in values[i * len(values) // width : (i + 1) * len(values) // width]
            if v is not None
        ]
        out.append(sum(chunk) / len(chunk) if chunk else None)
    return out


_KIND = {"exponential_histogram": "exp", "histogram": "hist"}
_TREND = 10
# (title, least width) of the metrics table: "last / n" and the percentiles take the width their
# values need (a unit is never cut), "metric" takes what the others leave.
_COLUMNS = (
    ("metric", 22),
    ("kind", 5),
    ("trend", _TREND),
    ("last / n", 8),
    ("p50 / p95 / p99", 15),
)
_METRIC_MIN = 16
_BORDER = 1  # #metrics-left's right border


class MetricsScreen(Screen[None]):
    AUTO_FOCUS = "#metric-services"
    BINDINGS = [
        Binding("r", "refresh", "Refresh"),
        Binding("tab", "switch_pane", "Services/metrics", show=False),
    ]

    app: HandoffApp

    def __init__(self) -> None:
        super().__init__()
        self.view: MetricsView | None = None
        self.service: str | None = None

    def compose(self) -> ComposeResult:
        yield AlertsBadge()
        yield Static("Metrics · loading…", id="metrics-status")
        with Horizontal(id="metrics-body"):
            with Vertical(id="metrics-left"):
                yield Static("services", classes="section")
                yield LineTable(id="metric-services")
            with Vertical(id="metrics-right"):
                yield Static("metrics", classes="section", id="metrics-title")
                yield LineTable(id="metrics")
        yield Footer()

    def on_mount(self) -> None:
        services = self.query_one("#metric-services", LineTable)
        services.add_column("service", width=15, key="service")
        services.add_column("n", width=2, key="n")
        table = self.query_one("#metrics", LineTable)
        for name, width in _COLUMNS:
            table.add_column(name, width=width, key=name)
        self.set_interval(max(self.app.refresh_s, 5.0), self._tick)
        self._tick()

    def on_resize(self) -> None:
        self._show_services()  # names shortened to the new width

    def _fit_columns(self) -> int:
        """Columns as wide as their values: the service names (shortened in the middle only past
        a third of the screen), the values and percentiles of the service shown with whole units;
        the metric name takes what is left, down to ``_METRIC_MIN``, then the trend goes."""
        view = self.view
        services = self.query_one("#metric-services", LineTable)
        names = [s for s, _ in view.services] if view else []
        counts = [str(n) for _, n in view.services] if view else []
        svc_w = min(max([7, *map(len, names)]), max(15, self.size.width // 3))
        n_w = max([1, *map(len, counts)])
        services.set_column_width("service", svc_w)
        services.set_column_width("n", n_w)
        left = 1 + svc_w + 2 + n_w + 2 + _BORDER
        self.query_one("#metrics-left").styles.width = left
        table = self.query_one("#metrics", LineTable)
        shown = [m for m in view.metrics if m.service == self.service] if view else []
        cells = [metric_cells(m) for m in shown]
        widths = {}
        for i, (name, least) in enumerate(_COLUMNS):
            widths[name] = max([least, len(name), *(len(str(c[i])) for c in cells)])
        others = sum(w + 2 for n, w in widths.items() if n != "metric") + 1
        room = self.size.width - left - others  # the table's own size lags a layout behind
        if room < _METRIC_MIN + 2:
            widths["trend"], room = 0, room + _TREND + 2
        widths["metric"] = max(_METRIC_MIN, room - 2)
        for name, w in widths.items():
            table.set_column_width(name, w)
        return svc_w

    def _tick(self) -> None:
        if self.is_current:
            self.load()

    def on_screen_resume(self) -> None:
        self.load()  # the window may have changed (w) while another screen showed

    def action_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="metrics")
    def load(self) -> None:
        try:
            source = self.app.source
            view = source.metrics(source.since_s())  # the window every screen shares (w)
        except Exception as exc:
            self.post_message(LoadFailed("metrics", f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(MetricsLoaded(view))

    def on_metrics_loaded(self, msg: MetricsLoaded) -> None:
        self.view = msg.view
        view = msg.view
        self._show_services()
        names = [s for s, _ in view.services]
        if self.service not in names:
            self.service = names[0] if names else None
        status = self.query_one("#metrics-status", Static)
        span = self.app.window_label
        if not names and span == "all":
            status.update("Metrics · No metric points in this store. " + EMPTY.split(". ", 1)[1])
        elif not names:
            status.update("Metrics · " + EMPTY.format(window=span))
        else:
            status.update(
                f"Metrics · window {span} · {len(names)} services · "
                f"{len(view.metrics)} metrics · enter: chart · tab: switch pane"
            )
        self._show_service()

    def _show_services(self) -> None:
        width = self._fit_columns()
        rows = [(s, (middle(s, width), str(n))) for s, n in self.view.services] if self.view else []
        self.query_one("#metric-services", LineTable).replace_rows(rows)

    def _show_service(self) -> None:
        self._fit_columns()
        view = self.view
        rows = [] if view is None else [m for m in view.metrics if m.service == self.service]
        self.query_one("#metrics", LineTable).replace_rows(
            [(m.name, metric_cells(m)) for m in rows]
        )
        self.query_one("#metrics-title", Static).update(f"metrics of {self.service or '-'}")

    @on(LineTable.Highlighted, "#metric-services")
    def _service_moved(self, event: LineTable.Highlighted) -> None:
        if event.key and event.key != self.service:
            self.service = event.key
            self._show_service()

    @on(LineTable.RowSelected, "#metric-services")
    def _service_chosen(self, event: LineTable.RowSelected) -> None:
        self.service = event.key
        self._show_service()
        self.query_one("#metrics", LineTable).focus()

    @on(LineTable.RowSelected, "#metrics")
    def _metric_chosen(self, event: LineTable.RowSelected) -> None:
        if self.service is not None:
            self.chart(self.service, event.key)

    @work(thread=True, exclusive=True, group="metric-series")
    def chart(self, service: str, name: str) -> None:
        try:
            source = self.app.source
            series = source.metric_series(service, name, source.since_s())
        except Exception as exc:
            self.post_message(LoadFailed("metric", f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(MetricSeriesLoaded(series, service, name))

    def on_metric_series_loaded(self, msg: MetricSeriesLoaded) -> None:
        if msg.series is None:
            self.notify(f"no points of {msg.name} in the window", severity="warning")
            return
        self.app.push_screen(MetricChartScreen(msg.series))

    def action_switch_pane(self) -> None:
        left = self.query_one("#metric-services", LineTable)
        (self.query_one("#metrics", LineTable) if left.has_focus else left).focus()

    def palette_commands(self) -> list[tuple[str, str, object]]:
        return [("Metrics: refresh", "Reload the metrics of the window", self.action_refresh)]


class MetricChartScreen(Screen[None]):
    """One metric of one service over the window: values (histograms: mean, then p95 and
    observations per slot)."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, series: MetricSeries) -> None:
        super().__init__()
        self.series = series

    def compose(self) -> ComposeResult:
        s = self.series
        m = s.summary
        head = f"{m.service} · {m.name} · {m.kind}" + (f" · {m.unit}" if m.unit else "")
        head += f" · {m.points} points in {window((s.until_ns - s.since_ns) / 1e9)}"
        head += f" · {window(s.slot_ns / 1e9)} a column"
        yield Static(head, id="chart-head")
        yield Static(self._body(), id="chart")
        yield Footer()

    def _body(self) -> Text:
        s, m = self.series, self.series.summary
        common: dict[str, Any] = {
            "since_ns": s.since_ns,
            "until_ns": s.until_ns,
            "width": self.app.size.width - 8,
        }
        t = Text()
        if m.kind in HISTOGRAM_KINDS:
            low_high = ""
            if m.min is not None and m.max is not None:
                low_high = f" · min {number(m.min, m.unit)} · max {number(m.max, m.unit)}"
            t.append(
                f"count {m.count or 0:,} · p50 {quantile(m, 'p50', m.unit)} · "
                f"p95 {quantile(m, 'p95', m.unit)} · p99 {quantile(m, 'p99', m.unit)}"
                f"{low_high}\n\n",
                style="bold",
            )
            t.append("mean\n", style="bold")
            t.append(bar_chart(s.values, height=6, unit=m.unit, **common))
            t.append("\n\np95\n", style="bold")
            t.append(bar_chart(s.p95s, height=5, unit=m.unit, style="yellow", **common))
            t.append("\n\nobservations\n", style="bold")
            counts = [float(c) if c else None for c in s.counts]
            t.append(bar_chart(counts, height=3, style="green", **common))
            return t
        t.append(f"last {number(m.last, m.unit)}\n\n", style="bold")
        t.append(bar_chart(s.values, height=14, unit=m.unit, **common))
        return t
