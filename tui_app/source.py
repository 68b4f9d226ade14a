"""The app's one door to data: the store (and, through console/dlq.py, Kafka).

Workers call these methods from their threads; a lock keeps the one connection to one thread at a
time. Nothing here imports Textual, so it is testable and benchmarkable alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from console import panels
from console import tail as live_tail
from console.store import Store

__all__ = ["Clock", "DataSource", "Overview", "Runtime"]

Clock = Callable[[], int]


class Runtime(Protocol):
    """An in-process collector and tap (console/daemon.py) as the TUI sees it."""

    def status(self) -> dict[str, str]: ...

    def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Overview:
    services: list[panels.ServicePanel]
    topics: list[panels.TopicPanel]
    health: panels.Health
    took_ms: float


class DataSource:
    """Reads the store for the screens: overview panels, live tail, journeys and dead letters."""

    def __init__(
        self,
        db_path: Path,
        *,
        clock: Clock | None = None,
        runtime: Runtime | None = None,
        bootstrap: str | None = None,
        contracts_dir: Path | None = None,
        kafka: dict[str, Any] | None = None,
        schema_registry: str | None = None,
        schema_registry_config: Path | None = None,
    ) -> None:
        self.store = Store.open(db_path, upgrade=False)  # the writer (serve, tui) upgrades
        self.clock: Clock = clock or time.time_ns
        self.runtime = runtime
        self.bootstrap = bootstrap
        self.contracts_dir = contracts_dir
        # The whole librdkafka configuration (--kafka-config, -X, --bootstrap) for replays.
        self.kafka = kafka
        self.schema_registry = schema_registry
        self.schema_registry_config = schema_registry_config
        self._codec: Any = None
        self._conn = self.store.connect()
        self._lock = threading.Lock()
        self._services = panels.ServiceAggregator()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def overview(self) -> Overview:
        t0 = time.perf_counter()
        now = self.clock()
        runtime = self.runtime.status() if self.runtime else None
        with self._lock:
            services = self._services.refresh(self._conn, now)
            topics = panels.topic_panels(self._conn, now)
            health = panels.health(self._conn, now, runtime)
        return Overview(services, topics, health, (time.perf_counter() - t0) * 1000)

    def tail(self, after_span: int, after_hop: int) -> live_tail.TailBatch:
        with self._lock:
            return live_tail.tail(self._conn, after_span, after_hop)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a reader that takes a connection first (journeys, dlq) under the lock."""
        with self._lock:
            return fn(self._conn, *args, **kwargs)
