"""``serve --metrics HOST:PORT``: the console's own Prometheus endpoint (``/metrics``).

Everything is read at scrape time from what the daemon already counts (the writer's counters,
each receiver's ``ReceiverStats``, the tap's health), so ingest pays nothing per record for it;
only the commit-latency histogram is fed as commits happen, once per batch, from the writer's
thread. Each daemon has its own ``CollectorRegistry`` (never the process-wide default), so tests
and several daemons in one process do not clash.

Counters follow the durability contract: ``committed`` counts only records whose commit the
store confirmed (a receiver answered OK, the tap's ticket resolved without error); ``refused``
counts records decoded and then answered 503/UNAVAILABLE, and refused requests are counted by
the code they were answered with (``400``, ``503``, ``INVALID_ARGUMENT``, ``UNAVAILABLE``, ...).

========================================  ======================================================
metric                                    what
========================================  ======================================================
``handoff_records_received_total``        records decoded and handed to the store
                                          {signal, receiver}
``handoff_records_committed_total``       records the store committed {signal, receiver}
``handoff_records_refused_total``         records decoded, then refused (503/UNAVAILABLE)
``handoff_records_rejected_total``        records refused inside an accepted request
                                          (OTLP ``partial_success``: invalid ids)
``handoff_requests_refused_total``        requests answered with an error {signal, receiver,
                                          code}
``handoff_writer_queue_records``          records waiting for the store's writer
``handoff_writer_queue_limit_records``    the queue's bound (``--max-queued``)
``handoff_store_commit_seconds``          histogram: seconds one batch's write and commit took
``handoff_store_committed_records_total``  every record the writer committed (series too)
``handoff_store_commit_failures_total``   commits that failed (disk full, I/O error, lock)
``handoff_store_failing``                 1 while the store cannot commit
``handoff_store_bytes``                   bytes of the store's files on disk (database + WAL)
``handoff_kafka_lag_messages``            messages on the consumer's partitions not yet handed
                                          over {receiver: tap, otlp-kafka}
``handoff_kafka_messages_total``          messages consumed {receiver, topic}
``handoff_kafka_rewinds_total``           re-reads after a failed commit {receiver}
``handoff_otlp_kafka_bad_messages_total``  OTLP-over-Kafka messages skipped as not OTLP
``handoff_alerts_firing``                 alerts firing now {severity}
========================================  ======================================================

Signals: ``spans``, ``metrics``, ``logs`` (OTLP), ``hops``, ``dead_letters`` (the tap).
Receivers: ``grpc``, ``http``, ``tap``, ``otlp-kafka``. Hops per second is
``rate(handoff_records_committed_total{signal="hops"}[1m])``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from console.store import STORE_FAILURES

if TYPE_CHECKING:
    from console.store import Storage, Writer


class _Component(Protocol):
    name: str

    def health(self) -> dict[str, object]: ...


class Daemon(Protocol):
    """What the metrics read of ``console.runtime.daemon.Daemon`` (which imports this module to
    serve them, so the metrics name only its shape)."""

    @property
    def store(self) -> Storage: ...

    @property
    def writer(self) -> Writer: ...

    @property
    def components(self) -> Sequence[_Component]: ...

    def health(self) -> dict[str, object]: ...


__all__ = ["RECEIVERS", "SEVERITIES", "ConsoleMetrics", "MetricsEndpoint"]

#: Component names as the ``receiver`` label says them.
RECEIVERS = {
    "otlp-grpc": "grpc",
    "otlp-http": "http",
    "kafka-tap": "tap",
    "otlp-kafka": "otlp-kafka",
}
#: Severities ``handoff_alerts_firing`` always shows (0 until an alert fires).
SEVERITIES = ("critical", "warning", "info")
# Seconds: a batch commits in about a millisecond when small, up to seconds on a slow disk.
_COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_RECORD_COUNTERS = (
    ("received", "handoff_records_received", "Records decoded and handed to the store."),
    ("committed", "handoff_records_committed", "Records the store committed."),
    ("refused", "handoff_records_refused", "Records decoded, then refused (503/UNAVAILABLE)."),
    ("rejected", "handoff_records_rejected", "Records refused inside an accepted request."),
)


class ConsoleMetrics:
    """A daemon's registry: the scrape-time collector and the commit histogram."""

    def __init__(self, daemon: Daemon) -> None:
        self.registry = CollectorRegistry()
        self.commit_seconds = Histogram(
            "handoff_store_commit_seconds",
            "Seconds one batch's write and commit took (successful commits).",
            buckets=_COMMIT_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_DaemonCollector(daemon))
        daemon.writer.commit_observer = self.commit_seconds.observe


class MetricsEndpoint:
    """``/metrics`` over HTTP on ``host:port`` (a daemon component: start/stop/health)."""

    name = "metrics"

    def __init__(self, metrics: ConsoleMetrics, host: str, port: int) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self._server: Any = None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def start(self) -> None:
        from prometheus_client import start_http_server

        server, _ = start_http_server(self.port, addr=self.host, registry=self.metrics.registry)
        self._server = server
        self.port = server.server_port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def health(self) -> dict[str, object]:
        return {"listening": self.address if self._server else None, "last_error": None}


