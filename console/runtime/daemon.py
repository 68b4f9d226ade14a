"""The runtime behind ``serve``, ``tap``, the TUI's in-process collector and ``demo``: one store
writer, any number of components feeding it, wired by ``build_daemon`` from settings
(``OtlpSettings``, ``TapSettings``, ``OtlpKafkaSettings``).

A component is any object with ``name``, ``start()``, ``stop()`` and ``health()``; it gets the
daemon's ``sink`` (the store writer) when it is built. The OTLP receivers are components; the Kafka
tap joins the same way::

    daemon = Daemon(open_store(path))
    daemon.add(GrpcReceiver(daemon.sink, settings))
    daemon.add(KafkaTap(daemon.sink, ...))       # anything with start/stop/health
    daemon.start()
    daemon.wait()                                # until SIGINT/SIGTERM or daemon.request_stop()
    daemon.stop()                                # components in reverse order, then the writer

``stop`` stops the components first (each finishes what it already took in and hands it to the
sink), then closes the writer, which commits everything queued. ``health()`` gives the writer's
counts (``committed`` counts only committed records; ``failing`` and ``error`` say whether and why
the store cannot commit now) and each component's own health dict, with the last error of each.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from console.base.errors import InputError
from console.base.kafka_config import kafka_config, split_bootstrap
from console.runtime.stop_signals import StopSignals
from console.store import Storage, Writer

if TYPE_CHECKING:
    from console.runtime.metrics import ConsoleMetrics

__all__ = [
    "Component",
    "Daemon",
    "OtlpKafkaSettings",
    "OtlpSettings",
    "TapSettings",
    "build_daemon",
    "listen_address",
    "tune_gc",
]


@runtime_checkable
class Component(Protocol):
    """Something the daemon starts, stops and asks for health."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def health(self) -> dict[str, object]: ...


C = TypeVar("C", bound=Component)


def tune_gc() -> None:
    """Make the cyclic garbage collector cheap for an ingest process (idempotent).

    Ingest allocates a few objects per span, hop and attribute, none in reference cycles, and
    keeps up to a queue's worth of records alive until the writer commits them. With CPython's
    default thresholds (a young collection every 700 allocations, a full one every 100 young
    ones) the collector ran thousands of times a second and each full pass walked every queued
    record: a quarter of the tap's decoding time (10.3 -> 7.8 us per message). Objects built
    during start-up are frozen out of the passes; young collections run every 50,000
    allocations; full ones rarely. Reference counting still frees everything acyclic at once.
    """
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


class Daemon:
    """The store writer plus the components that feed it."""

    def __init__(
        self,
        store: Storage,
        *,
        retention_age_s: float | None = None,
        retention_bytes: int | None = None,
        max_queued: int = 50_000,
        batch_size: int = 20_000,
        flush_ms: int = 200,
        components: Iterable[Component] = (),
        shared_writer: bool = False,
    ) -> None:
        self.store = store
        # ``tap`` writes keyed records only: its writer is shared with the other taps of its
        # group (``Storage.writer``'s ``shared``).
        self.writer: Writer = store.writer(
            batch_size=batch_size,
            flush_ms=flush_ms,
            max_queued=max_queued,
            retention_age_s=retention_age_s,
            retention_bytes=retention_bytes,
            shared=shared_writer,
        )
        self.components: list[Component] = list(components)
        self.started_ns = 0
        self._started: list[Component] = []
        self._stop_requested = threading.Event()
        self._signals = StopSignals()
        self._signals_installed = False
        self._errors: dict[str, str] = {}
        # ``serve --metrics``: its registry (read at scrape time)
        self.metrics: ConsoleMetrics | None = None

    @property
    def sink(self) -> Writer:
        """What components submit records to (``submit`` returns a ``Ticket``; it raises
        ``Overloaded`` when full, ``StoreUnavailable`` while the store is failing)."""
        return self.writer

    def add(self, component: C) -> C:
        """Add a component; if the daemon is running, start it now. Returns it, as its own type."""
        self.components.append(component)
        if self.started_ns:
            self._start_one(component)
        return component

    def start(self) -> None:
        """Start every component in order; if one fails, stop those started and re-raise."""
        self.started_ns = time.time_ns()
        tune_gc()
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
        """Ask ``wait`` to return (from another thread; signal handlers set a flag instead)."""
        self._stop_requested.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a stop is requested or a signal arrived; True if one did."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (self._signals.requested or self._stop_requested.is_set()):
            step = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if step <= 0:
                return False
            if self._signals_installed:
                self._signals.wait(step)  # a signal wakes it at once, request_stop within 0.2 s
            else:
                self._stop_requested.wait(step)
        return True

    def install_signal_handlers(self) -> None:
        """SIGINT and SIGTERM request a clean stop (call from the main thread).

        The handler only sets a flag and wakes ``wait`` through a pipe (``StopSignals``): a
        handler taking a lock (``Event.set``) could deadlock with its own main thread.
        """
        self._signals.install()
        self._signals_installed = True

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
                "failing": w.failing,
                "error": w.error,
                "failed_commits": w.failed_commits,
                "not_stored": w.not_stored,
                "rejected": w.rejected,
            },
            "components": components,
        }


