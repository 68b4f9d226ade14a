"""The app's one door to data: the store (and, through console/dlq/, Kafka).

Workers call these methods from their threads; a lock keeps the store's reader to one thread at a
time. Every read goes through the store's interface (``console/store/api.py``); the dead-letter
screens call the dead-letter service (``dead_letters``, console/dlq/service.py) as ``dlq`` does.
Nothing here imports Textual, so it is testable and benchmarkable alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from console.alerts import Alert, Evaluator, Rule, load_rules, recent_alerts
from console.alerts.observe import Sources
from console.base.kafka_config import kafka_config
from console.dlq import DepthRow, DlqFilter, depth_summary
from console.dlq.service import DeadLetterService
from console.readers import latency, metrics, panels
from console.readers import tail as live_tail
from console.readers.metrics import MetricSeries
from console.store import DeadLetters, Storage, StoreReader, open_store

__all__ = [
    "ALERTS_RECENT_S",
    "METRICS_WINDOW_S",
    "AlertsView",
    "Clock",
    "DataSource",
    "MetricsView",
    "Overview",
    "Runtime",
]

METRICS_WINDOW_S = 15 * 60.0  # the metrics screen's window, as ``metrics --since`` defaults
ALERTS_RECENT_S = 24 * 3600.0  # how far back the alerts screen lists firings and resolutions

Clock = Callable[[], int]


class Runtime(Protocol):
    """An in-process collector and tap (console/runtime/daemon.py) as the TUI sees it."""

    def status(self) -> dict[str, str]: ...

    def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Overview:
    services: list[panels.ServicePanel]
    topics: list[panels.TopicPanel]
    health: panels.Health
    took_ms: float
    extent: panels.StoreExtent | None = None  # what the store holds, outside the window too


@dataclass(frozen=True, slots=True)
class MetricsView:
    services: list[tuple[str, int]]  # (service, metrics it sent)
    metrics: list[metrics.MetricSummary]
    window_s: float


@dataclass(frozen=True, slots=True)
class AlertsView:
    """One evaluation of the alert rules: what fires, what is pending, what changed just now,
    and the firings and resolutions of the last ``ALERTS_RECENT_S`` (newest first)."""

    firing: list[Alert]
    pending: list[Alert]
    changes: list[Alert]
    recent: list[Alert]
    took_ms: float


class DataSource:
    """Reads the store for the screens: overview panels, live tail, journeys and dead letters."""

    def __init__(
        self,
        db_path: Path | str | Storage,
        *,
        clock: Clock | None = None,
        runtime: Runtime | None = None,
        bootstrap: str | None = None,
        contracts_dir: Path | None = None,
        default_contracts_dir: Path | None = None,
        kafka: dict[str, Any] | None = None,
        schema_registry: str | None = None,
        schema_registry_config: Path | None = None,
        rules: list[Rule] | None = None,
    ) -> None:
        # A SQLite file or a store URL (chdb:///..., clickhouse://...); the writer upgrades. Or a
        # store already open, shared with its owner, who closes it (the demo's: its collector and
        # tap write it, and a chDB store is one process's).
        self._owns_store = isinstance(db_path, Path | str)
        self.store: Storage = (
            open_store(db_path, upgrade=False) if isinstance(db_path, Path | str) else db_path
        )
        self.clock: Clock = clock or time.time_ns
        self.runtime = runtime
        self.bootstrap = bootstrap
        self.contracts_dir = contracts_dir
        # The whole librdkafka configuration (--kafka-config, -X, --bootstrap) for replays.
        self.kafka = kafka
        self.schema_registry = schema_registry
        self.schema_registry_config = schema_registry_config
        self._reader: StoreReader = self.store.reader()
        # The dead-letter service the DLQ screens call (tui_app/dlq_ops.py), as `dlq` does.
        self.dead_letters = DeadLetterService(
            self.store,
            contracts_dir=contracts_dir,
            default_contracts_dir=default_contracts_dir,
            schema_registry=schema_registry,
            schema_registry_config=schema_registry_config,
            kafka=kafka if kafka is not None else (kafka_config(bootstrap) if bootstrap else None),
        )
        self._lock = threading.Lock()
        self._services = panels.ServiceAggregator()
        self.window_s: float | None = panels.WINDOW_S  # every screen's time window (None: all)
        self.evaluator = Evaluator(rules if rules is not None else load_rules(None))
        # The alerts read on their own reader and dead letters, so an evaluation never holds up
        # the screens' readers (SQLite in WAL mode reads concurrently).
        self._alerts_letters: DeadLetters = self.store.dead_letters()
        self._alerts = Sources(self.store, self.store.reader(), self._alerts_depth)
        self._alerts_lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._reader.close()
        with self._alerts_lock:
            self._alerts.reader.close()
            self._alerts_letters.close()
        if self._owns_store:
            self.store.close()

    def set_window(self, window_s: float | None) -> None:
        """The time window every screen shows (None: everything the store holds)."""
        with self._lock:
            self.window_s = window_s
            self._services = panels.ServiceAggregator(self._window_for_panels())

    def _window_for_panels(self) -> int:
        if self.window_s is not None:
            return int(self.window_s)
        extent = panels.store_extent(self._reader)
        if extent.first_ns is None:
            return panels.WINDOW_S
        return max(panels.WINDOW_S, int((self.clock() - extent.first_ns) / 1e9) + 60)

    def since_ns(self) -> int | None:
        """Where the window starts (epoch ns), or None when it holds everything."""
        return None if self.window_s is None else self.clock() - int(self.window_s * 1e9)

    def extent(self) -> panels.StoreExtent:
        """What the store holds whatever the window (spans, hops, the newest one's time)."""
        with self._lock:
            return panels.store_extent(self._reader)

    def since_s(self) -> float:
        """The window as ``since_s`` for the readers that take one."""
        if self.window_s is not None:
            return self.window_s
        with self._lock:
            return float(self._window_for_panels())

    def overview(self) -> Overview:
        t0 = time.perf_counter()
        now = self.clock()
        runtime = self.runtime.status() if self.runtime else None
        with self._lock:
            window = self._services.window_s
            services = self._services.refresh(self._reader, now)
            spanned = [p.service for p in services if p.spans]
            from_metrics = latency.duration_latency(
                self._reader, now - int(METRICS_WINDOW_S * 1e9), now, exclude=spanned
            )
            services = panels.with_metric_latency(services, from_metrics)
            topics = panels.topic_panels(self._reader, now, window_s=window)
            health = panels.health(self._reader, now, runtime)
            extent = None if services or topics else panels.store_extent(self._reader)
        return Overview(services, topics, health, (time.perf_counter() - t0) * 1000, extent)

    def tail(self, after_span: int, after_hop: int, after_log: int = 0) -> live_tail.TailBatch:
        with self._lock:
            return live_tail.tail(self._reader, after_span, after_hop, after_log_id=after_log)

    def metrics(self, window_s: float = METRICS_WINDOW_S) -> MetricsView:
        """Services that sent metric points in the window, and every service's metrics."""
        now = self.clock()
        since = now - int(window_s * 1e9)
        with self._lock:
            services = metrics.metric_services(self._reader, since)
            items = metrics.metric_summaries(self._reader, since, now)
        return MetricsView(services, items, window_s)

    def metric_series(
        self, service: str, name: str, window_s: float = METRICS_WINDOW_S
    ) -> MetricSeries | None:
        now = self.clock()
        with self._lock:
            return metrics.metric_series(
                self._reader, service, name, now - int(window_s * 1e9), now, slots=60
            )

    def alerts(self) -> AlertsView:
        """Evaluate the alert rules now (the state kept in the store) and read them back."""
        t0 = time.perf_counter()
        now = self.clock()
        runtime = self.runtime.status() if self.runtime else None
        names = {r.name for r in self.evaluator.rules}
        with self._alerts_lock:
            reader = self._alerts.reader
            changes = self.evaluator.step(self._alerts, now, runtime)
            current = [a for a in Evaluator.current(reader) if a.name in names]
            recent = recent_alerts(reader, now - int(ALERTS_RECENT_S * 1e9))
        firing = sorted(
            (a for a in current if a.state == "firing"), key=lambda a: -(a.fired_ns or 0)
        )
        pending = [a for a in current if a.state == "pending"]
        took = (time.perf_counter() - t0) * 1000
        return AlertsView(firing, pending, changes, recent, took)

    def _alerts_depth(self, flt: DlqFilter | None) -> list[DepthRow]:
        return depth_summary(self._alerts_letters, flt)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a reader that takes the store's reader first (journeys) under the lock."""
        with self._lock:
            return fn(self._reader, *args, **kwargs)