class _DaemonCollector(Collector):
    """Reads the daemon's counters when Prometheus scrapes."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def collect(self) -> Iterator[Metric]:
        health = self.daemon.health()
        writer: dict[str, Any] = health["writer"]  # type: ignore[assignment]  # JSON-shaped
        components: dict[str, dict[str, Any]] = health["components"]  # type: ignore[assignment]
        yield from _record_families(components)
        yield from _writer_families(writer, self.daemon)
        yield from _kafka_families(self.daemon, components)
        yield _alerts_family(self.daemon)


def _alerts_family(daemon: Daemon) -> GaugeMetricFamily:
    """Alerts firing now per severity, as the store keeps them: whichever process evaluates the
    rules (``watch``, the TUI) writes their state there, so ``serve`` reports what fires."""
    counts = dict.fromkeys(SEVERITIES, 0)
    reader = daemon.store.reader()
    try:
        rows = reader.alert_states()
    except STORE_FAILURES:  # a store before version 8 (no alert table yet), or one failing
        rows = []
    finally:
        reader.close()
    for row in rows:
        if row.state == "firing":
            severity = str(json.loads(row.labels).get("severity", ""))
            counts[severity] = counts.get(severity, 0) + 1
    family = GaugeMetricFamily(
        "handoff_alerts_firing", "Alerts firing now, per severity.", labels=["severity"]
    )
    for severity, n in sorted(counts.items()):
        family.add_metric([severity], n)
    return family


def _record_families(components: Mapping[str, Mapping[str, Any]]) -> Iterator[Metric]:
    families = {
        key: CounterMetricFamily(name, text, labels=["signal", "receiver"])
        for key, name, text in _RECORD_COUNTERS
    }
    requests = CounterMetricFamily(
        "handoff_requests_refused",
        "Requests answered with an error, by the code answered.",
        labels=["signal", "receiver", "code"],
    )
    for name, h in sorted(components.items()):
        receiver = RECEIVERS.get(name)
        if receiver is None:
            continue
        for signal, counts in sorted(_per_signal(h).items()):
            for key, family in families.items():
                if key in counts:
                    family.add_metric([signal, receiver], counts[key])
        for signal, codes in sorted((h.get("refused_requests") or {}).items()):
            for code, n in sorted(codes.items()):
                requests.add_metric([signal, receiver, code], n)
    yield from families.values()
    yield requests


def _per_signal(h: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """``{signal: {received, committed, ...}}`` from a receiver's or a tap's health."""
    if "records_by_signal" in h:  # an OTLP receiver (ReceiverStats)
        return dict(h["records_by_signal"])
    seen: Mapping[str, int] = h.get("seen_by_signal") or {}
    committed: Mapping[str, int] = h.get("committed_by_signal") or {}
    return {
        signal: {"received": seen.get(signal, 0), "committed": committed.get(signal, 0)}
        for signal in {*seen, *committed}
    }


def _writer_families(writer: Mapping[str, Any], daemon: Daemon) -> Iterable[Metric]:
    yield _gauge(
        "handoff_writer_queue_records", "Records waiting for the store's writer.", writer["queued"]
    )
    yield _gauge(
        "handoff_writer_queue_limit_records",
        "Records the writer's queue holds before receivers answer 503/UNAVAILABLE.",
        daemon.writer.max_queued,
    )
    yield CounterMetricFamily(
        "handoff_store_committed_records",
        "Every record the writer committed (telemetry, hops, the tap's series).",
        value=writer["committed"],
    )
    yield CounterMetricFamily(
        "handoff_store_commit_failures",
        "Commits that failed (disk full, I/O error, a write lock held too long).",
        value=writer["failed_commits"],
    )
    yield _gauge(
        "handoff_store_failing", "1 while the store cannot commit.", int(bool(writer["failing"]))
    )
    yield _gauge(
        "handoff_store_bytes",
        "Bytes of the store's files on disk (database and WAL).",
        daemon.store.size_bytes(),
    )


def _kafka_families(
    daemon: Daemon, components: Mapping[str, Mapping[str, Any]]
) -> Iterable[Metric]:
    lag = GaugeMetricFamily(
        "handoff_kafka_lag_messages",
        "Messages on the consumer's partitions it has not handed over yet.",
        labels=["receiver"],
    )
    messages = CounterMetricFamily(
        "handoff_kafka_messages", "Messages consumed, per topic.", labels=["receiver", "topic"]
    )
    rewinds = CounterMetricFamily(
        "handoff_kafka_rewinds",
        "Times the consumer read again from its committed offsets after a failed commit.",
        labels=["receiver"],
    )
    bad = CounterMetricFamily(
        "handoff_otlp_kafka_bad_messages", "OTLP-over-Kafka messages skipped as not OTLP."
    )
    for component in daemon.components:
        receiver = RECEIVERS.get(component.name)
        h = components.get(component.name, {})
        if receiver not in ("tap", "otlp-kafka"):
            continue
        if h.get("lag") is not None:
            lag.add_metric([receiver], h["lag"])
        rewinds.add_metric([receiver], h.get("rewinds", 0))
        totals = getattr(component, "topic_totals", None)
        for topic, (n, _) in sorted((totals() if totals else {}).items()):
            messages.add_metric([receiver, topic], n)
        if receiver == "otlp-kafka":
            bad.add_metric([], h.get("bad_messages", 0))
    yield from (lag, messages, rewinds, bad)


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, value=value)