def listen_address(option: str, text: str) -> tuple[str, int] | None:
    """``HOST:PORT`` for a receiver, or None for ``off``; a clear error names the option."""
    from collectors.otlp.common import parse_address

    if text.strip().lower() == "off":
        return None
    try:
        return parse_address(text)
    except ValueError as exc:
        raise InputError(f"{option}: {exc} (or 'off')") from None


@dataclass(frozen=True)
class OtlpSettings:
    """Where the OTLP receivers listen (None: off) and what they require."""

    grpc_at: tuple[str, int] | None
    http_at: tuple[str, int] | None
    auth_token: str | None = None
    tls: tuple[Path, Path] | None = None
    correlation_keys: tuple[str, ...] | None = None
    key_attributes: tuple[str, ...] = ()  # span attributes indexed as business keys


@dataclass(frozen=True)
class TapSettings:
    """Every option of the Kafka tap: what it follows, how it reads correlation ids and dead
    letters, what it keeps, and the librdkafka settings it connects with. ``tap`` and ``serve
    --topics`` (and the TUI's in-process tap) build one of these; ``build_daemon`` hands it all
    to ``KafkaTap``."""

    topics: str
    kafka: dict[str, str] = field(default_factory=dict)  # console.base.kafka_config.kafka_config()
    group_id: str | None = None
    from_beginning: bool = False
    key_attributes: Sequence[str] | None = ()  # JSON payload fields indexed as business keys
    correlation_headers: Sequence[str] | None = None  # None or empty: the tap's defaults
    dlq_patterns: Sequence[str] | None = None  # None or empty: the tap's defaults
    dlq_payload_limit: int = 1 << 20  # bytes of a dead letter's payload kept
    keep_payloads: bool = False  # keep every hop's payload, not only dead letters'
    commit_interval_s: float = 1.0  # seconds between the group's offset commits

    def __post_init__(self) -> None:
        """Options as typer gives them (lists, None) become tuples; a bad limit is refused."""
        if self.dlq_payload_limit < 0:
            raise InputError("--dlq-payload-limit must be >= 0")
        if not self.commit_interval_s > 0:
            raise InputError("--commit-every must be > 0 seconds")
        object.__setattr__(self, "key_attributes", tuple(self.key_attributes or ()))
        for name in ("correlation_headers", "dlq_patterns"):
            value = getattr(self, name)
            object.__setattr__(self, name, tuple(value) if value else None)


