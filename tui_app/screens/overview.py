"""Overview: services with sparklines, topics with lag and DLQ depth, and the health line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from console.readers.panels import Health, ServicePanel, TopicPanel
from tui_app.linetable import LineTable
from tui_app.messages import DrillDown, OverviewData
from tui_app.render import age, fit_widths, held, middle, ms, pct, rate, sparkline
from tui_app.widgets import AlertsBadge

if TYPE_CHECKING:
    from tui_app.app import HandoffApp

__all__ = ["EMPTY_TEXT", "SERVICES_TITLE", "OverviewScreen"]

SERVICES_TITLE = "Services (entry spans, last 15 min)"

EMPTY_TEXT = """\
[b]No spans and no Kafka traffic in this store yet.[/b]

Point your services' OpenTelemetry exporter at the console:
  [b]export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317[/b]   (gRPC)
  or http://127.0.0.1:4318 with OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
Topics, lag and dead letters appear once the Kafka tap sees messages:
  handoff-console tui --bootstrap 127.0.0.1:9092 --topics '^canvasflow\\..*'
Or watch the bundled demo pipeline:  [b]handoff-console demo[/b]
Attached with --attach? Start the daemon: handoff-console serve --db PATH"""


def empty_text(extent: Any, window: str) -> str:
    """What an empty window says: what the store does hold, or how to fill an empty store."""
    if extent is None or not (extent.spans or extent.hops):
        return EMPTY_TEXT
    return held(window, f"{extent.spans:,} spans and {extent.hops:,} hops", extent.last_ns)


def health_text(h: Health, took_ms: float | None = None) -> Text:
    colours = {"up": "green", "idle": "yellow", "down": "red", "unknown": "grey50"}
    t = Text()
    for label, state, seen in (
        ("collector", h.collector, h.last_span_s),
        ("tap", h.tap, h.last_hop_s if h.last_hop_s is not None else h.last_series_s),
        ("broker", h.broker, None),
    ):
        t.append("● ", style=colours.get(state, "grey50"))
        t.append(f"{label} {state}")
        if seen is not None:
            t.append(f" ({age(seen)})", style="dim")
        t.append("  ")
    if h.otlp_kafka != "unknown" or h.otlp_kafka_lag is not None:
        t.append("● ", style=colours.get(h.otlp_kafka, "grey50"))
        t.append(f"otlp-kafka {h.otlp_kafka}")
        if h.otlp_kafka_lag is not None:
            t.append(f" (lag {h.otlp_kafka_lag:,.0f} msgs)", style="dim")
        t.append("  ")
    if h.store == "failing":  # nothing new is stored: say so before anything else
        t.append("● store FAILING  ", style="bold red")
    t.append(f"{h.services} services", style="dim")
    if h.detail:
        t.append(f"  {h.detail}", style="red")
    return t


def _named(cells: tuple[object, ...], width: int) -> tuple[object, ...]:
    """The row with its first cell (a name) shortened in the middle to ``width``."""
    return (middle(str(cells[0]), width), *cells[1:])


def service_cells(p: ServicePanel) -> tuple[object, ...]:
    bounds = (*p.bounds, None, None, None)[:3]
    err = Text(pct(p.error_rate), style="bold red" if p.error_rate >= 0.05 else "")
    return (
        p.service,
        rate(p.per_s),
        # A service whose spans were sampled away (or never sent): its figures come from its
        # duration histogram, and the row says so where the span sparkline would be.
        Text("from metrics", style="italic yellow")
        if p.source.startswith("metrics")
        else Text(sparkline(p.throughput, 15), style="cyan"),
        *(_bounded(v, b) for v, b in zip((p.p50_ms, p.p95_ms, p.p99_ms), bounds, strict=True)),
        err,
    )


def _bounded(value: float | None, bound: str | None) -> str:
    """``ms(value)``, as ``≤4.1`` where a histogram only bounds it (one bucket held all)."""
    return {"le": "≤", "gt": ">"}.get(bound or "", "") + ms(value)


def topic_cells(p: TopicPanel) -> tuple[object, ...]:
    group = p.lag[0][0] if p.lag else "-"
    lag = f"{p.lag_total:,.0f}" if p.lag else "-"
    depth = p.dlq_depth
    dlq = Text("-" if depth is None else f"{depth:,.0f}", style="bold red" if depth else "")
    return (
        p.topic,
        rate(p.messages_per_s),
        Text(sparkline(p.rate, 12), style="cyan"),
        lag,
        group,
        dlq,
        rate(p.dlq_inflow_per_s),
    )


class OverviewScreen(Screen[None]):
    AUTO_FOCUS = "#services"
    """Refreshes from a worker every ``app.refresh_s`` seconds; Enter drills into journeys."""

    BINDINGS = [
        Binding("enter", "drill", "Journeys", show=True),
        Binding("r", "refresh", "Refresh"),
    ]

    app: HandoffApp

    def compose(self) -> ComposeResult:
        yield AlertsBadge()
        yield Static("handoff-console · starting…", id="health")
        yield Static(EMPTY_TEXT, id="empty")
        yield Static(SERVICES_TITLE, classes="section", id="services-title")
        yield LineTable(id="services")
        yield Static("Topics", classes="section", id="topics-title")
        yield LineTable(id="topics")
        yield Footer()

    def on_mount(self) -> None:
        services = self.query_one("#services", LineTable)
        for name, width in (("service", 16), ("/s", 6), ("throughput", 15)):
            services.add_column(name, width=width, key=name)
        for name, title in (("p50", "p50 ms"), ("p95", "p95 ms"), ("p99", "p99 ms")):
            services.add_column(title, width=6, key=name)
        services.add_column("err %", width=6, key="err")
        topics = self.query_one("#topics", LineTable)
        for name, width in (("topic", 22), ("msg/s", 6), ("rate", 12), ("lag", 7)):
            topics.add_column(name, width=width, key=name)
        for name, width in (("group", 10), ("dlq", 5), ("in/s", 5)):
            topics.add_column(name, width=width, key=name)
        self._show_empty(True)
        self.set_interval(self.app.refresh_s, self._tick)
        self.action_refresh()

    def _tick(self) -> None:
        if self.is_current:
            self.action_refresh()

    def action_refresh(self) -> None:
        self.load()

    def on_screen_resume(self) -> None:
        self.load()  # back from another screen: the window may have changed (w) meanwhile

    @work(thread=True, exclusive=True, group="overview")
    def load(self) -> None:
        data = self.app.source.overview()
        self.post_message(
            OverviewData(data.services, data.topics, data.health, data.took_ms, data.extent)
        )

    def on_overview_data(self, msg: OverviewData) -> None:
        health = health_text(msg.health)
        health.append(f"  window {self.app.window_label}", style="bold")
        self.query_one("#health", Static).update(health)
        self._show_empty(not msg.services and not msg.topics)
        self.query_one("#empty", Static).update(empty_text(msg.extent, self.app.window_label))
        title = f"Services (entry spans, last {self.app.window_label})"
        sources = sorted({p.source.split(":", 1)[1] for p in msg.services if ":" in p.source})
        if sources:
            title = f"{title} · 'from metrics' rows: {', '.join(sources)}"
        self.query_one("#services-title", Static).update(title)
        # Names as wide as they are, in what the other columns leave; shortened in the middle.
        width = self.app.size.width
        services = self.query_one("#services", LineTable)
        name_w = min(max([12, *(len(p.service) for p in msg.services)]), max(12, width - 62))
        services.set_column_width("service", name_w)
        topics = self.query_one("#topics", LineTable)
        # The topic and the group share what the other columns leave; the group gives way first.
        topic_w, group_w = fit_widths(
            [max([14, *(len(p.topic) for p in msg.topics)]),
             max([10, *(len(p.lag[0][0]) for p in msg.topics if p.lag)])],
            [14, 6],
            width - 50,
            order=[1, 0],
        )  # fmt: skip
        topics.set_column_width("topic", topic_w)
        topics.set_column_width("group", group_w)
        services.replace_rows([(p.service, _named(service_cells(p), name_w)) for p in msg.services])
        topics.replace_rows([(p.topic, _named(topic_cells(p), topic_w)) for p in msg.topics])
        self._take_focus(msg)

    def _take_focus(self, msg: OverviewData) -> None:
        """Select the service or topic an alert named (``app.overview_focus``) once it shows."""
        focus = self.app.overview_focus
        if focus is None:
            return
        table_id, key = focus
        keys = (
            [p.service for p in msg.services]
            if table_id == "services"
            else [p.topic for p in msg.topics]
        )
        if key in keys:
            table = self.query_one(f"#{table_id}", LineTable)
            table.move_cursor(row=keys.index(key))
            table.focus()
            self.app.overview_focus = None

    def _show_empty(self, empty: bool) -> None:
        self.query_one("#empty").display = empty
        for wid in ("#services", "#topics", "#services-title", "#topics-title"):
            self.query_one(wid).display = not empty

    @on(LineTable.RowSelected)
    def _selected(self, event: LineTable.RowSelected) -> None:
        kind = "service" if event.table.id == "services" else "topic"
        self.post_message(DrillDown(kind, event.key))

    def action_drill(self) -> None:
        table = self.focused if isinstance(self.focused, LineTable) else None
        key = table.selected_key() if table else None
        if table is not None and key is not None:
            kind = "service" if table.id == "services" else "topic"
            self.post_message(DrillDown(kind, key))
