"""The headless runtime behind ``serve``: one store writer, any number of components feeding it.

A component is any object with ``name``, ``start()``, ``stop()`` and ``health()``; it gets the
daemon's ``sink`` (the store writer) when it is built. The OTLP receivers are components; the Kafka
tap joins the same way::

    daemon = Daemon(Store.open(path))
    daemon.add(GrpcReceiver(daemon.sink, settings))
    daemon.add(KafkaTap(daemon.sink, ...))       # anything with start/stop/health
    daemon.start()
    daemon.wait()                                # until SIGINT/SIGTERM or daemon.request_stop()
    daemon.stop()                                # components in reverse order, then the writer

``stop`` stops the components first (each finishes what it already took in and hands it to the
sink), then closes the writer, which commits everything queued. ``health()`` gives the writer's
counts and each component's own health dict, with the last error of each.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterable
from types import FrameType
from typing import Protocol, runtime_checkable

from console.store import Store, StoreWriter

__all__ = ["Component", "Daemon"]


@runtime_checkable
class Component(Protocol):
    """Something the daemon starts, stops and asks for health."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def health(self) -> dict[str, object]: ...


class Daemon:
    """The store writer plus the components that feed it."""

    def __init__(
        self,
        store: Store,
        *,
        retention_age_s: float | None = None,
        retention_bytes: int | None = None,
        max_queued: int = 50_000,
        batch_size: int = 5000,
        flush_ms: int = 200,
        components: Iterable[Component] = (),
    ) -> None:
        self.store = store
        self.writer: StoreWriter = store.writer(
            batch_size=batch_size,
            flush_ms=flush_ms,
            max_queued=max_queued,
            retention_age_s=retention_age_s,
            retention_bytes=retention_bytes,
        )
        self.components: list[Component] = list(components)
        self.started_ns = 0
        self._started: list[Component] = []
        self._stop_requested = threading.Event()
        self._errors: dict[str, str] = {}

    @property
    def sink(self) -> StoreWriter:
        """What components submit records to (``submit`` raises ``Overloaded`` when full)."""
        return self.writer

    def add(self, component: Component) -> Component:
        """Add a component; if the daemon is running, start it now."""
        self.components.append(component)
        if self.started_ns:
            self._start_one(component)
        return component

    def start(self) -> None:
        """Start every component in order; if one fails, stop those started and re-raise."""
        self.started_ns = time.time_ns()
        try:
            for component in self.components:
                self._start_one(component)
        except BaseException:
            self.stop()
            raise

    def _start_one(self, component: Component) -> None:
        component.start()
        self._started.append(component)

    def request_stop(self) -> None:
        """Ask ``wait`` to return (safe from signal handlers and other threads)."""
        self._stop_requested.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a stop is requested; True if it was."""
        return self._stop_requested.wait(timeout)

    def install_signal_handlers(self) -> None:
        """SIGINT and SIGTERM request a clean stop (call from the main thread)."""

        def handler(signum: int, frame: FrameType | None) -> None:
            self.request_stop()

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop components in reverse order, then commit everything queued and close the writer."""
        while self._started:
            component = self._started.pop()
            try:
                component.stop()
            except Exception as exc:  # one component failing to stop must not lose the rest
                self._errors[component.name] = f"stop: {type(exc).__name__}: {exc}"
        self.writer.close(timeout)
        self._stop_requested.set()

    def health(self) -> dict[str, object]:
        """``{"writer": {...}, "components": {name: {...}}}`` with counts and last errors."""
        w = self.writer
        components: dict[str, object] = {}
        for component in self.components:
            try:
                h = dict(component.health())
            except Exception as exc:
                h = {"last_error": f"health: {type(exc).__name__}: {exc}"}
            if component.name in self._errors:
                h["last_error"] = self._errors[component.name]
            components[component.name] = h
        return {
            "started_ns": self.started_ns,
            "writer": {
                "queued": w.queued,
                "committed": w.committed,
                "batches": w.batches,
                "last_commit_ns": w.last_commit_ns,
                "last_error": w.last_error,
            },
            "components": components,
        }