@dataclass(frozen=True)
class OtlpKafkaSettings:
    """The OTLP topics (``SIGNAL=TOPIC`` or names that say their signal) and the Kafka settings
    (``console.base.kafka_config.kafka_config()``, the same the tap gets)."""

    topics: str = "otlp_spans,otlp_metrics,otlp_logs"
    kafka: dict[str, str] = field(default_factory=dict)
    group_id: str | None = None


def build_daemon(
    store: Storage,
    *,
    otlp: OtlpSettings | None,
    tap: TapSettings | None,
    otlp_kafka: OtlpKafkaSettings | None = None,
    metrics_at: tuple[str, int] | None = None,
    **daemon_options: Any,
) -> Daemon:
    """The receivers and the tap as ``serve``, ``tui`` and ``demo`` all wire them (not started);
    with ``metrics_at`` (``serve``/``tap --metrics``) the Prometheus endpoint first, so it is
    the last to stop and a scrape sees the final counts."""
    daemon = Daemon(store, **daemon_options)
    try:
        if metrics_at is not None:
            from console.runtime.metrics import ConsoleMetrics, MetricsEndpoint

            daemon.metrics = ConsoleMetrics(daemon)
            daemon.add(MetricsEndpoint(daemon.metrics, *metrics_at))
        _add_components(daemon, otlp, tap, otlp_kafka)
    except BaseException:
        daemon.writer.close()  # a bad setting (--topics, an address) must not leave it running
        raise
    return daemon


def _add_components(
    daemon: Daemon,
    otlp: OtlpSettings | None,
    tap: TapSettings | None,
    otlp_kafka: OtlpKafkaSettings | None,
) -> None:
    if otlp is not None:
        from collectors.otlp.common import ReceiverSettings
        from collectors.otlp.decode import DEFAULT_CORRELATION_KEYS
        from collectors.otlp.grpc_server import GrpcReceiver
        from collectors.otlp.http_server import HttpReceiver

        for at, receiver in ((otlp.grpc_at, GrpcReceiver), (otlp.http_at, HttpReceiver)):
            if at is None:
                continue
            settings = ReceiverSettings(
                host=at[0],
                port=at[1],
                auth_token=otlp.auth_token,
                tls_cert=otlp.tls[0] if otlp.tls else None,
                tls_key=otlp.tls[1] if otlp.tls else None,
                correlation_keys=otlp.correlation_keys or DEFAULT_CORRELATION_KEYS,
                key_attributes=otlp.key_attributes,
            )
            daemon.add(receiver(daemon.sink, settings))
    if tap is not None:
        from collectors.kafka.tap import DEFAULT_GROUP, KafkaTap

        bootstrap, extra = split_bootstrap(tap.kafka or kafka_config())
        daemon.add(
            KafkaTap(
                daemon.sink,
                bootstrap=bootstrap,
                topics=tap.topics,
                group_id=tap.group_id or DEFAULT_GROUP,
                from_beginning=tap.from_beginning,
                correlation_headers=tap.correlation_headers,
                dlq_patterns=tap.dlq_patterns,
                dlq_payload_limit=tap.dlq_payload_limit,
                keep_payloads=tap.keep_payloads,
                extra_config=extra,
                key_attributes=tap.key_attributes or (),
                commit_interval_s=tap.commit_interval_s,
            )
        )
    if otlp_kafka is not None:
        from collectors.otlp.kafka_consumer import DEFAULT_OTLP_GROUP, OtlpKafkaConsumer

        bootstrap, extra = split_bootstrap(otlp_kafka.kafka or kafka_config())
        daemon.add(
            OtlpKafkaConsumer(
                daemon.sink,
                bootstrap=bootstrap,
                topics=otlp_kafka.topics,
                group_id=otlp_kafka.group_id or DEFAULT_OTLP_GROUP,
                correlation_keys=otlp.correlation_keys if otlp is not None else None,
                key_attributes=otlp.key_attributes if otlp is not None else (),
                extra_config=extra,
            )
        )
